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

import numpy as np

from ..logscale import add_unscaled, clip_to, log10_norms, renormalise, sqnorm, to_true_scale
from .base import CellBackward, cuts_gradient, glorot, recurrent_init

NAME = "rnn"
GAMMA = {"sigmoid": 0.25, "tanh": 1.0, "relu": 1.0, "linear": 1.0}


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


def _activate(name: str, a: np.ndarray, out: np.ndarray) -> None:
    if name == "tanh":
        np.tanh(a, out=out)
    elif name == "sigmoid":  # 0.5 (1 + tanh(a/2)): no overflow for large |a|
        np.multiply(a, 0.5, out=out)
        np.tanh(out, out=out)
        out += 1.0
        out *= 0.5
    elif name == "relu":
        np.maximum(a, 0.0, out=out)
    else:
        out[...] = a


def _derivative_inplace(name: str, a: np.ndarray) -> np.ndarray | None:
    """Overwrite the pre-activations ``a`` with f'(a); None for linear (f' = 1).

    tanh' = sech^2 a = 4e/(1+e)^2 with e = exp(-2|a|), sigmoid' = e/(1+e)^2 with e = exp(-|a|): unlike
    1 - h^2 these keep full relative precision in saturation (1 - tanh(20)^2 rounds to 0, 4e-17 does not).
    """
    if name == "linear":
        return None
    if name == "relu":
        np.greater(a, 0.0, out=a, casting="unsafe")
        return a
    np.abs(a, out=a)
    a *= -2.0 if name == "tanh" else -1.0
    np.exp(a, out=a)
    denom = a + 1.0
    denom *= denom
    if name == "tanh":
        a *= 4.0
    a /= denom
    return a


def forward(params: dict, X: np.ndarray, config, frozen: dict | None = None) -> tuple[np.ndarray, dict]:
    """Run the sequence. Returns hidden (L, B, H) = h_0..h_{L-1} (a view of the cache) and the cache.

    ``frozen``: a cache of an earlier forward pass; with ``config.truncate`` set, the state entering each
    truncation boundary is taken from it as a constant. Finite differences of the loss computed this way
    equal the truncated-BPTT gradient (used by gradcheck)."""
    W_x, W_h, b = params["W_x"], params["W_h"], params["b"]
    L, B, D = X.shape
    H = W_h.shape[0]
    pre = (X.reshape(L * B, D) @ W_x).reshape(L, B, H)  # x_t W_x for all t in one matmul
    pre += b
    states = np.empty((L + 1, B, H), dtype=W_h.dtype)
    states[0] = 0.0
    recurrent = np.empty((B, H), dtype=W_h.dtype)
    for t in range(L):
        h_prev = states[t]
        if frozen is not None and cuts_gradient(t, L, config.truncate):
            h_prev = frozen["states"][t]
        if t > 0 or frozen is not None:  # h_{-1} = 0 contributes nothing
            np.matmul(h_prev, W_h, out=recurrent)
            pre[t] += recurrent
        _activate(config.activation, pre[t], states[t + 1])
    fprime = _derivative_inplace(config.activation, pre)
    return states[1:], {"X": X, "states": states, "fprime": fprime}


