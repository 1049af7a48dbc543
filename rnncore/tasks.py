"""Synthetic long-term-dependency tasks, generated from a seeded ``np.random.Generator``.

Every task returns time-first arrays: inputs ``X`` of shape (L, B, D), where L is the sequence length
(``seq_len`` T for all tasks except ``copy``, whose sequences are T + 20 long), B the batch size and D
the task's input size. Targets are class indices (cross-entropy tasks) or real vectors (MSE).

=================  =====  ======  ==============  ===============================================
task               D      O       loss            chance baseline (best memoryless predictor)
=================  =====  ======  ==============  ===============================================
adding             2      1       mse             last: Var(u1 + u2) = 1/6 ~= 0.167; every: the
                                                  running sum's variance, averaged over t (exact)
copy               10     9       cross_entropy   10 ln(8) / (T + 20); accuracy on the 10 recall
                                                  steps 1/8
temporal_order     6      4       cross_entropy   ln 4, accuracy 1/4
recall             K + 1  K       cross_entropy   last: ln K, accuracy 1/K; every: t=0 is free, so
                                                  ln K (T-1)/T, accuracy (1 + (T-1)/K) / T
=================  =====  ======  ==============  ===============================================

- ``adding``: channel 0 carries U[0,1] values, channel 1 marks two of them: the first among the first
  10% of positions (at least position 0), the second in the second half. The target is their sum (last),
  or the running sum of the marked values seen so far (every).
- ``copy`` (Hochreiter & Schmidhuber 1997; Arjovsky et al. 2016): 10 symbols from an alphabet of 8, then
  T - 1 blanks, a delimiter, and 10 blanks during which the 10 symbols must be reproduced. Target: blank
  (class 8) everywhere except the last 10 steps. The memoryless predictor outputs blank with certainty
  (loss 0) and is uniform over 8 symbols on the last 10 steps.
- ``temporal_order`` (Hochreiter & Schmidhuber 1997; Pascanu et al. 2013): distractor symbols c..f, with
  an A or B at a position in [T/10, 2T/10) and another in [4T/10, 5T/10); the class at the end is the
  order AA, AB, BA, BB (0..3).
- ``recall``: token classes 0..K-1 (K = num_classes) one-hot in channels 0..K-1, channel K flags t = 0.
  The first token's class must be named after T - 1 distractor tokens drawn from the same K classes.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .config import Config
from .records import TaskInfo

COPY_SYMBOLS, COPY_LENGTH = 8, 10  # alphabet and number of symbols to copy


@dataclass
class Batch:
    """One training batch. ``targets`` is (L, B) int / (L, B, O) float when the loss is at every step,
    (B,) int / (B, O) float when only at the last. ``metric_steps`` selects the timesteps the accuracy is
    measured on (every-mode only; None = all)."""

    inputs: np.ndarray
    targets: np.ndarray
    metric_steps: slice | None = None


def sequence_length(config: Config) -> int:
    """L: the number of timesteps of one sequence (= the length of every per-timestep array)."""
    return config.seq_len + 2 * COPY_LENGTH if config.task == "copy" else config.seq_len


def truncation_cuts(config: Config) -> bool:
    """Whether truncated BPTT cuts the sequence: k < L (k >= L is full BPTT, whatever k says)."""
    return config.truncate is not None and config.truncate < sequence_length(config)


def sizes(config: Config) -> tuple[int, int]:
    """(input_size D, output_size O) of the task."""
    return {"adding": (2, 1), "copy": (COPY_SYMBOLS + 2, COPY_SYMBOLS + 1), "temporal_order": (6, 4),
            "recall": (config.num_classes + 1, config.num_classes)}[config.task]


def _adding_positions(T: int) -> tuple[int, int, int]:
    """First marker in [0, n1), second in [half, T)."""
    n1 = max(1, T // 10)
    half = max(n1, T // 2)
    return n1, half, T


def _order_positions(T: int) -> tuple[int, int, int, int]:
    """temporal_order: first symbol in [lo1, hi1), second drawn in [lo2, hi2) (then kept after the first)."""
    return T // 10, max(T // 10 + 1, 2 * T // 10), 4 * T // 10, max(4 * T // 10 + 1, 5 * T // 10)


def sample(config: Config, rng: np.random.Generator, batch_size: int | None = None) -> Batch:
    """Draw one batch (time-first) in ``config.dtype``."""
    B = batch_size or config.batch_size
    T, L = config.seq_len, sequence_length(config)
    D, O = sizes(config)
    dtype = np.dtype(config.dtype)
    every = config.target_mode == "every"
    X = np.zeros((L, B, D), dtype=dtype)
    rows = np.arange(B)
    if config.task == "adding":
        n1, half, _ = _adding_positions(T)
        X[:, :, 0] = rng.random((T, B))
        p1 = rng.integers(0, n1, size=B)
        p2 = rng.integers(half, T, size=B)
        X[p1, rows, 1] = 1.0
        X[p2, rows, 1] = 1.0
        marked = X[:, :, 0] * X[:, :, 1]
        targets = np.cumsum(marked, axis=0)[:, :, None] if every else marked.sum(0)[:, None]
        return Batch(X, targets.astype(dtype))
    if config.task == "copy":
        symbols = rng.integers(0, COPY_SYMBOLS, size=(COPY_LENGTH, B))
        X[np.arange(COPY_LENGTH)[:, None], rows[None, :], symbols] = 1.0
        X[COPY_LENGTH:, :, COPY_SYMBOLS] = 1.0  # blanks
        X[T + COPY_LENGTH - 1, :, COPY_SYMBOLS] = 0.0
        X[T + COPY_LENGTH - 1, :, COPY_SYMBOLS + 1] = 1.0  # delimiter
        targets = np.full((L, B), COPY_SYMBOLS, dtype=np.int64)
        targets[L - COPY_LENGTH:] = symbols
        return Batch(X, targets, metric_steps=slice(L - COPY_LENGTH, L))
    if config.task == "temporal_order":
        X[np.arange(T)[:, None], rows[None, :], 2 + rng.integers(0, 4, size=(T, B))] = 1.0
        lo1, hi1, lo2, hi2 = _order_positions(T)
        p1 = rng.integers(lo1, hi1, size=B)
        p2 = np.minimum(np.maximum(rng.integers(lo2, hi2, size=B), p1 + 1), T - 1)
        s1, s2 = rng.integers(0, 2, size=B), rng.integers(0, 2, size=B)
        for p, s in ((p1, s1), (p2, s2)):
            X[p, rows, :] = 0.0
            X[p, rows, s] = 1.0
        return Batch(X, 2 * s1 + s2)
    # recall
    K = config.num_classes
    tokens = rng.integers(0, K, size=(T, B))
    X[np.arange(T)[:, None], rows[None, :], tokens] = 1.0
    X[0, :, K] = 1.0
    first = tokens[0]
    targets = np.broadcast_to(first, (T, B)).copy() if every else first
    return Batch(X, targets)


def _adding_every_chance(T: int) -> float:
    """Mean over t of Var(S_t), S_t = u1 [p1 <= t] + u2 [p2 <= t]: the best per-timestep constant's MSE."""
    n1, half, _ = _adding_positions(T)
    t = np.arange(T)
    a = np.minimum(t + 1, n1) / n1  # P(p1 <= t)
    b = np.clip(t + 1 - half, 0, T - half) / (T - half)  # P(p2 <= t)
    second_moment = a / 3 + b / 3 + a * b / 2  # E[u^2] = 1/3, E[u1 u2] = 1/4
    return float(np.mean(second_moment - (a + b) ** 2 / 4))


