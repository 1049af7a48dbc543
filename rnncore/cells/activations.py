r"""Elementwise nonlinearities and their derivatives, in place, with full relative precision in saturation.

    sigmoid(a) = 1 / (1 + e^{-a})                      sigmoid'(a) = s (1 - s) = s (e s),  e = e^{-a}
    tanh(a)                                            tanh'(a)    = sech^2(a)

sigmoid: the forward pass keeps e = e^{-a} (:func:`sigmoid_keeping_exp`), so sigmoid' = s (e s) needs no
second exp and no difference (:func:`sigmoid_derivative`): 1 - s is formed as e s, exact in both tails.

tanh: given h = tanh(a) from the forward pass, 1 - h^2 wherever h^2 <= 3/4 (tanh' >= 1/4, |a| <= 1.317).
There h's own rounding error d grows to at most 2 h^2 / (1 - h^2) d <= 6 d in the difference, a few ulps.
Beyond, where the difference loses digits and finally rounds to 0 (1 - tanh(20)^2 does, sech^2(20) =
1.7e-17), the exp route (:func:`sech_squared`)

    sech^2(a) = 4 u / (1 + u)^2,     u = e^{-2|a|} in (0, 1]

which never overflows and underflows to 0 only where the true derivative is below the dtype's range
anyway. exp rather than cosh for speed: NumPy vectorises exp with AVX2, but cosh only with AVX-512 (SVML);
on an AVX2-only CPU np.cosh costs 14 ns per float32 element against 2.3 ns for np.exp (measured). The
1 - h^2 route costs ~1 against ~3.5 ns per float32 element for the exp route here (:func:`tanh_derivative`).
"""
from __future__ import annotations

import numpy as np


def sigmoid_keeping_exp(a: np.ndarray, out: np.ndarray) -> None:
    """out = sigmoid(a) = 1 / (1 + e), and ``a`` is overwritten with e = exp(-a), which
    :func:`sigmoid_derivative` turns into sigmoid'(a) later without a second exp. Full relative precision
    for a << 0; exp overflowing gives the true ~0 (callers silence that warning once around their time
    loop, ``np.errstate(over="ignore")``)."""
    np.negative(a, out=a)
    sigmoid_of_negated_keeping_exp(a, out)


def sigmoid_of_negated_keeping_exp(minus_a: np.ndarray, out: np.ndarray) -> None:
    """:func:`sigmoid_keeping_exp` for a caller that already holds -a (the LSTM negates its sigmoid gates'
    weights, so its product gives -a): out = sigmoid(a), and ``minus_a`` becomes e = exp(-a)."""
    np.exp(minus_a, out=minus_a)
    np.add(minus_a, 1.0, out=out)
    np.reciprocal(out, out=out)


def sigmoid_derivative(e: np.ndarray, s: np.ndarray, out: np.ndarray) -> np.ndarray:
    """sigmoid'(a) = e / (1 + e)^2 = s (e s) from e = exp(-a) and s = sigmoid(a) (``out`` may be ``e``).

    Full relative precision both ways: 1 - s = e s is formed from e, never as a difference. Where exp
    overflowed (a << 0: e = inf, s = 0) e s is NaN; np.fmin ignores NaN and e s <= 1 anyway, so
    fmin(e s, 1) gives sigmoid' = 0 there, like s itself."""
    with np.errstate(invalid="ignore"):  # inf * 0 where exp overflowed
        np.multiply(e, s, out=out)
    np.fmin(out, filled(1.0, out), out=out)
    out *= s
    return out


_FILLED: dict[tuple[float, np.dtype], tuple[np.ndarray, dict]] = {}  # (value, dtype) -> buffer, its views by shape


