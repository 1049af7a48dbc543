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
+1, the common trick) dL/dc_t decays slowly: the path the LSTM keeps open. The records carry
``log10_cell_grad_norm_per_step`` = log10 ||dL/dc_t|| and ``gate_mean_per_step`` = mean of f_t.

Exact log scale: dh_t and the carried f_{t+1} * dc_{t+1} live in one array ``carry`` (2, B, H) with one
shared exponent, so both log10 norms are exact far outside the dtype's range (their ratio changes by one
step's gate factors only, never compounding over time). Per-timestep clipping rescales that pair jointly
when its norm exceeds tau. Truncation cuts both h_{t-1} and c_{t-1} (``h.detach(), c.detach()``).

Memory layout (speed only; the parameters keep the layout above): the forward pass works gate-major, on
``W4`` (4, K, H), K = H + D + 1, the column blocks of [W_h; W_x; b] in the order [o, i, f, g]
(:data:`ORDER`, :func:`stacked_weights`), times z_t = [h_{t-1}, x_t, 1], and on arrays (4, L, B, H)
whose [k, t] is gate k's contiguous (B, H) block at step t, so its elementwise numpy calls run on
contiguous memory (at one BLAS thread the four (B, H) x (H, H) products took 39 us against 56 us for one
(B, H) x (H, 4H) at B=32, H=128 on an AVX-512 machine, 64 us both on an AVX2 one); the backward pass
stores da_t in the column layout (L, B, 4H) of W_h, so that dh_{t-1} = da_t W_h^T is one GEMM per step
and [dW_h; dW_x; db] one GEMM over all L*B rows.

Mapping to ``torch.nn.LSTMCell(D, H)`` (row-vector vs column-vector convention, same gate order
i, f, g, o): ``weight_ih = W_x.T`` (4H, D), ``weight_hh = W_h.T`` (4H, H), ``bias_ih + bias_hh = b``
(e.g. bias_ih = b, bias_hh = 0).