def informative_spans(config: Config) -> list[dict]:
    """Where the task's information enters: the timesteps [start, stop) that may hold what the target
    depends on (each example puts it at one position in the span, or in all of it), with what it is.
    The distance from these inputs to the loss is the task's dependency length."""
    T = config.seq_len
    if config.task == "adding":
        n1, half, _ = _adding_positions(T)
        return [{"start": 0, "stop": n1, "what": "first marked value"},
                {"start": half, "stop": T, "what": "second marked value"}]
    if config.task == "copy":
        return [{"start": 0, "stop": COPY_LENGTH, "what": f"the {COPY_LENGTH} symbols to copy"}]
    if config.task == "temporal_order":
        lo1, hi1, lo2, hi2 = _order_positions(T)
        # the second symbol comes after the first and before the end (this widens the span for T < 10)
        return [{"start": lo1, "stop": hi1, "what": "first A/B symbol"},
                {"start": max(lo2, lo1 + 1), "stop": min(max(hi2, hi1 + 1), T), "what": "second A/B symbol"}]
    return [{"start": 0, "stop": 1, "what": "the token to recall"}]


def task_info(config: Config) -> TaskInfo:
    """Facts the page needs to draw the task's chance baseline and where its information is:
    ``extra["sequence_length"]`` (L) and ``extra["informative"]`` (:func:`informative_spans`); for copy,
    whose loss has a term at every step, ``extra["answer"]``: the timesteps [start, stop) whose terms score
    the recalled symbols (the others' target is the blank symbol)."""
    T, L = config.seq_len, sequence_length(config)
    D, O = sizes(config)
    mode = config.target_mode
    extra: dict = {"sequence_length": L, "informative": informative_spans(config)}
    if config.task == "adding":
        chance = 1 / 6 if mode == "last" else _adding_every_chance(T)
        return TaskInfo("adding", D, O, "mse", "mse", chance, chance, mode, extra)
    if config.task == "copy":
        extra.update(recall_steps=COPY_LENGTH, alphabet=COPY_SYMBOLS,
                     metric_note="accuracy on the last 10 (recall) steps",
                     answer={"start": L - COPY_LENGTH, "stop": L, "what": f"the {COPY_LENGTH} symbols recalled"})
        return TaskInfo("copy", D, O, "cross_entropy", "accuracy",
                        COPY_LENGTH * math.log(COPY_SYMBOLS) / L, 1 / COPY_SYMBOLS, mode, extra)
    if config.task == "temporal_order":
        return TaskInfo("temporal_order", D, O, "cross_entropy", "accuracy", math.log(4), 0.25, mode, extra)
    K = config.num_classes
    if mode == "last":
        return TaskInfo("recall", D, O, "cross_entropy", "accuracy", math.log(K), 1 / K, mode, extra)
    return TaskInfo("recall", D, O, "cross_entropy", "accuracy", math.log(K) * (T - 1) / T,
                    (1 + (T - 1) / K) / T, mode, extra)
