r"""GRU cell (Cho et al. 2014), time-first, torch.nn.GRUCell's equations (reset applied after W_hn).

Shapes: X (L, B, D); h_t (B, H); gate blocks of width H in the order [r, z, n].

    ax_t = x_t W_x + b_x                     W_x (D, 3H), b_x (3H,)
    ah_t = h_{t-1} W_h + b_h                 W_h (H, 3H), b_h (3H,)
    r = sigmoid(ax_r + ah_r)   z = sigmoid(ax_z + ah_z)
    n = tanh(ax_n + r * ah_n)                (= tanh(W_in x + b_in + r * (W_hn h + b_hn)))
    h_t = (1 - z) * n + z * h_{t-1}          h_{-1} = 0

z is the update gate: z near 1 copies h_{t-1} forward (and the gradient back) unchanged; the records'
``gate_mean_per_step`` is the mean of z_t over batch and units. At init (b = 0) z ~ 1/2, so the copy
path alone halves the gradient per step back; there is no bias trick for it here (as in PyTorch).

Backward, dh_t = dL/dh_t (total), g_t the loss's direct dL/dh_t:

    da_n = dh_t * (1 - z) * (1 - n^2)
    da_z = dh_t * (h_{t-1} - n) * z(1-z)
    da_r = da_n * ah_n * r(1-r)
    dax_t = [da_r, da_z, da_n]               dah_t = [da_r, da_z, r * da_n]
    dh_{t-1} = g_{t-1} + dh_t * z + dah_t W_h^T
    dW_x = sum_t x_t^T dax_t,  db_x = sum dax_t,  dW_h = sum_t h_{t-1}^T dah_t,  db_h = sum dah_t

Memory layout (speed only; the parameters keep the layout above): as in :mod:`rnncore.cells.lstm`, the
forward pass works gate-major (W_h as (3, H, H) blocks, gates and factors (3, L, B, H)), the backward
pass stores dax_t and dah_t as overlapping column ranges of one (L, B, 4H) array (:func:`backward`).

Truncation cuts both paths into h_{t-1} (the z * h_{t-1} copy and W_h), as ``h.detach()`` does.

Mapping to ``torch.nn.GRUCell(D, H)`` (row-vector vs column-vector convention, same gate order r, z, n):
``weight_ih = W_x.T`` (3H, D), ``weight_hh = W_h.T`` (3H, H), ``bias_ih = b_x``, ``bias_hh = b_h``. The
two biases are separate parameters because b_hn sits inside r * (...).

Init: each gate block of W_x Glorot (D, H), each block of W_h per ``config.init``, biases 0.
"""
from __future__ import annotations

import numpy as np

from ..logscale import carry_step, log10_norms, to_true_scale
from .activations import sigmoid_derivative, sigmoid_of_negated_keeping_exp, tanh_derivative
from .base import CellBackward, aligned_copy, buffer, chunk_length, cuts_gradient, glorot, recurrent_init
from .lstm import gate_major, timestep_diagnostics

NAME = "gru"
GATES = ("r", "z", "n")


def param_shapes(input_size: int, hidden_size: int) -> dict[str, tuple[int, ...]]:
    H = hidden_size
    return {"W_x": (input_size, 3 * H), "W_h": (H, 3 * H), "b_x": (3 * H,), "b_h": (3 * H,)}


