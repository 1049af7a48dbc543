"""PyTorch peers for the engine benchmark: one full training step each (forward, loss, backward, clip,
Adam), on the same shapes and data as rnncore.

A peer is ``factory(batch: rnncore.tasks.Batch, hidden_size) -> step()``; ``step()`` runs one training
step. :data:`PEERS` maps a cell name to its peers, {result column: (label, factory)}; tests/bench/gated.py
adds ``PEERS["lstm"]`` and ``PEERS["gru"]`` (``__main__`` imports it).
"""
from __future__ import annotations

import statistics
import time

import torch
from threadpoolctl import threadpool_info

SETTLE_SECONDS = 0.25
"""Pause before an engine's round. The engine that ran before leaves its worker threads busy-waiting
for work (OpenBLAS up to 2^28 cycles, torch's GNU OpenMP similarly): measured here, rnncore's step at
(64, 100, 8, 512) took 90-119 ms right after torch steps against 80-86 ms alone, and torch is slowed
the same way after NumPy. After this pause both sets of threads are asleep."""


def bench_fields(cell: str, B: int, T: int, D: int, H: int) -> dict:
    """The keywords of rnncore's Config for a bench row (every runner's, and tests/bench/ab.py's child
    processes'): recall with D - 1 classes (so D inputs), tanh, float32, norm clipping 1.0, Adam."""
    return {"cell": cell, "task": "recall", "num_classes": D - 1, "seq_len": T, "hidden_size": H, "batch_size": B,
            "activation": "tanh", "dtype": "float32", "clip": "norm", "clip_threshold": 1.0, "optimizer": "adam",
            "steps": 20000}


def blas_threads() -> int:
    """Threads of the BLAS NumPy uses (as threadpoolctl reports them): both runners' default --threads."""
    counts = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    return max(counts) if counts else 1


WARMUP_STEPS = 50
"""Training steps rnncore takes before its steps are timed (both runners; ``--warmup``). A trained network's
steps cost what they cost in a run: saturated units send more of tanh' to its exp route, and the Gram
sums of the weight-gradient diagnostics cancel more (session 27: a too cautious recheck of those sums ran on
40-70% of the timesteps of (64, 100, 8, 512) from about step 5 on, 1.5x the step time, which a bench timing
steps 1-20 did not see). The peers' step time does not depend on their weights' values (their subnormals
are flushed, :data:`FLUSH_DENORMALS`)."""


def warmed_up(trainer, steps: int):
    """``trainer`` after ``steps`` training steps (see :data:`WARMUP_STEPS`)."""
    for _ in range(steps):
        next(trainer)
    return trainer


def settle() -> None:
    time.sleep(SETTLE_SECONDS)


def time_step(step, seconds: float, min_steps: int = 3) -> float:
    """Median ms per call of ``step()`` over at least ``seconds`` and ``min_steps`` calls (after a
    :func:`settle` pause and one warm-up call). Callers run several interleaved rounds per engine and
    keep the best round: the median of a round ignores short bursts of background load, the best round
    ignores loaded rounds."""
    settle()
    step()
    times: list[float] = []
    while len(times) < min_steps or sum(times) < seconds:
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def timed_rounds(measures, rounds: int) -> list[list[float]]:
    """ms[i][r] = ``measures[i]()`` in round r: each round runs every engine once, one after another
    (interleaved, so background load hits all of them alike). The tables report each engine's best round
    and, beside each ratio, :func:`round_ratios`."""
    ms: list[list[float]] = [[] for _ in measures]
    for _ in range(rounds):
        for times, measure in zip(ms, measures, strict=True):
            times.append(measure())
    return ms


def round_ratios(peer_ms: list[float], ours_ms: list[float]) -> tuple[float, float]:
    """(lowest, highest) over rounds of peer ms / rnncore ms within the same round: how far this machine's
    noise moves the ratio that the tables give as best peer round / best rnncore round."""
    ratios = [peer / ours for peer, ours in zip(peer_ms, ours_ms, strict=True)]
    return min(ratios), max(ratios)


def add_peer_columns(row: dict, ours_ms: list[float], peer_ms: dict[str, list[float]]) -> dict:
    """Fill ``row`` (which holds rnncore_ms) with each peer's best round under its :data:`PEERS` column
    (e.g. fused_ms), its ratio vs_<name> = peer / rnncore (e.g. vs_fused) and that ratio's range over the
    rounds, vs_<name>_rounds (:func:`round_ratios`; ``ours_ms``: rnncore's ms per round)."""
    for column, times in peer_ms.items():
        ratio = "vs_" + column.removesuffix("_ms")
        row[column] = min(times)
        row[ratio], row[ratio + "_rounds"] = row[column] / row["rnncore_ms"], round_ratios(times, ours_ms)
    return row


def span(bounds: tuple[float, float]) -> str:
    """'1.85-2.01': a ratio's range over the rounds (:func:`round_ratios`)."""
    return f"{bounds[0]:.2f}-{bounds[1]:.2f}"


