"""LSTM and GRU rows of the engine benchmark: ms per training step of rnncore (forward + backward + all
per-timestep diagnostics, incl. ||dL/dc_t|| and gate means + norm clip + Adam) next to PyTorch CPU in the
same process:

(a) torch.nn.LSTMCell / GRUCell unrolled in Python with ``retain_grad()`` on every state (h_t, and c_t for
    the LSTM): the code a user writes to get the per-timestep gradient norms rnncore reports;
(b) fused torch.nn.LSTM / GRU (no per-timestep gradients). On CPU nn.LSTM runs oneDNN's fused RNN
    primitive (a hand-vectorised kernel for the whole sequence), nn.GRU torch's own per-timestep kernels;
(b') for the LSTM also nn.LSTM with oneDNN off: torch's per-timestep path, the kind (b) is for the RNN and
    GRU (``peers.fused``).

Targets, as for the vanilla RNN: x (a) >= 2 and x (b) >= 1.5. The column 'GEMMs ms' times rnncore's matrix
products alone (same shapes and calls, no elementwise work); '(a)/2' and '(b)/1.5' are the ms rnncore
must reach. Where 'GEMMs ms' is close to or above them, the target is out of reach for this engine at that
shape, whatever its elementwise code does (a NumPy call costs ~1-3 us even on a (B, H) block, and an
LSTM step needs ~25 of them).

    python -m tests.bench.gated                       # both cells, the three shapes below
    python -m tests.bench.gated --cells lstm --rounds 2

Importing this module also registers the peers in ``tests.bench.peers.PEERS["lstm"|"gru"]``, so the main
runner (``python -m tests.bench``) prints the same columns for the gated cells once it imports it.
Same protocol as the main runner: task recall with num_classes = D - 1, loss at the last step, float32,
clip norm 1.0, Adam 1e-3, record_every=1; ``--rounds`` interleaved rounds, per engine the best round's
median ms per step (``peers.time_step``); rnncore's ms + its spectral radius's amortised share; numpy's
BLAS (threadpoolctl) and torch get the same number of threads (``--threads``, default BLAS's).
"""
from __future__ import annotations

import argparse
import os
from functools import partial

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from rnncore import Config, train
from rnncore.tasks import sample
from rnncore.trainer import spectral_every, spectral_radius

from .floor import gemm_floor
from .peers import (
    PEERS,
    WARMUP_STEPS,
    _tensors,
    add_denormals_argument,
    add_peer_columns,
    apply_denormals_argument,
    bench_fields,
    blas_threads,
    fused,
    peer_step,
    span,
    time_step,
    timed_rounds,
    warmed_up,
)

SHAPES = [(32, 100, 8, 64), (32, 200, 8, 128), (16, 500, 8, 128)]  # (batch B, T, input D, hidden H)


def cell_unrolled(cell_name: str):
    """Peer (a) for ``cell_name``: torch.nn.LSTMCell / GRUCell unrolled with retain_grad() on every state."""
    lstm = cell_name == "lstm"

    def factory(batch, hidden_size: int):
        inputs, targets = _tensors(batch)
        L, B, D = inputs.shape
        cell = (torch.nn.LSTMCell if lstm else torch.nn.GRUCell)(D, hidden_size)
        head = torch.nn.Linear(hidden_size, int(targets.max()) + 1)
        params = list(cell.parameters()) + list(head.parameters())
        opt = torch.optim.Adam(params, lr=1e-3)

        def step():
            opt.zero_grad(set_to_none=True)
            h, c = torch.zeros(B, hidden_size), torch.zeros(B, hidden_size)
            hs, cs = [], []
            for t in range(L):
                if lstm:
                    h, c = cell(inputs[t], (h, c))
                    c.retain_grad()
                    cs.append(c)
                else:
                    h = cell(inputs[t], h)
                h.retain_grad()
                hs.append(h)
            loss = torch.nn.functional.cross_entropy(head(h), targets)
            loss.backward()
            norms = [torch.stack([s.grad for s in states]).flatten(1).norm(dim=1) for states in (hs, cs) if states]
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            return float(loss.detach()), norms

        return step

    return factory


PEERS["lstm"] = {"cell_loop_ms": ("(a) torch LSTMCell+retain_grad", cell_unrolled("lstm")),
                 "fused_ms": ("(b) torch nn.LSTM fused (oneDNN)", fused(torch.nn.LSTM)),
                 "native_fused_ms": ("(b') torch nn.LSTM fused, oneDNN off", fused(torch.nn.LSTM, onednn=False))}
PEERS["gru"] = {"cell_loop_ms": ("(a) torch GRUCell+retain_grad", cell_unrolled("gru")),
                "fused_ms": ("(b) torch nn.GRU fused", fused(torch.nn.GRU))}


def _engine_step(cell: str, B: int, T: int, D: int, H: int, warmup: int = WARMUP_STEPS):
    """(config, step, spectral_share_ms): one rnncore training step per call, and the amortised ms of the
    spectral radius, which the engine computes every ``spectral_every`` steps only (so the median of a
    round never sees it): best-of-3 ms of one eigvals / that interval, added to rnncore's ms."""
    config = Config(**bench_fields(cell, B, T, D, H))
    trainer = warmed_up(train(config, record_every=1), warmup)
    W = trainer.model.cell.recurrent_weight(trainer.params)
    eig_ms = min(time_step(lambda: spectral_radius(W), 0.0, 1) for _ in range(3))
    return config, (lambda: next(trainer)), eig_ms / spectral_every(config)


