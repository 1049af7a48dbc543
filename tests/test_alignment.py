"""The engine's buffers and per-step weight copies start on 64-byte boundaries (rnncore.cells.base.ALIGNMENT),
a speed measure only: the numbers must not depend on it."""
import numpy as np
import pytest

from rnncore import Config
from rnncore.cells import base, gru, lstm, rnn
from rnncore.trainer import Model


@pytest.mark.parametrize("shape", [(0,), (3,), (7, 5), (2, 3, 129), (1, 0, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int8])
def test_aligned_arrays_start_on_the_alignment_and_are_plain_c_arrays(shape, dtype):
    for _ in range(5):  # several allocations: malloc's own offsets vary
        array = base.aligned_empty(shape, dtype)
        assert array.shape == shape and array.dtype == dtype and array.flags.c_contiguous and array.flags.writeable
        assert array.ctypes.data % base.ALIGNMENT == 0 or array.size == 0
    source = np.arange(2 * 3 * 5, dtype=dtype).reshape(2, 3, 5).transpose(2, 0, 1)  # a non-contiguous view
    copy = base.aligned_copy(source)
    assert copy.ctypes.data % base.ALIGNMENT == 0 and copy.flags.c_contiguous
    np.testing.assert_array_equal(copy, source)
    assert not np.shares_memory(copy, source)


def test_workspace_buffers_are_aligned_and_reused():
    workspace = base.Workspace()
    first = workspace.empty("a", (5, 16, 33), np.float32)
    zeros = workspace.zeros("z", (4, 7), np.float64)
    assert first.ctypes.data % base.ALIGNMENT == 0 and zeros.ctypes.data % base.ALIGNMENT == 0
    assert not zeros.any()
    assert workspace.empty("a", (5, 16, 33), np.float32) is first


def _misaligned_empty(shape, dtype):
    """An array 16 bytes past a 64-byte boundary: NumPy's usual placement of a large allocation."""
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    raw = np.empty(size + 128, dtype=np.uint8)
    start = -raw.ctypes.data % 64 + 16
    return raw[start:start + size].view(dtype).reshape(shape)


def _misaligned_copy(a):
    out = _misaligned_empty(a.shape, a.dtype)
    np.copyto(out, a)
    return out


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("batch_size, hidden_size", [(16, 128), (32, 64)])
def test_results_are_bit_identical_with_misaligned_buffers(cell, batch_size, hidden_size, monkeypatch):
    """float32 at shapes where OpenBLAS's alignment-sensitive small-GEMM path runs (B x H times H x H):
    a whole training step's loss, gradients and per-timestep records, aligned and 16 bytes off."""
    config = Config(cell=cell, task="recall", seq_len=30, batch_size=batch_size, hidden_size=hidden_size,
                    dtype="float32", seed=3)

    def step():
        model = Model(config)
        return model.loss_and_grads(model.batch(), reuse=True)

    aligned = step()
    for module in (rnn, lstm, gru, base):  # wherever a cell module holds its own reference
        for name, replacement in (("aligned_empty", _misaligned_empty), ("aligned_copy", _misaligned_copy)):
            if hasattr(module, name):
                monkeypatch.setattr(module, name, replacement)
    misaligned = step()
    params = Model(config).params
    weights = {"rnn": lambda: rnn.aligned_copy(params["W_h"]), "lstm": lambda: lstm.stacked_weights(params),
               "gru": lambda: gru.gate_major(params["W_h"], 3)}[cell]()
    assert weights.ctypes.data % 64 == 16 and base.Workspace().empty("x", (3,), np.float32).ctypes.data % 64 == 16
    assert aligned[0] == misaligned[0] and aligned[1] == misaligned[1]
    for name, grad in aligned[2].items():
        np.testing.assert_array_equal(misaligned[2][name], grad, err_msg=name)
    for name in ("log10_grad_norm_per_step", "log10_cell_grad_norm_per_step", "gate_mean_per_step",
                 "log10_weight_grad_per_step", "log10_input_weight_grad_per_step", "log10_input_grad_per_step",
                 "input_saliency"):
        if getattr(aligned[3], name) is not None:
            np.testing.assert_array_equal(getattr(misaligned[3], name), getattr(aligned[3], name), err_msg=name)
