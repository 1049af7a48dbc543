r"""LSTM cell (Hochreiter & Schmidhuber 1997, with forget gate), time-first, torch.nn.LSTMCell's equations.

Shapes: X (L, B, D); h_t, c_t (B, H); gate blocks of width H in the order [i, f, g, o].

    a_t = x_t W_x + h_{t-1} W_h + b          W_x (D, 4H), W_h (H, 4H), b (4H,)
    i = sigmoid(a_i)   f = sigmoid(a_f)   g = tanh(a_g)   o = sigmoid(a_o)
    c_t = f * c_{t-1} + i * g                c_{-1} = 0
    h_t = o * tanh(c_t)                      h_{-1} = 0

Backward, with dh_t = dL/dh_t and dc_t = dL/dc_t the TOTAL gradients (what ``h_t.grad`` / ``c_t.grad``
hold in PyTorch after ``retain_grad()``), g_t the loss's direct dL/dh_t:

    dc_t     = f_{t+1} * dc_{t+1} + dh_t * o_t * tanh'(c_t)          (first term absent at t = L-1)
    da_i = dc_t * g * i(1-i)   da_f = dc_t * c_{t-1} * f(1-f)   da_g = dc_t * i * (1-g^2)
    da_o = dh_t * tanh(c_t) * o(1-o)
    dh_{t-1} = g_{t-1} + da_t W_h^T
    dW_x = sum_t x_t^T da_t,  dW_h = sum_t h_{t-1}^T da_t,  db = sum_t sum_batch da_t

The forget gate multiplies the cell-state path by f at every step, so with f near 1 (``forget_bias``
+1, the common trick) dL/dc_t decays slowly: the path the LSTM keeps open.

Exact log scale: (dh_t, dc_t-carry) share one exponent (one stacked array), so both log10 norms are
exact far outside the dtype's range. Per-timestep clipping rescales that carried pair jointly when its
norm exceeds tau. Truncation cuts both h_{t-1} and c_{t-1} (``h.detach(), c.detach()`` in PyTorch).

Mapping to ``torch.nn.LSTMCell(D, H)`` (row-vector vs column-vector convention, same gate order
i, f, g, o): ``weight_ih = W_x.T`` (4H, D), ``weight_hh = W_h.T`` (4H, H), ``bias_ih + bias_hh = b``
(e.g. bias_ih = b, bias_hh = 0).

Init: each gate block of W_x Glorot (D, H), each gate block of W_h per ``config.init`` (so spectral
radius / init_scale mean the same as for the RNN), b = 0 except the forget block = ``config.forget_bias``.
"""
from __future__ import annotations

import numpy as np

from ..logscale import clip_to, log10_norms, renormalise, sqnorm, to_true_scale
from .base import CellBackward, cuts_gradient, glorot, recurrent_init
from .rnn import weight_contribution_sqnorms

NAME = "lstm"
GATES = ("i", "f", "g", "o")


