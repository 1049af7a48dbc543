"""Exact log-scale bookkeeping for a backpropagated delta whose magnitude leaves the dtype's range.

A cell's backward loop carries ``(scaled, exponent)`` with the true delta = ``scaled * 2**exponent``.
Rescaling by a power of two is exact in binary floating point, so ``log10 ||delta||`` is exact to the
dtype's rounding even when the true value is 1e-600 (below float64's 1e-308) or 1e+600:

    log10 ||delta_t|| = 0.5 * log10(||scaled_t||^2) + exponent_t * log10(2)

The loop renormalises only when ``||scaled||^2`` leaves [2^-80, 2^80] (one dot product per step, which
the diagnostics need anyway), so an ordinary, well-scaled run keeps exponent 0 and pays nothing.
"""
from __future__ import annotations

import math

import numpy as np

LOG10_2 = math.log10(2.0)
_LO, _HI = 2.0**-80, 2.0**80


def sqnorm(a: np.ndarray) -> float:
    """||a||_F^2 as a Python float (a dot product: no temporary)."""
    flat = a.reshape(-1)
    return float(np.dot(flat, flat))


def renormalise(scaled: np.ndarray, exponent: int, n2: float) -> tuple[np.ndarray, int, float]:
    """Rescale ``scaled`` in place by a power of two when its squared norm ``n2`` leaves [2^-80, 2^80]."""
    if n2 == 0.0 or _LO <= n2 <= _HI:
        return scaled, exponent, n2
    if not math.isfinite(n2):  # the squared sum overflowed although the elements may be finite
        peak = float(np.max(np.abs(scaled)))
        if not math.isfinite(peak) or peak == 0.0:
            return scaled, exponent, n2
        k = math.frexp(peak)[1]
    else:
        k = math.frexp(n2)[1] // 2
    np.ldexp(scaled, -k, out=scaled)
    return scaled, exponent + k, sqnorm(scaled)


def add_unscaled(scaled: np.ndarray, exponent: int, term: np.ndarray, part: int | None = None
                 ) -> tuple[np.ndarray, int]:
    """Return (scaled', exponent') representing ``scaled * 2**exponent + term`` (term at true scale),
    in place; with ``part``, ``term`` is added to ``scaled[part]`` only (the LSTM's (2, B, H) carry).

    Both parts are brought to the common exponent max(exponent, 0): the smaller one is shrunk (it may
    underflow, which only loses what is below the larger one's rounding), nothing is ever enlarged."""
    target = scaled if part is None else scaled[part]
    if exponent == 0:
        target += term
        return scaled, 0
    common = max(exponent, 0)
    np.ldexp(scaled, exponent - common, out=scaled)
    target += np.ldexp(term, -common) if common else term
    return scaled, common


def carry_step(scaled: np.ndarray, exponent: int, loss_term: np.ndarray | None, tau: float | None,
               part: int | None = None) -> tuple[np.ndarray, int, float, bool]:
    """The head of every cell's backward step t: (scaled, exponent, ||scaled||^2, clipped).

    1. add the loss's direct gradient g_t (``loss_term``, true scale; None when there is none),
    2. renormalise by a power of two if ||scaled||^2 left [2^-80, 2^80],
    3. per-timestep clipping to norm ``tau`` (None: off).
    ``part``: as in :func:`add_unscaled`."""
    if loss_term is not None:
        scaled, exponent = add_unscaled(scaled, exponent, loss_term, part)
    scaled, exponent, n2 = renormalise(scaled, exponent, sqnorm(scaled))
    if tau is None:
        return scaled, exponent, n2, False
    return clip_to(scaled, exponent, n2, tau)


def clip_to(scaled: np.ndarray, exponent: int, n2: float, tau: float) -> tuple[np.ndarray, int, float, bool]:
    """Per-timestep clipping: if the true norm sqrt(n2) * 2**exponent exceeds tau, rescale to norm tau."""
    if n2 == 0.0:
        return scaled, exponent, n2, False
    log2_norm = 0.5 * math.log2(n2) + exponent
    if log2_norm <= math.log2(tau):
        return scaled, exponent, n2, False
    scaled *= tau / math.sqrt(n2)  # a Python float: keeps the array's dtype
    return scaled, 0, sqnorm(scaled), True


def log10_norms(n2: np.ndarray, exponents: np.ndarray) -> np.ndarray:
    """log10 of the true norms from squared scaled norms and base-2 exponents (float64; 0 -> -inf)."""
    with np.errstate(divide="ignore"):
        return 0.5 * np.log10(np.asarray(n2, dtype=np.float64)) + LOG10_2 * np.asarray(exponents, np.float64)


def to_true_scale(scaled: np.ndarray, exponents: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """scaled[t] * 2**exponents[t] in the run dtype (under/overflow there is what that dtype would do).

    Returns ``scaled`` itself when every exponent is 0; ``out=scaled`` converts in place.

    A product with a power of two is exact (or, entering the subnormals, correctly rounded, like
    ``np.ldexp``), so rows whose 2**e is a normal number of the dtype are multiplied by it; np.ldexp
    takes the rows beyond that range only. Speed: NumPy's ldexp is not vectorised on AVX2 (11 ns per
    float32 element measured here, 50x a multiply), which made it 14% of a training step."""
    if not np.any(exponents):
        return scaled
    dtype = scaled.dtype
    finfo = np.finfo(dtype)
    exponents = np.asarray(exponents, dtype=np.int64)
    normal = (exponents >= finfo.minexp) & (exponents < finfo.maxexp)
    factors = np.ldexp(np.ones(len(exponents), dtype=dtype), np.where(normal, exponents, 0).astype(np.int32))
    out = np.multiply(scaled, factors.reshape((-1,) + (1,) * (scaled.ndim - 1)), out=out)
    for t in np.flatnonzero(~normal):  # factor 1 above; out[t] still equals scaled[t]
        # int32: NumPy's ldexp has a fast loop for int32 exponents only (int64 is 10-50x slower).
        np.ldexp(out[t], np.int32(np.clip(exponents[t], -(1 << 30), 1 << 30)), out=out[t])
    return out
