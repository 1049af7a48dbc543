r"""Output layer and losses, shared by every cell.

    y_t = h_t W_o + c                    W_o (H, O), c (O,)
    mse:           L = mean over rows of sum_o (y - y*)^2            dL/dy = 2 (y - y*) / N
    cross_entropy: L = mean over rows of -log softmax(y)[y*]         dL/dy = (softmax(y) - onehot(y*)) / N
                   (both to full relative precision for a confident row, whose loss is below ulp(1))

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
        rows, top = np.arange(N), np.argmax(y, axis=1)
        shifted = y - y.max(axis=1, keepdims=True)
        exp_shifted = np.exp(shifted)
        log_norm = np.log(exp_shifted.sum(axis=1, keepdims=True))
        log_probs = shifted - log_norm  # what dy is formed from
        loss = float(np.sum(_row_cross_entropy(shifted, exp_shifted, rows, top, targets), dtype=np.float64)) / N
        correct = top == targets
        if every and batch.metric_steps is not None:
            correct = correct.reshape(L, B)[batch.metric_steps]
        metric = float(np.mean(correct))
        dy = np.exp(log_probs)
        _subtract_onehot(dy, rows, targets)
        dy *= 1.0 / N
    if not want_grads:
        return loss, metric, None, None
    grads = {"W_o": h.T @ dy, "c": dy.sum(axis=0)}
    if dh_out is None:  # lazily zeroed pages: free for the unused rows
        dh_out = np.empty((L, B, H), dtype=hidden.dtype) if every else np.zeros((L, B, H), dtype=hidden.dtype)
    np.matmul(dy, W_o.T, out=dh_out.reshape(L * B, H) if every else dh_out[L - 1])
    return loss, metric, dh_out, grads


SATURATED = 1.0 - 2.0**-10
"""p(target) above which dL/dy[target] = p - 1 is formed as minus the other classes' probabilities."""


def _subtract_onehot(probs: np.ndarray, rows: np.ndarray, targets: np.ndarray) -> None:
    """probs[rows, targets] -= 1, in place, to full relative precision where the target is confident.

    p - 1 itself is exact for p >= 1/2 (Sterbenz), but p carries its own rounding, ~eps, and 1 - p can be
    far smaller: in float32 a row with loss 1e-7 has p = 1 - 1e-7, which rounds to 1, and its p - 1 to 0
    instead of -1e-7, so dL/dh loses that component (and gradcheck, whose finite differences see it,
    failed: loss 1.6e-29, default sizes). Where p > :data:`SATURATED`, p - 1 = -sum_{j != target} p_j,
    each p_j exact to its own ulp; elsewhere |p - 1| > 2^-10 and the plain difference is accurate to
    2^10 eps (and keeps the bits every run before had)."""
    probs[rows, targets] -= 1.0
    sure = rows[probs[rows, targets] > SATURATED - 1.0]  # p - 1 is exact here: p > SATURATED
    if sure.size:
        target = targets[sure]
        probs[sure, target] = 0.0
        probs[sure, target] = -probs[sure].sum(axis=1)


def _row_cross_entropy(shifted: np.ndarray, exp_shifted: np.ndarray, rows: np.ndarray, top: np.ndarray,
                       targets: np.ndarray) -> np.ndarray:
    """-log softmax(y)[y*] per row, to full relative precision, from shifted = y - max(y) (N, O), its exp
    (overwritten: its top entries become 0) and top = argmax(y):

        log1p(sum_{j != top} e^{shifted_j}) - shifted[y*]        top = argmax(y), shifted[top] = 0

    The usual log(sum_j e^{shifted_j}) - shifted[y*] is log(1 + x) with x the other terms' sum: a
    confident row's whole loss, x below ulp(1) = 2.2e-16 (float64), rounds to 0, and a loss of 1e-5
    keeps only ~11 digits, which is what finite differences of the loss see (gradcheck called such
    configs "failed": loss 2.1e-5 and 0, sizes of the default check). log1p of x keeps them. Only the
    reported loss comes from here; the gradient is the softmax as before, with its confident rows' target
    entries formed by :func:`_subtract_onehot`."""
    exp_shifted[rows, top] = 0.0  # the other classes' terms
    return np.log1p(exp_shifted.sum(axis=1)) - shifted[rows, targets]
