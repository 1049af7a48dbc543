"""The matrix products of one rnncore training step alone, for the bench's 'GEMMs ms' column."""
from __future__ import annotations

import numpy as np

from rnncore.cells import get_cell
from rnncore.cells.base import aligned_copy, aligned_empty


def gemm_floor(cell: str, B: int, T: int, D: int, H: int):
    """A step() running only the matrix products of one rnncore training step, with the cell's shapes and
    calls: per timestep the recurrent GEMM of the forward pass (h_{t-1} times the k gate blocks of W_h;
    k = 1 for the RNN, 3 GRU, 4 LSTM) and of the backward pass (da_t W_h^T), then dW_h and dW_x over all
    T*B rows, on arrays aligned as the engine's (rnncore.cells.base.ALIGNMENT). What no elementwise work can
    go below; its ms against (b) / 1.5 shows whether the 1.5x target is reachable at a shape. Timed alone;
    inside the step's loops the same products run no faster (at (64, 100, 8, 512) the forward ones took
    0.35 ms each there against 0.29 ms alone)."""
    k = get_cell(cell).param_shapes(D, H)["W_h"][1] // H  # gate blocks, as the cell declares them
    rng = np.random.default_rng(0)

    def rand(*shape):
        return aligned_copy(rng.standard_normal(shape, dtype=np.float32))

    h, W_blocks, per_gate = rand(B, H), rand(k, H, H), aligned_empty((k, B, H), np.float32)
    if k == 1:  # the RNN's own 2-D call
        W_blocks, per_gate = W_blocks[0], per_gate[0]
    da, W_T, dh = rand(B, k * H), rand(k * H, H), aligned_empty((B, H), np.float32)
    states, X, delta = rand(T * B, H), rand(T * B, D), rand(T * B, k * H)

    def step():
        for _ in range(T):
            np.matmul(h, W_blocks, out=per_gate)
        for _ in range(T):
            np.matmul(da, W_T, out=dh)
        return states.T @ delta, X.T @ delta

    return step
