"""Shared pieces of the cell interface (see :mod:`rnncore.cells` for the contract)."""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass
class CellBackward:
    """Per-timestep results of a cell's backward pass, all of shape (L,), float64, log10 of true norms
    (exact far outside the dtype's range; -inf only where the value is exactly zero)."""

    log10_grad_norm_per_step: np.ndarray
    """log10 ||dL/dh_t||_F (after per-timestep clipping, i.e. what actually flows on)."""
    log10_weight_grad_per_step: np.ndarray | None = None
    """log10 ||h_{t-1}^T delta_t||_F, delta_t = dL/d(pre-activation)_t; for gated cells the recurrent
    weight contribution of step t over all gates. None when diagnostics were not requested."""
    log10_input_grad_per_step: np.ndarray | None = None
    """log10 ||dL/dx_t||_F."""
    log10_input_weight_grad_per_step: np.ndarray | None = None
    """log10 ||x_t^T delta_t||_F: timestep t's contribution to the input weight gradient dL/dW_x (delta_t
    over all gates: dL/d(x_t W_x) for gated cells)."""
    input_saliency: np.ndarray | None = None
    """log10 ||dL/dx_t|| of batch element 0."""
    log10_cell_grad_norm_per_step: np.ndarray | None = None
    """LSTM only: log10 ||dL/dc_t||_F."""
    gate_mean_per_step: np.ndarray | None = None
    """LSTM: mean forget gate; GRU: mean update gate; None for the vanilla RNN."""
    clipped_timesteps: int = 0
    """How many timesteps per-timestep clipping rescaled."""
    log10_loss_grad_per_step: np.ndarray | None = None
    """log10 ||dL_t/dh_t||_F, the loss's direct gradient at step t (through y_t only); filled by the
    trainer when the loss has a term at every step (for the bound on ||dL/dh_t||), else None."""


class Workspace:
    """Arrays a cell reuses from one training step to the next, by name.

    A fresh multi-megabyte array costs a page fault per 4 KiB page on first touch (about 1 ms per MB on
    this machine's VM, as much as the matrix products at T*B*H = 10^6), so the trainer gives each model
    one workspace. A cell's ``forward``/``backward`` may take ``workspace=None`` (then every buffer is
    fresh, as gradcheck needs: its frozen cache must not be overwritten)."""

    def __init__(self):
        self._arrays: dict[str, np.ndarray] = {}

    def empty(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """An uninitialised array of this shape and dtype, the same memory as last time when it fits."""
        array = self._arrays.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self._arrays[name] = aligned_empty(shape, dtype)
        return array

    def zeros(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """Like :meth:`empty`, but zero when first created (later contents are whatever was written)."""
        array = self._arrays.get(name)
        if array is None or array.shape != shape or array.dtype != dtype:
            array = self._arrays[name] = aligned_empty(shape, dtype)
            array[...] = 0
        return array


def buffer(workspace: Workspace | None, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
    """``workspace.empty(...)``, or a fresh :func:`aligned_empty` without a workspace."""
    return aligned_empty(shape, dtype) if workspace is None else workspace.empty(name, shape, dtype)


ALIGNMENT = 64
"""Bytes at which every buffer and weight copy the time loops multiply by starts (one cache line, one
AVX-512 register); NumPy itself guarantees 16. OpenBLAS's per-timestep GEMMs, (B, K) x (K, H), run 20-25%
faster when their second operand, the weights, is so aligned (one thread, an AVX-512 Xeon: 7.6 against
9.3-10.5 us at (32, 128) x (128, 128), 4.1 against 4.8-5.0 at B = 16, 7.1 against 9.2-9.6 at
(8, 256) x (256, 256); GEMMs over all L*B rows gain nothing). The results are bit-identical either way
(tested)."""


def aligned_empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised C-contiguous array whose first element sits at a multiple of :data:`ALIGNMENT`."""
    dtype, shape = np.dtype(dtype), tuple(shape)
    size = math.prod(shape) * dtype.itemsize
    raw = np.empty(size + ALIGNMENT, dtype=np.uint8)
    start = -raw.ctypes.data % ALIGNMENT
    return raw[start:start + size].view(dtype).reshape(shape)


def aligned_copy(a: np.ndarray) -> np.ndarray:
    """A C-contiguous, :data:`ALIGNMENT`-aligned copy of ``a`` (e.g. of a transposed view)."""
    out = aligned_empty(a.shape, a.dtype)
    np.copyto(out, a)
    return out


def cuts_gradient(t: int, length: int, truncate: int | None) -> bool:
    """Truncated BPTT: True when no gradient flows from h_t back into h_{t-1}.

    Boundaries are every ``truncate`` steps counted from the END of the sequence, t = L-k, L-2k, ...,
    so with a loss at the last step exactly the last k hidden states receive gradient. The step's own
    parameter contributions (h_{t-1}^T delta_t, with h_{t-1} a constant) are kept, as with
    ``h_prev.detach()`` in PyTorch before computing h_t."""
    return truncate is not None and t > 0 and (length - t) % truncate == 0


def glorot(rng: np.random.Generator, fan_in: int, fan_out: int, dtype) -> np.ndarray:
    """Glorot/Xavier uniform U(-a, a), a = sqrt(6 / (fan_in + fan_out)), shape (fan_in, fan_out)."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=(fan_in, fan_out)).astype(dtype)


def recurrent_init(config, rng: np.random.Generator, size: int, dtype) -> np.ndarray:
    """A (size, size) recurrent matrix per ``config.init``: orthogonal * spectral_radius (QR of a
    Gaussian, sign-fixed so it is Haar-distributed), N(0, init_scale^2), or identity * spectral_radius."""
    if config.init == "orthogonal":
        q, r = np.linalg.qr(rng.standard_normal((size, size)))
        q = q * np.sign(np.diag(r))
        return (config.spectral_radius * q).astype(dtype)
    if config.init == "gaussian":
        return (config.init_scale * rng.standard_normal((size, size))).astype(dtype)
    return (config.spectral_radius * np.eye(size)).astype(dtype)


# Timesteps per chunk: a chunk's pre-activations, gates and states (k timesteps of (B, width) each) stay
# in the L2 cache (1 MiB per core here) from the input GEMM through the recurrence to the local
# derivatives, instead of three passes over (L, B, width) arrays from main memory (measured: 2-3 ms of a
# 28 ms LSTM forward at (B, T, H) = (32, 200, 128)).
CHUNK_BYTES = 1 << 18


def chunk_length(B: int, width: int, dtype) -> int:
    """Timesteps per cache-sized chunk for arrays of shape (B, width) per timestep."""
    return max(1, CHUNK_BYTES // (B * width * np.dtype(dtype).itemsize))
