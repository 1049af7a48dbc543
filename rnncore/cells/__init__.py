"""Recurrent cells. A cell is ONE module plus ONE line in :data:`CELLS`; the trainer dispatches on
``config.cell`` and owns everything else (data, output layer W_o (H, O) / c (O,), loss, clipping of the
whole gradient, optimizer, diagnostics that need only W_h, divergence checks).

Conventions: time-first. X (L, B, D), hidden states (L, B, H); L = sequence length (``seq_len``, or
seq_len + 20 for the copy task), B batch, D input size, H = config.hidden_size. Arrays in config.dtype.

A cell module provides exactly these names (see :mod:`rnncore.cells.rnn`, the reference):

``NAME: str``
    The registry key, equal to the config value (``"rnn"``, ``"lstm"``, ``"gru"``).

``param_shapes(input_size, hidden_size) -> dict[str, tuple]``
    Parameter names and shapes, in a fixed order (the trainer, gradcheck and the optimizer iterate in
    this order). Names must not be ``W_o`` or ``c`` (the output layer's). RNN: W_x (D, H), W_h (H, H),
    b (H,).

``init_params(config, input_size, rng) -> dict[str, np.ndarray]``
    Fresh parameters with those names and shapes, in config.dtype, drawing only from ``rng`` (the init
    stream; the trainer draws the output layer after the cell). Use :func:`glorot` for input weights and
    :func:`recurrent_init` for recurrent blocks so ``config.init`` / ``spectral_radius`` / ``init_scale``
    mean the same for every cell.

``recurrent_weight(params) -> np.ndarray (H, H)``
    The matrix whose largest singular value / spectral radius the records report (W_h for the RNN; the
    candidate/cell block of the recurrent weights for LSTM/GRU, documented in the module).

``gamma(config) -> float | None``
    max |f'| of the recurrent nonlinearity (1/4 sigmoid, 1 tanh/relu/linear), for the Pascanu bound;
    None for a cell the bound does not hold for (LSTM, GRU): records then carry no bound.

``forward(params, X, config, frozen=None) -> (hidden (L, B, H), cache)``
    ``hidden[t] = h_t`` (may be a view into the cache). The cache holds whatever backward needs,
    stored once (O(L B H)), no per-step parameter copies. ``frozen``: the cache of an earlier forward;
    when ``config.truncate`` is set, at every boundary t where ``cuts_gradient(t, L, truncate)`` the
    state(s) entering step t are read from ``frozen`` instead of this run (constants). Finite
    differences through this surrogate equal truncated BPTT; gradcheck relies on it.

``backward(params, cache, dh_loss, config, loss_every, diagnostics=True) -> (grads, CellBackward)``
    ``dh_loss`` (L, B, H): the loss's direct dL/dh_t for every t (when ``loss_every`` is False only
    ``dh_loss[L-1]`` is nonzero and may be the only row read). Returns ``grads`` with the same names and
    shapes as the params (true scale, config.dtype) and a :class:`CellBackward` of per-timestep log10
    diagnostics (``log10_grad_norm_per_step`` always; the rest only when ``diagnostics``).
    Hooks the backward loop must honour:

    - exact log scale: carry dL/dh_t (and dL/dc_t for LSTM) as ``scaled * 2**exponent`` with the
      helpers in :mod:`rnncore.logscale` (``add_unscaled`` for g_t, ``sqnorm`` + ``renormalise`` each
      step, ``log10_norms`` at the end, ``to_true_scale`` before the weight-gradient matmuls);
    - truncation: if ``cuts_gradient(t, L, config.truncate)`` no gradient flows from step t into the
      state(s) at t-1 (the step's own weight contributions stay);
    - per-timestep clipping: when ``config.clip == "per_timestep"``, apply
      ``clip_to(scaled, exponent, sqnorm, config.clip_threshold)`` to dL/dh_t right after adding g_t
      and renormalising, and count the clipped steps in ``CellBackward.clipped_timesteps``.

Registering: ``CELLS["name"] = module`` below; ``lstm`` and ``gru`` are picked up automatically when
``rnncore/cells/lstm.py`` / ``gru.py`` exist. A config whose cell is not registered raises
``ConfigError("cell", "... not available yet")``.
"""
from __future__ import annotations

import importlib
from types import ModuleType

from ..config import ConfigError
from . import rnn
from .base import CellBackward, cuts_gradient, glorot, recurrent_init

CELLS: dict[str, ModuleType] = {
    "rnn": rnn,
}

# The gated cells register themselves by existing: rnncore/cells/lstm.py, rnncore/cells/gru.py.
for _name in ("lstm", "gru"):
    try:
        CELLS[_name] = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as missing:
        if missing.name != f"{__name__}.{_name}":
            raise  # the module exists but imports something missing: a real error


def get_cell(name: str) -> ModuleType:
    """The cell module registered under ``name``; ConfigError("cell", ...) if there is none."""
    try:
        return CELLS[name]
    except KeyError:
        raise ConfigError("cell", f"{name!r} is not available yet (available: {', '.join(CELLS)})") from None


__all__ = ["CELLS", "CellBackward", "cuts_gradient", "get_cell", "glorot", "recurrent_init"]
