r"""Vanilla RNN cell, time-first.

Shapes: X (L, B, D) inputs, h_t (B, H), states (L+1, B, H) with states[0] = h_{-1} = 0 and
states[t+1] = h_t.

    a_t = x_t W_x + h_{t-1} W_h + b          W_x (D, H), W_h (H, H), b (H,)
    h_t = f(a_t)                             f in {sigmoid, tanh, relu, linear}

Backward (dh_t = dL/dh_t, the total gradient reaching h_t; g_t = the loss's direct dL/dh_t):

    dh_{L-1} = g_{L-1}
    delta_t  = dh_t * f'(a_t)                (dL/da_t)
    dh_{t-1} = g_{t-1} + delta_t W_h^T       (no second term across a truncation boundary)
    dW_h = sum_t h_{t-1}^T delta_t,  dW_x = sum_t x_t^T delta_t,  db = sum_t sum_batch delta_t

Mapping to ``torch.nn.RNNCell(D, H, nonlinearity=...)`` (row-vector vs column-vector convention):
``weight_ih = W_x.T`` (H, D), ``weight_hh = W_h.T`` (H, H), ``bias_ih + bias_hh = b`` (e.g. bias_hh = 0).
"""
from __future__ import annotations

import math

import numpy as np

from ..logscale import carry_step, log10_norms, log10_row_norms, sqnorm, to_true_scale
from .activations import GAMMA, activate, derivative_inplace
from .base import (
    CellBackward,
    Workspace,
    aligned_copy,
    aligned_empty,
    buffer,
    chunk_length,
    cuts_gradient,
    glorot,
    recurrent_init,
)

NAME = "rnn"