def param_shapes(input_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
    H = hidden_size
    return {"W_x": (input_size, 4 * H), "W_h": (H, 4 * H), "b": (4 * H,)}


def init_params(config, input_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    dtype, H = np.dtype(config.dtype), config.hidden_size
    W_x = np.concatenate([glorot(rng, input_size, H, dtype) for _ in GATES], axis=1)
    W_h = np.concatenate([recurrent_init(config, rng, H, dtype) for _ in GATES], axis=1)
    b = np.zeros(4 * H, dtype=dtype)
    b[H:2 * H] = config.forget_bias
    return {"W_x": W_x, "W_h": W_h, "b": b}


def recurrent_weight(params: dict) -> np.ndarray:
    """The candidate block W_h[:, 2H:3H] (the g gate): the recurrent matrix inside the tanh."""
    H = params["W_h"].shape[0]
    return params["W_h"][:, 2 * H:3 * H]


def gamma(config) -> float:
    """max |tanh'| = 1."""
    return 1.0


def _sigmoid(a: np.ndarray, out: np.ndarray) -> None:
    np.multiply(a, 0.5, out=out)  # 0.5 (1 + tanh(a/2)): no overflow for large |a|
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5


def _sigmoid_tanh_derivatives(a: np.ndarray, tanh_cols: slice) -> np.ndarray:
    """Overwrite pre-activations ``a`` (..., 4H) with f'(a): sigmoid' = e/(1+e)^2, e = exp(-|a|), and
    tanh' = 4e/(1+e)^2, e = exp(-2|a|) on ``tanh_cols``; full relative precision in saturation."""
    np.abs(a, out=a)
    a[..., tanh_cols] *= 2.0
    np.negative(a, out=a)
    np.exp(a, out=a)
    denom = a + 1.0
    denom *= denom
    a[..., tanh_cols] *= 4.0
    a /= denom
    return a


def forward(params: dict, X: np.ndarray, config, frozen: dict | None = None) -> tuple[np.ndarray, dict]:
    """Run the sequence; hidden (L, B, H) = h_0..h_{L-1} and the cache (see module docstring)."""
    W_x, W_h, b = params["W_x"], params["W_h"], params["b"]
    L, B, D = X.shape
    H = W_h.shape[0]
    dtype = W_h.dtype
    pre = (X.reshape(L * B, D) @ W_x).reshape(L, B, 4 * H)  # x_t W_x for all t in one matmul
    pre += b
    gates = np.empty((L, B, 4 * H), dtype=dtype)
    states = np.zeros((L + 1, B, H), dtype=dtype)  # states[t+1] = h_t
    cells = np.zeros((L + 1, B, H), dtype=dtype)  # cells[t+1] = c_t
    tanh_c = np.empty((L, B, H), dtype=dtype)
    recurrent = np.empty((B, 4 * H), dtype=dtype)
    for t in range(L):
        h_prev, c_prev = states[t], cells[t]
        if frozen is not None and cuts_gradient(t, L, config.truncate):
            h_prev, c_prev = frozen["states"][t], frozen["cells"][t]
        if t > 0 or frozen is not None:
            np.matmul(h_prev, W_h, out=recurrent)
            pre[t] += recurrent
        gate = gates[t]
        _sigmoid(pre[t, :, :2 * H], gate[:, :2 * H])
        np.tanh(pre[t, :, 2 * H:3 * H], out=gate[:, 2 * H:3 * H])
        _sigmoid(pre[t, :, 3 * H:], gate[:, 3 * H:])
        i, f, g, o = gate[:, :H], gate[:, H:2 * H], gate[:, 2 * H:3 * H], gate[:, 3 * H:]
        np.multiply(f, c_prev, out=cells[t + 1])
        cells[t + 1] += i * g
        np.tanh(cells[t + 1], out=tanh_c[t])
        np.multiply(o, tanh_c[t], out=states[t + 1])
    dgates = _sigmoid_tanh_derivatives(pre, slice(2 * H, 3 * H))
    # tanh'(c_t) in the saturation-safe form (1 - tanh^2 would round to 0 for |c| > ~19)
    dtanh_c = np.abs(cells[1:])
    dtanh_c *= -2.0
    np.exp(dtanh_c, out=dtanh_c)
    dtanh_c /= (dtanh_c + 1.0) ** 2
    dtanh_c *= 4.0
    cache = {"X": X, "states": states, "cells": cells, "gates": gates, "dgates": dgates, "tanh_c": tanh_c,
             "dtanh_c": dtanh_c}
    return states[1:], cache


def backward(params: dict, cache: dict, dh_loss: np.ndarray, config, loss_every: bool,
             diagnostics: bool = True) -> tuple[dict[str, np.ndarray], CellBackward]:
    """BPTT with exact log-scale records of ||dL/dh_t|| and ||dL/dc_t||.

    The carried pair (dh_t, f_{t+1} dc_{t+1}) lives in one array ``carry`` (2, B, H) = scaled * 2**exponent
    with a shared exponent; the scaled da_t are stored and the weight gradients formed after the loop."""
    W_x, W_h = params["W_x"], params["W_h"]
    X, states, cells, gates, dgates = cache["X"], cache["states"], cache["cells"], cache["gates"], cache["dgates"]
    tanh_c, dtanh_c = cache["tanh_c"], cache["dtanh_c"]
    L, B, D = X.shape
    H = W_h.shape[0]
    dtype = W_h.dtype
    tau = config.clip_threshold if config.clip == "per_timestep" else None
    delta = np.zeros((L, B, 4 * H), dtype=dtype)  # scaled dL/da_t
    n2_h, n2_c, exponents = np.zeros(L), np.zeros(L), np.zeros(L, dtype=np.int64)
    carry, exponent, clipped = np.zeros((2, B, H), dtype=dtype), 0, 0
    dc = np.empty((B, H), dtype=dtype)
    for t in range(L - 1, -1, -1):
        if loss_every or t == L - 1:
            if exponent == 0:
                carry[0] += dh_loss[t]
            else:  # bring both to the common exponent max(exponent, 0), as logscale.add_unscaled does
                common = max(exponent, 0)
                carry = np.ldexp(carry, exponent - common)
                carry[0] += np.ldexp(dh_loss[t], -common) if common else dh_loss[t]
                exponent = common
        carry, exponent, sq = renormalise(carry, exponent, sqnorm(carry))
        if tau is not None:
            carry, exponent, sq, was_clipped = clip_to(carry, exponent, sq, tau)
            clipped += was_clipped
        dh = carry[0]
        n2_h[t], exponents[t] = sqnorm(dh), exponent
        gate, dgate = gates[t], dgates[t]
        i, f, g, o = gate[:, :H], gate[:, H:2 * H], gate[:, 2 * H:3 * H], gate[:, 3 * H:]
        np.multiply(dh, o, out=dc)  # dc_t = carry + dh_t * o_t * tanh'(c_t)
        dc *= dtanh_c[t]
        dc += carry[1]
        n2_c[t] = sqnorm(dc)
        da = delta[t]
        np.multiply(dc, g, out=da[:, :H])
        np.multiply(dc, cells[t], out=da[:, H:2 * H])
        np.multiply(dc, i, out=da[:, 2 * H:3 * H])
        np.multiply(dh, tanh_c[t], out=da[:, 3 * H:])
        da *= dgate
        if t == 0:
            break
        if cuts_gradient(t, L, config.truncate):
            if not loss_every:
                break  # nothing reaches step t-1 or earlier: their gradients stay exactly 0
            carry, exponent = np.zeros((2, B, H), dtype=dtype), 0
        else:
            np.matmul(da, W_h.T, out=carry[0])
            np.multiply(dc, f, out=carry[1])
    true_delta = to_true_scale(delta, exponents).reshape(L * B, 4 * H)
    grads = {"W_x": X.reshape(L * B, D).T @ true_delta,
             "W_h": states[:-1].reshape(L * B, H).T @ true_delta,
             "b": true_delta.sum(axis=0)}
    result = CellBackward(log10_norms(n2_h, exponents), clipped_timesteps=clipped)
    if diagnostics:
        result.log10_cell_grad_norm_per_step = log10_norms(n2_c, exponents)
        result.gate_mean_per_step = gates[:, :, H:2 * H].mean(axis=(1, 2), dtype=np.float64)
        result.log10_weight_grad_per_step = log10_norms(weight_contribution_sqnorms(states[:-1], delta), exponents)
        dx = (delta.reshape(L * B, 4 * H) @ W_x.T).reshape(L, B, D)  # scaled dL/dx_t
        result.log10_input_grad_per_step = log10_norms(np.einsum("tbd,tbd->t", dx, dx, dtype=np.float64),
                                                       exponents)
        result.input_saliency = log10_norms(np.einsum("td,td->t", dx[:, 0], dx[:, 0], dtype=np.float64),
                                            exponents)
    return grads, result


__all__ = ["NAME", "backward", "forward", "gamma", "init_params", "param_shapes", "recurrent_weight"]
