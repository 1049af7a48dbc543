r"""Output layer and losses, shared by every cell.

    y_t = h_t W_o + c                    W_o (H, O), c (O,)
    mse:           L = mean over rows of sum_o (y - y*)^2            dL/dy = 2 (y - y*) / N
    cross_entropy: L = mean over rows of -log softmax(y)[y*]         dL/dy = (softmax(y) - onehot(y*)) / N

Rows are the B sequences (target at the last step only, N = B) or all L*B (sequence, timestep) pairs
(target at every step, N = L B).
"""
from __future__ import annotations

import numpy as np

from .tasks import Batch


def output_loss(hidden: np.ndarray, W_o: np.ndarray, c: np.ndarray, batch: Batch, loss_name: str,
                every: bool, want_grads: bool = True, dh_out: np.ndarray | None = None):
    """Forward + backward of the output layer.

    hidden (L, B, H). Returns (loss, metric, dh_loss (L, B, H), {"W_o": ..., "c": ...}); dh_loss is
    dL/dh_t through y_t only (zeros except the last row when ``every`` is False). ``dh_out``: an
    (L, B, H) buffer to return as dh_loss (the trainer reuses one across steps); when ``every`` is
    False only its last row is written, so its other rows must be zero already."""
    L, B, H = hidden.shape
    h = hidden.reshape(L * B, H) if every else hidden[L - 1]
    y = h @ W_o + c
    N = y.shape[0]
    targets = batch.targets.reshape(N, -1) if loss_name == "mse" else batch.targets.reshape(N)
    if loss_name == "mse":
        diff = y - targets
        loss = float(np.sum(diff * diff, dtype=np.float64)) / N
        metric = loss
        dy = diff * (2.0 / N)
    else:
        shifted = y - y.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        log_probs = shifted - log_norm
        rows = np.arange(N)
        loss = -float(np.sum(log_probs[rows, targets], dtype=np.float64)) / N
        correct = np.argmax(y, axis=1) == targets
        if every and batch.metric_steps is not None:
            correct = correct.reshape(L, B)[batch.metric_steps]
        metric = float(np.mean(correct))
        dy = np.exp(log_probs)
        dy[rows, targets] -= 1.0
        dy *= 1.0 / N
    if not want_grads:
        return loss, metric, None, None
    grads = {"W_o": h.T @ dy, "c": dy.sum(axis=0)}
    if dh_out is None:  # lazily zeroed pages: free for the unused rows
        dh_out = np.empty((L, B, H), dtype=hidden.dtype) if every else np.zeros((L, B, H), dtype=hidden.dtype)
    np.matmul(dy, W_o.T, out=dh_out.reshape(L * B, H) if every else dh_out[L - 1])
    return loss, metric, dh_out, grads
