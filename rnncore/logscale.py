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
    if _LO <= n2 <= _HI:
        return scaled, exponent, n2
    if n2 == 0.0 or not math.isfinite(n2):
        # every square underflowed (elements below ~1e-162 in float64, ~1e-23 in float32: a step that shrank
        # the delta that much at once) or their sum overflowed, although the elements may be nonzero, finite
        k = peak_exponent(scaled)
        if k is None:  # inf / NaN, or truly zero
            return scaled, exponent, n2
    else:
        k = math.frexp(n2)[1] // 2
    np.ldexp(scaled, -k, out=scaled)
    return scaled, exponent + k, sqnorm(scaled)


def sqnorm_with_exponent(a: np.ndarray) -> tuple[float, int]:
    """(n2, k) with ||a||_F^2 = n2 * 2^(2k) exactly as far as the dtype rounds, for a part of a renormalised
    array that may be far smaller than the whole (the LSTM's dh_t and dc_t share one exponent): where the
    squares may have underflowed (n2 below :func:`_squares_safe`: 2^-82 in float32, 2^-949 in float64), the
    norm of a copy scaled by a power of two instead."""
    n2 = sqnorm(a)
    if n2 >= _SQUARES_SAFE_IN[a.dtype] or not n2 == n2:
        return n2, 0
    k = peak_exponent(a)
    return (n2, 0) if k is None else (sqnorm(np.ldexp(a, -k)), k)


def peak_exponent(a: np.ndarray) -> int | None:
    """k with max |a| in [2^(k-1), 2^k): a * 2^-k has its largest magnitude in [1/2, 1). None when a is all
    zero or holds inf / NaN (nothing to rescale)."""
    peak = float(np.max(np.abs(a)))
    return math.frexp(peak)[1] if peak != 0.0 and math.isfinite(peak) else None


def _squares_safe(dtype) -> float:
    """A sum of squares in ``dtype`` at or above this lost nothing to underflow that its rounding would not:
    squares below the smallest normal number are < 2^-(mantissa bits + 21) of it over up to 2^20 terms
    (2^-82 in float32, 2^-949 in float64)."""
    finfo = np.finfo(dtype)
    return float(finfo.tiny) * 2.0 ** (finfo.nmant + 21)


_SQUARES_SAFE_IN = {np.dtype(t): _squares_safe(t) for t in (np.float32, np.float64)}  # by the sum's dtype
SQUARES_SAFE = _SQUARES_SAFE_IN[np.dtype(np.float64)]
"""For float64 sums of squares (of any dtype's values): :func:`_squares_safe`."""