Init: each gate block of W_x Glorot (D, H), each gate block of W_h per ``config.init`` (so spectral
radius / init_scale mean the same as for the RNN), b = 0 except the forget block = ``config.forget_bias``.
"""
from __future__ import annotations

import numpy as np

from ..logscale import carry_step, log10_norms, log10_row_norms, sqnorm_with_exponent, to_true_scale
from .activations import sigmoid_derivative, sigmoid_of_negated_keeping_exp, tanh_derivative
from .base import CellBackward, aligned_copy, aligned_empty, buffer, chunk_length, cuts_gradient, glorot, recurrent_init
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


def gamma(config) -> None:
    """None: Pascanu et al.'s bound (gamma sigma_max)^(T-1-t) holds for the vanilla RNN only. A step back
    through this cell also goes through the cell state and the gates, which a bound on the candidate block
    does not cover (spectral radius 0.3, T=50: ||dL/dh_0|| 19 (LSTM) and 14 (GRU) orders above it)."""
    return None


def gate_major(W: np.ndarray, blocks: int = 4, order=None) -> np.ndarray:
    """(rows, k H) or (k H,) -> (k, rows, H) aligned copy (:data:`base.ALIGNMENT`): block j = W[:, jH:(j+1)H]
    (a bias gets rows = 1); with ``order``, block j = the parameter block order[j]."""
    rows, width = W.reshape(-1, W.shape[-1]).shape
    major = W.reshape(rows, blocks, width // blocks).transpose(1, 0, 2)
    if order is None:
        return aligned_copy(major)
    return np.take(major, order, axis=0, out=aligned_empty(major.shape, W.dtype))  # one copy, not two


# The forward pass orders the gate-major blocks [o, i, f, g] (parameter blocks 3, 0, 1, 2): the three
# sigmoid gates form one contiguous (3, B, H) block (one exp per step, on three blocks rather than four,
# and kept for their derivatives), and the gates that multiply dc_t in the backward pass, i, f, g, are
# the contiguous blocks 1:4 and land in the parameter blocks 0:3 of da_t.
ORDER = [3, 0, 1, 2]


def stacked_weights(params: dict) -> np.ndarray:
    """(4, K, H), K = H + D + 1: gate-major [W_h; W_x; b] in :data:`ORDER`, so that z_t = [h_{t-1}, x_t, 1]
    times block k is gate k's pre-activation; the sigmoid gates' blocks negated (exact), so the product
    gives -a for o, i, f, which their exp(-a) takes as it is."""
    stacked = np.concatenate([params["W_h"], params["W_x"], params["b"][None]], axis=0)
    W4 = gate_major(stacked, order=ORDER)
    np.negative(W4[:3], out=W4[:3])
    return W4


def forward(params: dict, X: np.ndarray, config, frozen: dict | None = None,
            workspace=None) -> tuple[np.ndarray, dict]:
    """Run the sequence; hidden (L, B, H) = h_0..h_{L-1} (a view of the cache) and the cache: states,
    cells (L+1, B, H) with [0] = h_{-1} = c_{-1} = 0, gates (4, L, B, H) = [o, i, f, g] (:data:`ORDER`),
    and the local derivatives the backward loop multiplies by, formed per cache-sized chunk of timesteps
    right after the chunk's steps (' = derivative w.r.t. that gate's pre-activation):

        factors = [tanh(c_t) o', g i', c_{t-1} f', i g']  (4, L, B, H)
        dc_dh   = o tanh'(c_t)                            (L, B, H)

    so that [da_o, da_i, da_f, da_g] = [dh_t, dc_t, dc_t, dc_t] * factors_t and
    dc_t = f_{t+1} dc_{t+1} + dh_t * dc_dh_t.

    The states live in ``inputs`` (L+1, B, K), row t = z_t = [h_{t-1}, x_t, 1], so a_t is one GEMM per
    step, input projection and bias included (:func:`stacked_weights`), and the weight gradients one GEMM
    over all L*B rows in the backward pass (against separate x_t W_x chunks, a bias pass and an addition:
    1.1 ms more GEMM time per forward, 3-5 ms less elsewhere at (B, T, H) = (32, 200, 128)).
    ``frozen``: as for the RNN, with both h and c frozen at cuts."""
    L, B, D = X.shape
    H = params["W_h"].shape[0]
    dtype = params["W_h"].dtype
    W4 = stacked_weights(params)
    inputs = buffer(workspace, "inputs", (L + 1, B, H + D + 1), dtype)
    states = inputs[:, :, :H]  # states[t] = h_{t-1}
    states[0] = 0.0
    inputs[:L, :, H:H + D] = X
    inputs[:L, :, H + D] = 1.0
    inputs[L, :, H:] = 0.0
    pre = buffer(workspace, "pre", (4, L, B, H), dtype)  # [-a_o, -a_i, -a_f, a_g]; then exp(-a); then the factors
    gates = buffer(workspace, "gates", (4, L, B, H), dtype)
    cells = buffer(workspace, "cells", (L + 1, B, H), dtype)
    cells[0] = 0.0
    tanh_c = buffer(workspace, "tanh_c", (L, B, H), dtype)
    dc_dh = buffer(workspace, "dc_dh", (L, B, H), dtype)
    new_input = buffer(workspace, "new_input", (B, H), dtype)
    cuts = set() if frozen is None else {t for t in range(L) if cuts_gradient(t, L, config.truncate)}
    chunk = chunk_length(B, 4 * H, dtype)
    scratch = buffer(workspace, "scratch", (min(chunk, L), B, H), dtype)
    with np.errstate(over="ignore"):  # in sigmoid's exp(-a): the true value ~0 results
        for t in range(L):
            z = inputs[t]
            if t in cuts:  # z_t with the frozen h_{t-1}
                z = np.concatenate([frozen["states"][t], z[:, H:]], axis=1)
            a, gate = pre[:, t], gates[:, t]
            np.matmul(z, W4, out=a)
            sigmoid_of_negated_keeping_exp(a[:3], gate[:3])  # o, i, f; a[:3] becomes exp(-a) for their derivatives
            np.tanh(a[3], out=gate[3])
            o, i, f, g = gate
            np.multiply(f, frozen["cells"][t] if t in cuts else cells[t], out=cells[t + 1])
            np.multiply(i, g, out=new_input)
            cells[t + 1] += new_input
            np.tanh(cells[t + 1], out=tanh_c[t])
            np.multiply(o, tanh_c[t], out=states[t + 1])
            if (t + 1) % chunk == 0 or t + 1 == L:  # the chunk's local derivatives while it is in cache
                _local_derivatives(slice(t - t % chunk, t + 1), pre, gates, cells, tanh_c, dc_dh, scratch)
    return states[1:], {"X": X, "inputs": inputs, "states": states, "cells": cells, "gates": gates,
                        "factors": pre, "dc_dh": dc_dh}


def _local_derivatives(span: slice, pre, gates, cells, tanh_c, dc_dh, scratch) -> None:
    """factors (in place of pre) and dc_dh for the timesteps in ``span`` (equations: :func:`forward`)."""
    factors, (o, i, _, g) = pre[:, span], gates[:, span]
    scratch = scratch[:span.stop - span.start]
    sigmoid_derivative(factors[:3], gates[:3, span], out=factors[:3])  # [o', i', f'] from exp(-a)
    tanh_derivative(factors[3], g, factors[3], scratch)  # g' = tanh'(a_g), g = tanh(a_g)
    factors[0] *= tanh_c[span]
    factors[1] *= g
    factors[2] *= cells[span]  # c_{t-1} (cells[t] = c_{t-1})
    factors[3] *= i
    tanh_derivative(cells[span.start + 1:span.stop + 1], tanh_c[span], dc_dh[span], scratch)  # tanh'(c_t)
    dc_dh[span] *= o


def backward(params: dict, cache: dict, dh_loss: np.ndarray, config, loss_every: bool, diagnostics: bool = True,
             workspace=None) -> tuple[dict[str, np.ndarray], CellBackward]:
    """BPTT with exact log-scale records of ||dL/dh_t|| and ||dL/dc_t|| (module docstring: equations).

    ``carry`` (2, B, H) = [dh_t, f_{t+1} dc_{t+1}] * 2**exponent; the scaled da_t are stored in the
    parameters' column layout (L, B, 4H), so dh_{t-1} is one GEMM per step and the weight gradients three
    GEMMs over all L*B rows after the loop."""
    W_x, W_h = params["W_x"], params["W_h"]
    X, states, gates, factors, dc_dh = cache["X"], cache["states"], cache["gates"], cache["factors"], cache["dc_dh"]
    L, B, D = X.shape
    H = W_h.shape[0]
    dtype = W_h.dtype
    W_h_T = buffer(workspace, "W_h_T", (4 * H, H), dtype)
    W_h_T[...] = W_h.T  # BLAS is faster on a contiguous copy than on the transposed view
    tau = config.clip_threshold if config.clip == "per_timestep" else None
    delta = buffer(workspace, "delta", (L, B, 4 * H), dtype)  # scaled dL/da_t
    delta_blocks = delta.reshape(L, B, 4, H).transpose(2, 0, 1, 3)  # (4, L, B, H) view: [k, t] = gate k's da_t
    n2_h, n2_c, exponents = np.zeros(L), np.zeros(L), np.zeros(L, dtype=np.int64)
    extra_h, extra_c = np.zeros(L, dtype=np.int64), np.zeros(L, dtype=np.int64)  # each part's own (rarely != 0)
    carry, exponent, clipped = buffer(workspace, "carry", (2, B, H), dtype), 0, 0
    carry[...] = 0.0
    dc = buffer(workspace, "dc", (B, H), dtype)
    dx = buffer(workspace, "dx", (L, B, D), dtype) if diagnostics else None  # scaled dL/dx_t
    W_x_T = aligned_copy(W_x.T)
    for t in range(L - 1, -1, -1):
        loss_term = dh_loss[t] if loss_every or t == L - 1 else None  # g_t joins dh_t = carry[0]
        carry, exponent, _, was_clipped = carry_step(carry, exponent, loss_term, tau, part=0)
        clipped += was_clipped
        dh = carry[0]
        np.multiply(dh, dc_dh[t], out=dc)  # dc_t = f_{t+1} dc_{t+1} + dh_t o_t tanh'(c_t)
        dc += carry[1]
        (n2_h[t], extra_h[t]), (n2_c[t], extra_c[t]) = sqnorm_with_exponent(dh), sqnorm_with_exponent(dc)
        exponents[t] = exponent
        np.multiply(factors[1:, t], dc, out=delta_blocks[:3, t])  # da_i, da_f, da_g
        np.multiply(factors[0, t], dh, out=delta_blocks[3, t])  # da_o
        if dx is not None:  # dx_t = da_t W_x^T now, while da_t is in cache
            np.matmul(delta[t], W_x_T, out=dx[t])
        if t == 0:
            break
        if cuts_gradient(t, L, config.truncate):
            if not loss_every:
                delta[:t] = 0.0  # nothing reaches step t-1 or earlier: their gradients stay exactly 0
                if dx is not None:
                    dx[:t] = 0.0
                break
            carry[...], exponent = 0.0, 0
        else:
            np.matmul(delta[t], W_h_T, out=carry[0])  # dh_{t-1} (before the loss's own g_{t-1})
            np.multiply(dc, gates[2, t], out=carry[1])  # f_t dc_t
    result = CellBackward(log10_norms(n2_h, exponents + extra_h), clipped_timesteps=clipped)
    if diagnostics:  # from the scaled deltas, before they are brought to true scale in place
        result.log10_cell_grad_norm_per_step = log10_norms(n2_c, exponents + extra_c)
        result.gate_mean_per_step = gates[2].mean(axis=(1, 2), dtype=np.float64)  # f_t
        timestep_diagnostics(result, states[:-1], delta, dx, exponents, X, delta)
    true_delta = to_true_scale(delta, exponents, out=delta).reshape(L * B, 4 * H)
    # [dW_h; dW_x; db] = sum_t z_t^T da_t, z_t = [h_{t-1}, x_t, 1]: one GEMM
    stacked = cache["inputs"][:L].reshape(L * B, H + D + 1).T @ true_delta
    return {"W_x": stacked[H:H + D], "W_h": stacked[:H], "b": stacked[H + D]}, result


def timestep_diagnostics(result: CellBackward, h_prev, delta_h, dx, exponents, X, delta_x) -> None:
    """Per timestep, log10, from scaled arrays and their exponents: the recurrent weight gradient's
    contribution ||h_{t-1}^T delta_h_t|| (delta_h (L, B, G) = dL/da_t for the LSTM, dL/d(ah_t) for the
    GRU), the input weight gradient's ||x_t^T delta_x_t|| (delta_x = dL/d(x_t W_x): the LSTM's dL/da_t,
    the GRU's dL/d(ax_t)), the input gradient ||dL/dx_t|| from dx (L, B, D) and its first example."""
    if delta_x is delta_h:  # the LSTM: one delta delta^T serves both
        recurrent, inputs = weight_contribution_sqnorms(h_prev, delta_h, X)
    else:
        recurrent, inputs = weight_contribution_sqnorms(h_prev, delta_h), weight_contribution_sqnorms(X, delta_x)
    result.log10_weight_grad_per_step = log10_norms(recurrent, exponents)
    result.log10_input_weight_grad_per_step = log10_norms(inputs, exponents)
    result.log10_input_grad_per_step = log10_row_norms(dx, exponents)
    result.input_saliency = log10_row_norms(dx[:, 0], exponents)


__all__ = ["NAME", "backward", "forward", "gamma", "init_params", "param_shapes", "recurrent_weight"]