def init_params(config, input_size: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    dtype, H = np.dtype(config.dtype), config.hidden_size
    W_x = np.concatenate([glorot(rng, input_size, H, dtype) for _ in GATES], axis=1)
    W_h = np.concatenate([recurrent_init(config, rng, H, dtype) for _ in GATES], axis=1)
    return {"W_x": W_x, "W_h": W_h, "b_x": np.zeros(3 * H, dtype=dtype), "b_h": np.zeros(3 * H, dtype=dtype)}


def recurrent_weight(params: dict) -> np.ndarray:
    """The candidate block W_h[:, 2H:3H] (W_hn, inside the tanh)."""
    H = params["W_h"].shape[0]
    return params["W_h"][:, 2 * H:]


def gamma(config) -> None:
    """None: Pascanu et al.'s bound (gamma sigma_max)^(T-1-t) holds for the vanilla RNN only. A step back
    through this cell also goes through the update gate's copy path and the gates, which a bound on the candidate block
    does not cover (spectral radius 0.3, T=50: ||dL/dh_0|| 19 (LSTM) and 14 (GRU) orders above it)."""
    return None


def forward(params: dict, X: np.ndarray, config, frozen: dict | None = None,
            workspace=None) -> tuple[np.ndarray, dict]:
    """Run the sequence; hidden (L, B, H) = h_0..h_{L-1} (a view of the cache) and the cache: states
    (L+1, B, H) with [0] = h_{-1} = 0, gates (3, L, B, H) = [r, z, n], and the local derivatives the
    backward loop multiplies by, formed per cache-sized chunk of timesteps right after the chunk's steps
    (' = derivative w.r.t. the gate's pre-activation, a_n = ax_n + r * ah_n):

        factors = [(1-z) n' ah_n r',  (h_{t-1} - n) z',  (1-z) n']   (3, L, B, H)

    so that dax_t = [dh_t, dh_t, dh_t] * factors_t. ``frozen``: as for the RNN."""
    L, B, D = X.shape
    H = params["W_h"].shape[0]
    dtype = params["W_h"].dtype
    b_x, b_h = params["b_x"], params["b_h"]
    W_x3, W_h3 = gate_major(params["W_x"], 3), gate_major(params["W_h"], 3)
    bias = b_x.copy()
    bias[:2 * H] += b_h[:2 * H]  # b_hr, b_hz add like b_x; b_hn sits inside r * (...)
    bias3, b_hn = gate_major(bias, 3), b_h[2 * H:]
    for block in (W_x3, W_h3, bias3):  # r, z negated (exact), as in the LSTM: the sums give -a, which exp takes
        np.negative(block[:2], out=block[:2])
    # pre: [-ax_r, -ax_z, ax_n]; then [exp(-a_r), exp(-a_z), a_n]; then the factors
    pre = buffer(workspace, "pre", (3, L, B, H), dtype)
    gates = buffer(workspace, "gates", (3, L, B, H), dtype)
    ah_n = buffer(workspace, "ah_n", (L, B, H), dtype)
    states = buffer(workspace, "states", (L + 1, B, H), dtype)
    states[0] = 0.0
    ah = buffer(workspace, "ah", (3, B, H), dtype)
    cuts = set() if frozen is None else {t for t in range(L) if cuts_gradient(t, L, config.truncate)}
    chunk = chunk_length(B, 3 * H, dtype)  # cache-sized chunks of timesteps, as in the LSTM's forward
    scratch = buffer(workspace, "scratch", (min(chunk, L), B, H), dtype)
    with np.errstate(over="ignore"):  # in sigmoid's exp(-a): the true value ~0 results
        for t in range(L):
            if t % chunk == 0:  # x_t W_x + b for the chunk's timesteps: one GEMM per gate
                span = slice(t, min(t + chunk, L))
                np.matmul(X[span].reshape(-1, D), W_x3, out=pre[:, span].reshape(3, -1, H))
                pre[:, span] += bias3[:, None]
            h_prev = frozen["states"][t] if t in cuts else states[t]
            a, gate = pre[:, t], gates[:, t]
            if t > 0:  # h_{-1} = 0 contributes b_h only
                np.matmul(h_prev, W_h3, out=ah)
                a[:2] += ah[:2]
                np.add(ah[2], b_hn, out=ah_n[t])
            else:
                ah_n[t] = b_hn
            sigmoid_of_negated_keeping_exp(a[:2], gate[:2])  # r, z from -a; a[:2] becomes exp(-a) for their derivatives
            r, z, n = gate
            np.multiply(r, ah_n[t], out=n)
            a[2] += n
            np.tanh(a[2], out=n)
            np.subtract(h_prev, n, out=states[t + 1])  # h_t = n + z * (h_{t-1} - n)
            states[t + 1] *= z
            states[t + 1] += n
            if t + 1 == span.stop:
                _local_derivatives(span, pre, gates, ah_n, states, scratch)
    return states[1:], {"X": X, "states": states, "gates": gates, "factors": pre}


def _local_derivatives(span: slice, pre, gates, ah_n, states, scratch) -> None:
    """The factors (in place of pre) for the timesteps in ``span`` (equations: :func:`forward`)."""
    factors, (_, z, n) = pre[:, span], gates[:, span]
    sigmoid_derivative(factors[:2], gates[:2, span], out=factors[:2])  # r', z' from exp(-a)
    tanh_derivative(factors[2], n, factors[2], scratch[:span.stop - span.start])  # n' = tanh'(a_n), n = tanh(a_n)
    factors[2] *= 1.0 - z  # (1-z) n'
    factors[0] *= ah_n[span]
    factors[0] *= factors[2]  # (1-z) n' ah_n r'
    factors[1] *= states[span] - n  # (h_{t-1} - n) z'  (states[t] = h_{t-1})


def backward(params: dict, cache: dict, dh_loss: np.ndarray, config, loss_every: bool, diagnostics: bool = True,
             workspace=None) -> tuple[dict[str, np.ndarray], CellBackward]:
    """BPTT with an exact log-scale record of ||dL/dh_t|| (dh_t carried as scaled * 2**exponent).

    Stores the scaled deltas of step t in one row of ``deltas`` (L, B, 4H) = [r da_n, da_r, da_z, da_n]:
    its last 3H columns are dax_t = [da_r, da_z, da_n] (W_x's column order), its first 3H dah_t with W_h's
    column blocks in the order [n, r, z], so both are views and da_r, da_z are written once. dah_t gives
    dh_{t-1} (one GEMM per step, on W_h^T's rows in that order); after the loop both give the weight
    gradients (GEMMs over all L*B rows)."""
    W_x, W_h = params["W_x"], params["W_h"]
    X, states, gates, factors = cache["X"], cache["states"], cache["gates"], cache["factors"]
    L, B, D = X.shape
    H = W_h.shape[0]
    dtype = W_h.dtype
    W_h_T = buffer(workspace, "W_h_T", (3 * H, H), dtype)  # rows [n, r, z]; a contiguous copy for BLAS
    W_h_T[:H], W_h_T[H:] = W_h[:, 2 * H:].T, W_h[:, :2 * H].T
    tau = config.clip_threshold if config.clip == "per_timestep" else None
    deltas = buffer(workspace, "deltas", (L, B, 4 * H), dtype)
    blocks = deltas.reshape(L, B, 4, H).transpose(2, 0, 1, 3)  # (4, L, B, H) views: [k, t] = block k at t
    dax, dah = deltas[:, :, H:], deltas[:, :, :3 * H]  # scaled dL/d(ax_t) [r, z, n]; dL/d(ah_t) [n, r, z]
    n2, exponents = np.zeros(L), np.zeros(L, dtype=np.int64)
    scaled, exponent, clipped = buffer(workspace, "dh", (B, H), dtype), 0, 0
    scaled[...] = 0.0
    carried = buffer(workspace, "carried", (B, H), dtype)
    dx = buffer(workspace, "dx", (L, B, D), dtype) if diagnostics else None  # scaled dL/dx_t
    W_x_T = aligned_copy(W_x.T)
    for t in range(L - 1, -1, -1):
        loss_term = dh_loss[t] if loss_every or t == L - 1 else None
        scaled, exponent, sq, was_clipped = carry_step(scaled, exponent, loss_term, tau)
        clipped += was_clipped
        n2[t], exponents[t] = sq, exponent
        np.multiply(factors[:, t], scaled, out=blocks[1:, t])  # [da_r, da_z, da_n]
        np.multiply(blocks[3, t], gates[0, t], out=blocks[0, t])  # r * da_n
        if dx is not None:  # dx_t = dax_t W_x^T now, while dax_t is in cache
            np.matmul(dax[t], W_x_T, out=dx[t])
        if t == 0:
            break
        if cuts_gradient(t, L, config.truncate):
            if not loss_every:
                deltas[:t] = 0.0  # nothing reaches h_{t-1} or earlier: their dh stays exactly 0
                if dx is not None:
                    dx[:t] = 0.0
                break
            scaled[...], exponent = 0.0, 0
        else:
            np.multiply(scaled, gates[1, t], out=carried)  # dh_t * z: the copy path
            np.matmul(dah[t], W_h_T, out=scaled)
            scaled += carried  # dh_{t-1} (before the loss's own g_{t-1})
    result = CellBackward(log10_norms(n2, exponents), clipped_timesteps=clipped)
    if diagnostics:  # from the scaled deltas, before they are brought to true scale in place
        result.gate_mean_per_step = gates[1].mean(axis=(1, 2), dtype=np.float64)
        timestep_diagnostics(result, states[:-1], dah, dx, exponents, X, dax)  # column order: norms unchanged
    flat = to_true_scale(deltas, exponents, out=deltas).reshape(L * B, 4 * H)
    sums = flat.sum(axis=0)  # [r da_n, da_r, da_z, da_n] summed
    dW_h_nrz = states[:-1].reshape(L * B, H).T @ flat[:, :3 * H]
    grads = {"W_x": X.reshape(L * B, D).T @ flat[:, H:],
             "W_h": np.concatenate([dW_h_nrz[:, H:], dW_h_nrz[:, :H]], axis=1),
             "b_x": sums[H:],
             "b_h": np.concatenate([sums[H:3 * H], sums[:H]])}
    return grads, result


__all__ = ["NAME", "backward", "forward", "gamma", "init_params", "param_shapes", "recurrent_weight"]