def filled(value: float, like: np.ndarray) -> np.ndarray:
    """A read-only array of ``like``'s shape and dtype holding ``value`` (a view of a cached buffer), for
    np.fmin / np.maximum: NumPy vectorises their loops for two arrays but not for an array and a scalar
    (np.fmin(x, 1.0, out=x) on a (3, 16, 32, 128) float32 view of the LSTM's factors: 103 against 26 us
    with an array of ones; np.maximum on (32, 128): 3.1 against 1.1 us; NumPy 2.4, AVX2). Same results."""
    buffer, views = _FILLED.get((value, like.dtype), (None, None))
    if buffer is None or buffer.size < like.size:  # callers pass chunks of cache size: the buffer stays small
        buffer, views = np.full(like.size, value, dtype=like.dtype), {}
        buffer.flags.writeable = False
        _FILLED[value, like.dtype] = buffer, views
    view = views.get(like.shape)
    if view is None:
        if len(views) >= 256:  # a long-lived process that saw many configs: start again
            views.clear()
        view = views[like.shape] = buffer[:like.size].reshape(like.shape)
    return view


def activate(name: str, a: np.ndarray, out: np.ndarray) -> None:
    """out = f(a) for f in {tanh, sigmoid, relu, linear}, elementwise, no temporaries. For sigmoid, ``a``
    is overwritten with exp(-a), which :func:`derivative_inplace` needs (the others leave ``a`` as it is)."""
    if name == "tanh":
        np.tanh(a, out=out)
    elif name == "sigmoid":
        with np.errstate(over="ignore"):
            sigmoid_keeping_exp(a, out)
    elif name == "relu":
        np.maximum(a, filled(0.0, a), out=out)
    else:
        out[...] = a


def sech_squared(a: np.ndarray, out: np.ndarray, scratch: np.ndarray | None = None) -> np.ndarray:
    """out = sech^2(a) = tanh'(a) by the exp route (module docstring). ``out`` may be ``a``; ``scratch``,
    of ``out``'s shape and dtype, avoids a temporary. (Python-float constants keep the arrays' dtype.)"""
    np.abs(a, out=out)
    np.multiply(out, -2.0, out=out)
    np.exp(out, out=out)  # u
    denominator = np.add(out, 1.0, out=scratch)
    np.square(denominator, out=denominator)
    np.divide(out, denominator, out=out)
    out *= 4.0
    return out


# tanh' from 1 - h^2 where h^2 <= this (tanh' >= 1/4); the exp route elsewhere (module docstring).
TANH_SQUARE_DIFFERENCE_MAX = 0.75
# Past this share of exp-route elements, one exp pass over all is cheaper than gathering them (~17 ns each
# through the index against ~3.5 ns per element for the full pass).
EXP_ROUTE_SHARE_MAX = 0.1


def tanh_derivative(a: np.ndarray, h: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> np.ndarray:
    """out = tanh'(a) given h = tanh(a): 1 - h^2 where h^2 <= 3/4, sech^2(a) via exp elsewhere, so full
    relative precision everywhere (module docstring). ``out`` may be ``a``; ``scratch`` has out's shape
    and dtype."""
    square = np.multiply(h, h, out=scratch)
    far = square > TANH_SQUARE_DIFFERENCE_MAX
    count = np.count_nonzero(far)
    if count > EXP_ROUTE_SHARE_MAX * far.size:
        return sech_squared(a, out, scratch)
    if count:  # gather and scatter by flat index (C order, any layout)
        index = np.flatnonzero(far)
        exact = sech_squared(np.take(a.reshape(-1), index), np.empty(count, a.dtype))
    np.subtract(1.0, square, out=out)
    if count:
        np.put(out, index, exact)
    return out


def derivative_inplace(name: str, a: np.ndarray, h: np.ndarray, scratch: np.ndarray | None = None
                       ) -> np.ndarray | None:
    """Overwrite ``a`` with f'(a), from what :func:`activate` left: the pre-activations (exp(-a) for
    sigmoid) and h = f(a). None for linear (f' = 1); relu's f' is 1{a > 0}."""
    if name == "linear":
        return None
    if name == "relu":
        np.greater(a, 0.0, out=a, casting="unsafe")
        return a
    if name == "sigmoid":
        return sigmoid_derivative(a, h, out=a)
    return tanh_derivative(a, h, a, np.empty_like(a) if scratch is None else scratch)


GAMMA = {"sigmoid": 0.25, "tanh": 1.0, "relu": 1.0, "linear": 1.0}
"""max |f'| per activation (the gamma of Pascanu et al.'s bound)."""