def param_shapes(input_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
    return {"W_x": (input_size, hidden_size), "W_h": (hidden_size, hidden_size), "b": (hidden_size,)}


def init_params(config, input_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """W_x Glorot uniform, W_h per ``config.init``, b = 0, in ``config.dtype``."""
    dtype, H = np.dtype(config.dtype), config.hidden_size
    W_x = glorot(rng, input_size, H, dtype)
    W_h = recurrent_init(config, rng, H, dtype)
    return {"W_x": W_x, "W_h": W_h, "b": np.zeros(H, dtype=dtype)}


def recurrent_weight(params: dict) -> np.ndarray:
    """The matrix whose sigma_max / spectral radius bound the gradient's growth: W_h."""
    return params["W_h"]


def gamma(config) -> float:
    """max |f'|: 1/4 for sigmoid, 1 otherwise."""
    return GAMMA[config.activation]


def forward(params: dict, X: np.ndarray, config, frozen: dict | None = None,
            workspace: Workspace | None = None) -> tuple[np.ndarray, dict]:
    """Run the sequence. Returns hidden (L, B, H) = h_0..h_{L-1} (a view of the cache) and the cache.

    The cache holds X, ``states`` (L+1, B, H) and ``fprime`` (L, B, H) = f'(a_t), the pre-activation
    buffer overwritten in place: O(L B H) stored once, nothing copied per step (with a ``workspace``,
    the same memory every training step).

    ``frozen``: a cache of an earlier forward pass; with ``config.truncate`` set, the state entering each
    truncation boundary is taken from it as a constant. Finite differences of the loss computed this way
    equal the truncated-BPTT gradient (used by gradcheck)."""
    W_x, b = params["W_x"], params["b"]
    W_h = aligned_copy(params["W_h"])  # the per-step GEMM's second operand (base.ALIGNMENT: why)
    L, B, D = X.shape
    H = W_h.shape[0]
    dtype = W_h.dtype
    pre = buffer(workspace, "pre", (L, B, H), dtype)
    np.matmul(X.reshape(L * B, D), W_x, out=pre.reshape(L * B, H))  # x_t W_x for all t in one GEMM
    pre += b
    states = buffer(workspace, "states", (L + 1, B, H), dtype)
    states[0] = 0.0
    recurrent = buffer(workspace, "recurrent", (B, H), dtype)
    cuts = () if frozen is None else {t for t in range(L) if cuts_gradient(t, L, config.truncate)}
    chunk = chunk_length(B, H, dtype)
    scratch = buffer(workspace, "scratch", (min(chunk, L), B, H), dtype)
    for t in range(L):  # states[t] = h_{t-1}; h_{-1} = 0 contributes nothing at the first step
        a = pre[t]
        if t > 0:
            h_prev = frozen["states"][t] if t in cuts else states[t]
            np.matmul(h_prev, W_h, out=recurrent)
            a += recurrent
        activate(config.activation, a, states[t + 1])
        if (t + 1) % chunk == 0 or t + 1 == L:  # f'(a) for the chunk's steps while they are in cache
            start = t - t % chunk
            derivative_inplace(config.activation, pre[start:t + 1], states[start + 1:t + 2], scratch[:t + 1 - start])
    fprime = None if config.activation == "linear" else pre
    return states[1:], {"X": X, "states": states, "fprime": fprime}


def backward(params: dict, cache: dict, dh_loss: np.ndarray, config, loss_every: bool, diagnostics: bool = True,
             workspace: Workspace | None = None) -> tuple[dict[str, np.ndarray], CellBackward]:
    """BPTT with an exact log-scale record of ||dL/dh_t||.

    dh_loss (L, B, H): the loss's direct dL/dh_t (only dh_loss[L-1] is read unless ``loss_every``).
    The loop carries the running dh_t as ``scaled * 2**exponent`` (see :mod:`rnncore.logscale`) and
    stores the scaled delta_t; the weight gradients are formed after the loop in three GEMMs over all
    L*B rows. Per-timestep clipping (config.clip == "per_timestep") rescales dh_t to norm tau."""
    W_x, W_h = params["W_x"], params["W_h"]
    X, states, fprime = cache["X"], cache["states"], cache["fprime"]
    L, B, D = X.shape
    H = W_h.shape[0]
    dtype = W_h.dtype
    W_h_T = buffer(workspace, "W_h_T", (H, H), dtype)
    W_h_T[...] = W_h.T  # one copy per pass: BLAS runs 2-4x faster on it than on the view W_h.T
    tau = config.clip_threshold if config.clip == "per_timestep" else None
    delta = buffer(workspace, "delta", (L, B, H), dtype)  # scaled dL/da_t
    n2, exponents = np.zeros(L), np.zeros(L, dtype=np.int64)
    scaled, exponent, clipped = buffer(workspace, "dh", (B, H), dtype), 0, 0
    scaled[...] = 0.0
    for t in range(L - 1, -1, -1):
        loss_term = dh_loss[t] if loss_every or t == L - 1 else None
        scaled, exponent, sq, was_clipped = carry_step(scaled, exponent, loss_term, tau)
        clipped += was_clipped
        n2[t], exponents[t] = sq, exponent
        if fprime is None:
            delta[t] = scaled
        else:
            np.multiply(scaled, fprime[t], out=delta[t])
        if t == 0:
            break
        if cuts_gradient(t, L, config.truncate):
            if not loss_every:
                delta[:t] = 0.0  # nothing reaches h_{t-1} or earlier: their dh stays exactly 0
                break
            scaled[...], exponent = 0.0, 0
        else:
            np.matmul(delta[t], W_h_T, out=scaled)
    result = CellBackward(log10_norms(n2, exponents), clipped_timesteps=clipped)
    if diagnostics:  # from the scaled deltas, before they are brought to true scale in place
        _timestep_diagnostics(result, states[:-1], delta, exponents, X, W_x)
    true_delta = to_true_scale(delta, exponents, out=delta).reshape(L * B, H)
    grads = {"W_x": X.reshape(L * B, D).T @ true_delta,
             "W_h": states[:-1].reshape(L * B, H).T @ true_delta,
             "b": true_delta.sum(axis=0)}
    return grads, result


def weight_contribution_sqnorms(h_prev: np.ndarray, delta: np.ndarray, inputs: np.ndarray | None = None):
    """||h_{t-1}^T delta_t||_F^2 for every t; h_prev (L, B, H), delta (L, B, G) -> (L,) float64. With
    ``inputs`` (L, B, D) also ||x_t^T delta_t||_F^2, the input weights' share: returns both, the second
    from the same delta delta^T where the Gram form is used (2 B^2 D more per t), else formed directly.

    ||A^T D||_F^2 = sum((A A^T) * (D D^T)) costs 2 B^2 (H + G) per t, forming A^T D costs 2 B H G: the
    cheaper form is used, over chunks of timesteps so that the temporaries stay small. At equal cost (e.g.
    B = 32, H = G = 64) the Gram form, whose products run over the long inner dimension H rather than B:
    0.64 against 1.0-1.6 ms at (L, B, H) = (100, 32, 64), one thread (at 2x the cost it loses, 3.7 vs 2.0)."""
    L, B, H = h_prev.shape
    G = delta.shape[2]
    gram = B * (H + G) <= H * G
    # NumPy sends A @ A.T (one buffer, transposed) to BLAS syrk, which runs 1.2-3x slower than gemm
    # for B <= 32 here (timed over B 8-64, H 64-512); a copy of the chunk makes the call a gemm.
    copy = gram and B <= 32
    chunk = max(1, (1 << 16) // (B * max(H, G) if copy else B * B if gram else H * G))  # small temporaries
    scratch = aligned_empty((chunk, B, max(H, G)), delta.dtype) if copy else None  # aligned: 10-35% faster Grams
    # (array, its own scratch copy or None): the inputs' (B, B) Gram from (B, D) runs as it is
    sources = [(h_prev, scratch)] + ([] if inputs is None else [(inputs, None)])
    outs = [np.empty(L) for _ in sources]
    sizes = [np.empty(L) for _ in sources] if gram else None  # sum |A A^T| * |D D^T|: what the Gram sum cancels
    for start in range(0, L, chunk):
        span = slice(start, start + chunk)
        d = delta[span]
        gram_d = np.matmul(d, _distinct(d, scratch).transpose(0, 2, 1)) if gram else None  # shared by both
        for index, ((source, own_scratch), out) in enumerate(zip(sources, outs, strict=True)):
            a = source[span]
            if gram:
                out[span], sizes[index][span] = _gram_sums(a, _distinct(a, own_scratch), gram_d)
            else:
                prod = np.matmul(a.transpose(0, 2, 1), d)
                out[span] = np.einsum("tij,tij->t", prod, prod, dtype=np.float64)
    if gram:  # where the Gram sum may have cancelled to rounding noise (GRAM_RELATIVE_ERROR)
        tolerance = GRAM_RELATIVE_ERROR[delta.dtype]
        for (source, _), out, size in zip(sources, outs, sizes, strict=True):
            suspect = np.flatnonzero(~(out >= _trusted(delta.dtype, H + G, tolerance) * size))  # also < 0, NaN
            if delta.dtype != np.float64:  # the Gram form again in float64 (products of float32 values: exact)
                for first in range(0, len(suspect), chunk):
                    steps = suspect[first:first + chunk]
                    a, d = source[steps].astype(np.float64), delta[steps].astype(np.float64)
                    out[steps], size[steps] = _gram_sums(a, a, np.matmul(d, d.transpose(0, 2, 1)))
                suspect = suspect[~(out[suspect] >= _trusted(np.float64, H + G, tolerance) * size[suspect])]
            for t in suspect:  # A^T D in float64, a sum of squares: nothing cancels
                out[t] = sqnorm(source[t].T.astype(np.float64) @ delta[t].astype(np.float64))
    return outs[0] if inputs is None else tuple(outs)


def _gram_sums(a: np.ndarray, a_copy: np.ndarray, gram_d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per t: sum((A A^T) * (D D^T)) (= ||A^T D||_F^2) in float64 and sum |A A^T| * |D D^T|, the scale of its
    rounding; ``a_copy``: ``a``'s values (another buffer for a gemm, or ``a`` itself), ``gram_d``: D D^T."""
    gram_a = np.matmul(a, a_copy.transpose(0, 2, 1))
    gram_a *= gram_d
    total = gram_a.sum(axis=(1, 2), dtype=np.float64)
    return total, np.abs(gram_a, out=gram_a).sum(axis=(1, 2))  # a magnitude: the dtype's own sum will do


def _trusted(dtype, length: int, tolerance: float) -> float:
    """The least sum / (sum |A A^T| * |D D^T|) whose Gram-form rounding, sqrt(H + G) eps of the latter
    (:data:`GRAM_RELATIVE_ERROR`), stays within ``tolerance`` of the sum."""
    return math.sqrt(length) * float(np.finfo(dtype).eps) / tolerance


GRAM_RELATIVE_ERROR = {np.dtype(np.float64): 1e-9, np.dtype(np.float32): 1e-3}
"""The relative error :func:`weight_contribution_sqnorms` accepts from its Gram form, per run dtype.

Its sum sum((A A^T) * (D D^T)) carries the rounding of the Gram entries (dot products of length H and G),
about sqrt(H + G) eps of S = sum |A A^T| * |D D^T| (rounding errors add up like a random walk: Higham and
Mary, SIAM J. Sci. Comput. 2019, give sqrt(n) u as the bound that holds with high probability, n u the
worst case that is almost never reached), all of it when the terms cancel: two equal rows of x_t with
opposite deltas give 20x too large, or 0 where the true value is 1e-17 (found by a random sweep against
PyTorch). Where the sum is below sqrt(H + G) eps / this of S, the timestep is recomputed: in a float32 run
first by the Gram form in float64 (the products of float32 values are exact there; 2 B^2 (H + G) flops),
where that is still below its own sqrt(H + G) eps / this of S (float64 runs: at once) directly, A^T D in
float64 (2 B H G flops, which the Gram form is used for being more than). float32: 1e-3 (its log10 to
4e-4; the Gram products themselves round at 6e-8).

Measured on trained states (the bench's recall task, tanh, (B, T, H) = (64, 100, 512), float32): the sum is
5-20% of S at most timesteps (moderate, ordinary cancellation) and within 3e-7 of the float64 direct value;
the worst-case (H + G) eps estimate, used before, sent 40-70% of the timesteps to the direct product and
made its training steps 1.5x (one thread) to 1.9x (two) slower: median 196 and 192 ms against 131 and 101
over its first 80 steps."""


def _distinct(a: np.ndarray, scratch: np.ndarray | None) -> np.ndarray:
    """``a`` itself, or its copy in ``scratch`` (same values, another buffer: no syrk dispatch)."""
    if scratch is None:
        return a
    copy = scratch[:a.shape[0], :, :a.shape[2]]
    np.copyto(copy, a)
    return copy


def _timestep_diagnostics(result: CellBackward, h_prev, delta, exponents, X, W_x) -> None:
    """Fill the weight and input gradient per timestep (log10, from the scaled deltas + exponents)."""
    L, B, H = delta.shape
    recurrent, inputs = weight_contribution_sqnorms(h_prev, delta, X)
    result.log10_weight_grad_per_step = log10_norms(recurrent, exponents)
    result.log10_input_weight_grad_per_step = log10_norms(inputs, exponents)
    dx = (delta.reshape(L * B, H) @ W_x.T).reshape(L, B, -1)  # scaled dL/dx_t
    result.log10_input_grad_per_step = log10_row_norms(dx, exponents)
    result.input_saliency = log10_row_norms(dx[:, 0], exponents)



__all__ = ["NAME", "backward", "forward", "gamma", "init_params", "param_shapes", "recurrent_weight"]