def backward(params: dict, cache: dict, dh_loss: np.ndarray, config, loss_every: bool,
             diagnostics: bool = True) -> tuple[dict[str, np.ndarray], CellBackward]:
    """BPTT with an exact log-scale record of ||dL/dh_t||.

    dh_loss (L, B, H): the loss's direct dL/dh_t (only dh_loss[L-1] is read unless ``loss_every``).
    The loop carries the running dh_t as ``scaled * 2**exponent`` (see :mod:`rnncore.logscale`) and
    stores the scaled delta_t; the weight gradients are formed after the loop in three matmuls over
    all L*B rows. Per-timestep clipping (config.clip == "per_timestep") rescales dh_t to norm tau."""
    W_x, W_h = params["W_x"], params["W_h"]
    X, states, fprime = cache["X"], cache["states"], cache["fprime"]
    L, B, D = X.shape
    H = W_h.shape[0]
    tau = config.clip_threshold if config.clip == "per_timestep" else None
    delta = np.zeros((L, B, H), dtype=W_h.dtype)  # scaled dL/da_t
    n2, exponents = np.zeros(L), np.zeros(L, dtype=np.int64)
    scaled, exponent, clipped = np.zeros((B, H), dtype=W_h.dtype), 0, 0
    for t in range(L - 1, -1, -1):
        if loss_every or t == L - 1:
            scaled, exponent = add_unscaled(scaled, exponent, dh_loss[t])
        sq = sqnorm(scaled)
        scaled, exponent, sq = renormalise(scaled, exponent, sq)
        if tau is not None:
            scaled, exponent, sq, was_clipped = clip_to(scaled, exponent, sq, tau)
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
                break  # nothing reaches h_{t-1} or earlier: their dh stays exactly 0
            scaled, exponent = np.zeros((B, H), dtype=W_h.dtype), 0
        else:
            scaled = delta[t] @ W_h.T
    true_delta = to_true_scale(delta, exponents).reshape(L * B, H)
    grads = {"W_x": X.reshape(L * B, D).T @ true_delta,
             "W_h": states[:-1].reshape(L * B, H).T @ true_delta,
             "b": true_delta.sum(axis=0)}
    result = CellBackward(log10_norms(n2, exponents), clipped_timesteps=clipped)
    if diagnostics:
        _timestep_diagnostics(result, states[:-1], delta, exponents, X, W_x)
    return grads, result


def weight_contribution_sqnorms(h_prev: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """||h_{t-1}^T delta_t||_F^2 for every t; h_prev, delta (L, B, H) -> (L,) float64.

    Uses ||A^T B||_F^2 = sum((A A^T) * (B B^T)) (cost B^2 H per t) when B is small against H, otherwise
    forms A^T B (cost B H^2 per t) in chunks of timesteps to bound memory."""
    L, B, H = delta.shape
    if 2 * B < H:
        gram_h = np.matmul(h_prev, h_prev.transpose(0, 2, 1))
        gram_d = np.matmul(delta, delta.transpose(0, 2, 1))
        gram_h *= gram_d
        out = gram_h.sum(axis=(1, 2), dtype=np.float64)
        bad = np.flatnonzero(out < 0)  # rounding in the Gram form can go below 0 when the true value ~0
        for t in bad:
            out[t] = sqnorm((h_prev[t].T @ delta[t]).astype(np.float64))
        return out
    out = np.empty(L)
    chunk = max(1, (1 << 22) // (H * H))
    for start in range(0, L, chunk):
        prod = np.matmul(h_prev[start:start + chunk].transpose(0, 2, 1), delta[start:start + chunk])
        out[start:start + chunk] = np.einsum("tij,tij->t", prod, prod, dtype=np.float64)
    return out


def _timestep_diagnostics(result: CellBackward, h_prev, delta, exponents, X, W_x) -> None:
    """Fill the weight and input gradient per timestep (log10, from the scaled deltas + exponents)."""
    L, B, H = delta.shape
    result.log10_weight_grad_per_step = log10_norms(weight_contribution_sqnorms(h_prev, delta), exponents)
    dx = (delta.reshape(L * B, H) @ W_x.T).reshape(L, B, -1)  # scaled dL/dx_t
    result.log10_input_grad_per_step = log10_norms(np.einsum("tbd,tbd->t", dx, dx, dtype=np.float64),
                                                   exponents)
    result.input_saliency = log10_norms(np.einsum("td,td->t", dx[:, 0], dx[:, 0], dtype=np.float64),
                                        exponents)


__all__ = ["NAME", "backward", "forward", "gamma", "init_params", "param_shapes", "recurrent_weight"]