FLUSH_DENORMALS = True
"""Run each peer step with ``torch.set_flush_denormal(True)`` (the CPU's flush-to-zero and
denormals-are-zero modes, on the calling thread; off again after the step, so NumPy's steps never run
with it). On Intel CPUs a vanished gradient full of subnormal numbers makes torch's default mode several
times slower (measured on a Xeon with AVX-512: fused nn.GRU at (16, 500, 8, 128) 376 against 135 ms a
step), while rnncore flushes such values itself (``rnncore.logscale.to_true_scale``); the peers get the
faster mode, so a ratio never credits rnncore with torch's subnormal penalty. ``--peer-denormals keep``
measures torch's default. At two threads torch's second (OpenMP) thread keeps the default mode."""


def peer_step(factory, batch, hidden_size: int):
    """``factory(batch, hidden_size)``'s step, wrapped per :data:`FLUSH_DENORMALS`."""
    step = factory(batch, hidden_size)
    if not FLUSH_DENORMALS:
        return step

    def flushing_step():
        torch.set_flush_denormal(True)
        try:
            return step()
        finally:
            torch.set_flush_denormal(False)

    return flushing_step


def add_denormals_argument(parser) -> None:
    """The ``--peer-denormals`` option of both bench runners (sets :data:`FLUSH_DENORMALS` once parsed)."""
    parser.add_argument("--peer-denormals", choices=("flush", "keep"), default="flush",
                        help="torch peers with flush-to-zero (default) or torch's default subnormal handling")


def apply_denormals_argument(args) -> str:
    """Set :data:`FLUSH_DENORMALS` from the parsed option; returns the header's description of it."""
    global FLUSH_DENORMALS
    FLUSH_DENORMALS = args.peer_denormals == "flush"
    return ("torch peers run with set_flush_denormal(True)" if FLUSH_DENORMALS
            else "torch peers keep torch's default subnormal handling")


def _tensors(batch):
    inputs = torch.from_numpy(batch.inputs.astype("float32"))
    targets = torch.from_numpy(batch.targets.reshape(-1).astype("int64"))
    return inputs, targets


def rnncell_unrolled(batch, hidden_size: int):
    """(a) torch.nn.RNNCell unrolled in Python with h.retain_grad() at every step: what a user writes to
    get ||dL/dh_t|| for every t from PyTorch."""
    inputs, targets = _tensors(batch)
    L, B, D = inputs.shape
    cell = torch.nn.RNNCell(D, hidden_size, nonlinearity="tanh")
    head = torch.nn.Linear(hidden_size, int(targets.max()) + 1)
    params = list(cell.parameters()) + list(head.parameters())
    opt = torch.optim.Adam(params, lr=1e-3)

    def step():
        opt.zero_grad(set_to_none=True)
        h, states = torch.zeros(B, hidden_size), []
        for t in range(L):
            h = cell(inputs[t], h)
            h.retain_grad()
            states.append(h)
        loss = torch.nn.functional.cross_entropy(head(h), targets)
        loss.backward()
        grad_norm_per_step = torch.stack([s.grad for s in states]).flatten(1).norm(dim=1)
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        return float(loss.detach()), grad_norm_per_step

    return step


def fused(module, onednn: bool = True, **options):
    """Peer (b): a fused torch layer, ``module(D, hidden_size, **options)`` (nn.RNN, nn.LSTM or nn.GRU; no
    per-timestep gradients), the loss on its last output.

    Which kernels that is depends on the layer: on CPU, nn.LSTM runs oneDNN's fused RNN primitive (one
    ``aten::mkldnn_rnn_layer`` call for the whole sequence forward, one ``..._backward``), while nn.RNN and
    nn.GRU run torch's own per-timestep kernels (``aten::mm``/``addmm`` and elementwise ops per step).
    ``onednn=False`` runs the step with oneDNN off (``torch.backends.mkldnn.enabled``), so that nn.LSTM
    takes torch's per-timestep path too (``tests/test_bench.py`` checks both)."""

    def factory(batch, hidden_size: int):
        inputs, targets = _tensors(batch)
        net = module(inputs.shape[2], hidden_size, **options)
        head = torch.nn.Linear(hidden_size, int(targets.max()) + 1)
        params = list(net.parameters()) + list(head.parameters())
        opt = torch.optim.Adam(params, lr=1e-3)

        def step():
            before = torch.backends.mkldnn.enabled
            torch.backends.mkldnn.enabled = onednn and before
            try:
                opt.zero_grad(set_to_none=True)
                out, _ = net(inputs)
                loss = torch.nn.functional.cross_entropy(head(out[-1]), targets)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                opt.step()
            finally:
                torch.backends.mkldnn.enabled = before
            return float(loss.detach())

        return step

    return factory


PEERS = {
    "rnn": {"cell_loop_ms": ("(a) torch RNNCell+retain_grad", rnncell_unrolled),
            "fused_ms": ("(b) torch nn.RNN fused", fused(torch.nn.RNN, nonlinearity="tanh"))},
}
"""Per cell, the peers by the result column they fill: label and factory."""