def sqnorms_with_exponents(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per leading index t: (n2[t], k[t]) with ||a[t]||_F^2 = n2[t] * 2^(2 k[t]) (float64, int64), the
    squares summed in float64, and for the rare rows whose sum may have underflowed (below
    :data:`SQUARES_SAFE`, 2^-949: float64 values of a[t] all below ~1e-143) or overflowed, of a[t] scaled
    by a power of two first. For the per-timestep sums of the diagnostics (e.g. ||dL/dx_t||^2)."""
    rows = a.reshape(len(a), -1)
    n2 = np.einsum("ti,ti->t", rows, rows, dtype=np.float64)
    k = np.zeros(len(n2), dtype=np.int64)
    for t in np.flatnonzero(~(n2 >= SQUARES_SAFE) | np.isinf(n2)):
        row_k = peak_exponent(rows[t])
        if row_k is not None:
            k[t] = row_k
            n2[t] = sqnorm(np.ldexp(rows[t].astype(np.float64), -row_k))
    return n2, k


def log10_row_norms(scaled: np.ndarray, exponents) -> np.ndarray:
    """log10 ||scaled[t] * 2^exponents[t]||_F per t, whatever the magnitudes (:func:`sqnorms_with_exponents`)."""
    n2, k = sqnorms_with_exponents(scaled)
    return log10_norms(n2, exponents + k)


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


def flush_threshold(dtype) -> float:
    """The magnitude below which :func:`to_true_scale` counts a rescaled value as 0: the smallest normal
    number times 2**(mantissa bits + 1), 2**-102 = 2.0e-31 in float32, 2**-969 in float64."""
    finfo = np.finfo(dtype)
    return float(finfo.tiny) * 2.0 ** (finfo.nmant + 1)


FLUSH_ROWS_BYTES = 1 << 18
"""Bytes of rows per pass of the flush, so that its temporaries stay in cache."""


def to_true_scale(scaled: np.ndarray, exponents: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """scaled[t] * 2**exponents[t] in the run dtype, for the weight-gradient GEMMs.

    Returns ``scaled`` itself when every exponent is 0; ``out=scaled`` converts in place. Products with
    powers of two are exact; overflow is what the dtype does (inf). Where a row is shrunk (e < 0), values
    that would come out below :func:`flush_threshold` are 0 instead (tested against np.ldexp).

    Why the flush: a vanished delta rescaled to true scale is full of subnormal numbers, and so are its
    products with h_{t-1} inside the GEMMs; on Intel CPUs every operation with a subnormal operand or
    result takes a microcode assist (NumPy has no flush-to-zero switch). A GRU step at (B, T, H) =
    (16, 500, 128), 11% of its deltas subnormal, took 249-252 ms against 70-84 ms with this (interleaved
    A/B, one thread, an Intel Xeon with AVX-512; the AMD EPYC of session 21 ran the old code there at
    66 ms a step). The threshold keeps the products with |h| >= 2**-(mantissa bits + 1) normal; what is
    dropped lies below it per term, and the per-timestep diagnostics come from the scaled deltas, before
    this, and stay exact.

    Speed: the flush compares in the scaled domain (|s| < threshold * 2**-e), so no subnormal is ever
    formed; rows beyond the normal range of 2**e take two exact multiplies, not np.ldexp (11 ns per
    float32 element measured here, 50x a multiply); only overflowing rows (e >= maxexp) use np.ldexp."""
    exponents = np.asarray(exponents, dtype=np.int64)
    if not np.any(exponents):
        return scaled
    if out is None:
        out = scaled.copy()
    elif out is not scaled:
        np.copyto(out, scaled)
    dtype = out.dtype
    finfo = np.finfo(dtype)
    rows = out.view()
    rows.shape = (len(exponents), -1)  # raises rather than copy if out is not contiguous
    with np.errstate(over="ignore"):  # a limit beyond the dtype's range: the whole row is below the threshold
        limits = np.minimum(np.ldexp(flush_threshold(dtype), -np.minimum(exponents, 0)), float(finfo.max))
    limits = limits.astype(dtype)
    per_pass = max(1, FLUSH_ROWS_BYTES // max(1, rows.shape[1] * dtype.itemsize))
    first_power = np.clip(exponents, finfo.minexp, finfo.maxexp - 1)
    powers = _powers_of_two(first_power, dtype)[:, None]
    for span in _row_spans(exponents < 0, per_pass):  # true |s| * 2**e < threshold: set 0, then scale (in cache)
        block = rows[span]
        np.copyto(block, 0, where=np.abs(block) < limits[span, None])
        block *= powers[span]
    for span in _row_spans(exponents > 0, len(exponents)):  # rows with e = 0 stay as they are
        rows[span] *= powers[span]
    rest = exponents - first_power  # != 0 only beyond 2**e's normal range
    for span in _row_spans(rest < 0, len(rest)):  # nonzero values are >= threshold * 2**-e: exact, none subnormal
        rows[span] *= _powers_of_two(np.maximum(rest[span], finfo.minexp), dtype)[:, None]
    for t in np.flatnonzero(rest > 0):
        # int32: NumPy's ldexp has a fast loop for int32 exponents only (int64 is 10-50x slower).
        np.ldexp(rows[t], np.int32(min(rest[t], 1 << 30)), out=rows[t])
    return out


def _powers_of_two(exponents: np.ndarray, dtype) -> np.ndarray:
    """2**e for each (normal-range) e, in ``dtype``."""
    return np.ldexp(np.ones(len(exponents), dtype=dtype), exponents.astype(np.int32))


def _row_spans(mask: np.ndarray, most: int) -> list[slice]:
    """Slices covering each maximal run of True in a 1-D boolean array, at most ``most`` rows each."""
    edges = np.flatnonzero(np.diff(np.concatenate(([False], mask, [False])).astype(np.int8)))
    runs = zip(edges[::2].tolist(), edges[1::2].tolist(), strict=True)
    return [slice(first, min(first + most, stop)) for start, stop in runs for first in range(start, stop, most)]