def rows(cells=("lstm", "gru"), shapes=SHAPES, rounds: int = 3, seconds: float = 0.6,
         warmup: int = WARMUP_STEPS) -> list[dict]:
    """One dict per (cell, shape): rnncore_ms, each peer's ms under its :data:`PEERS` column (cell_loop_ms
    (a), fused_ms (b), and for the LSTM native_fused_ms (b')), the ratios vs_cell_loop = (a) / rnncore,
    vs_fused = (b) / rnncore (and vs_native_fused) (> 1: rnncore is faster) and gemm_ms, the ms of
    rnncore's matrix products alone (:func:`gemm_floor`)."""
    out = []
    for cell in cells:
        for B, T, D, H in shapes:
            config, ours, spectral_share = _engine_step(cell, B, T, D, H, warmup)
            batch = sample(config, np.random.default_rng(0))
            peers = [peer_step(factory, batch, H) for _, factory in PEERS[cell].values()]
            steps = [ours, *peers, gemm_floor(cell, B, T, D, H)]
            ours_ms, *peer_ms, gemm_ms = timed_rounds([partial(time_step, step, seconds) for step in steps], rounds)
            ours_ms = [ms + spectral_share for ms in ours_ms]
            row = {"cell": cell, "shape": (B, T, D, H), "rnncore_ms": min(ours_ms), "gemm_ms": min(gemm_ms)}
            out.append(add_peer_columns(row, ours_ms, dict(zip(PEERS[cell], peer_ms, strict=True))))
    return out


TARGET_A, TARGET_B = 2.0, 1.5  # the vanilla RNN's targets (tests/bench/__main__.py)


B_NATIVE_MS = "(b') ms"


def format_rows(results: list[dict]) -> str:
    """The table and the targets lines; 'GEMMs ms' = rnncore's matrix products alone, '(a)/2' and '(b)/1.5'
    the ms the targets need; (b') where the cell has it (the LSTM: nn.LSTM with oneDNN off), else '-'."""
    lines = [f"{'cell':5} {'(B, T, D, H)':>20} {'rnncore ms':>11} {'(a) cell ms':>12} {'x':>6} {'rounds':>10} "
             f"{'(b) fused ms':>13} {'x':>6} {'rounds':>10} {'GEMMs ms':>9} {'(a)/2':>7} {'(b)/1.5':>8} "
             f"{B_NATIVE_MS:>8} {'x':>6}"]
    for r in results:
        native = (f"{r['native_fused_ms']:8.2f} {r['vs_native_fused']:6.2f}" if "native_fused_ms" in r
                  else f"{'-':>8} {'-':>6}")
        lines.append(f"{r['cell']:5} {str(r['shape']):>20} {r['rnncore_ms']:11.2f} {r['cell_loop_ms']:12.2f} "
                     f"{r['vs_cell_loop']:6.2f} {span(r['vs_cell_loop_rounds']):>10} {r['fused_ms']:13.2f} "
                     f"{r['vs_fused']:6.2f} {span(r['vs_fused_rounds']):>10} {r['gemm_ms']:9.2f} "
                     f"{r['cell_loop_ms'] / TARGET_A:7.2f} {r['fused_ms'] / TARGET_B:8.2f} {native}")
    if results:
        low_a = min(r["vs_cell_loop"] for r in results)
        low_b = min(r["vs_fused"] for r in results)
        lines.append(f"targets: >= {TARGET_A}x vs (a): {'met' if low_a >= TARGET_A else 'NOT met'} (min {low_a:.2f}x); "
                     f">= {TARGET_B}x vs (b): {'met' if low_b >= TARGET_B else 'NOT met'} (min {low_b:.2f}x)")
        native = [r["vs_native_fused"] for r in results if "vs_native_fused" in r]
        if native:
            lines.append(f"(b') = nn.LSTM with oneDNN off, torch's own per-timestep kernels (as nn.RNN and nn.GRU "
                         f"always run); (b) nn.LSTM runs oneDNN's fused RNN primitive: x (b') min {min(native):.2f}")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench.gated")
    parser.add_argument("--cells", default="lstm,gru")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=0.6, help="time per engine per round")
    parser.add_argument("--threads", type=int, default=None, help="BLAS and torch threads (default: BLAS's)")
    parser.add_argument("--warmup", type=int, default=WARMUP_STEPS, help="rnncore training steps before timing")
    add_denormals_argument(parser)
    args = parser.parse_args(argv)
    denormals = apply_denormals_argument(args)
    threads = args.threads or blas_threads()
    with threadpool_limits(limits=threads, user_api="blas"):
        torch.set_num_threads(threads)
        load = os.getloadavg()
        print(f"threads: numpy BLAS {threads}, torch {torch.get_num_threads()}; load average {load[0]:.2f} "
              f"{load[1]:.2f} {load[2]:.2f}; torch {torch.__version__}, numpy {np.__version__}; "
              f"{denormals}; x = peer ms / rnncore ms")
        print(format_rows(rows(tuple(args.cells.split(",")), rounds=args.rounds, seconds=args.seconds,
                               warmup=args.warmup)))
        load = os.getloadavg()
        print(f"load average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
