"""Engine benchmark: ms per training step (forward + backward + all diagnostics + clip + Adam update),
rnncore vs PyTorch CPU peers in the same process, plus this machine's float32 matmul throughput.

    python -m tests.bench                           # rnn table; lstm/gru rows too (tests/bench/gated.py)
    python -m tests.bench --cells rnn --rounds 2 --threads 1

Config per shape (batch B, T, input D, hidden H): task recall with num_classes = D - 1 (so D inputs),
loss at the last step, tanh, float32, clip norm 1.0, Adam, record_every=1: every per-timestep array
(||dL/dh_t||, ||h_{t-1}^T delta_t||, ||dL/dx_t||, saliency, Pascanu bound, underflow count) and sigma_max
on every step, the spectral radius on the engine's own cadence (``rnncore.trainer.spectral_every``:
an eigendecomposition at most every k steps); rnncore's ms = its steps without the eigendecomposition
+ the eigendecomposition's measured ms / k (its exact amortised cost, without timing k steps). rnncore is
timed after ``--warmup`` (50) training steps, a trained network's steps (peers.WARMUP_STEPS: why).
'GEMMs ms' times the step's matrix products alone (tests/bench/floor.py), which run no faster inside the
step's loops: a floor for rnncore's ms, and its share of the peak a ceiling for rnncore's.
Peers (tests/bench/peers.py): (a) torch.nn.RNNCell unrolled in Python with h.retain_grad() at every
step, (b) fused torch.nn.RNN. Each engine is timed for ``--rounds`` interleaved rounds (background load
hits all of them alike); per engine the best round's median ms per step is reported; x = peer ms /
rnncore ms, and beside it (rounds) the range of peer / rnncore within one round over the rounds: how
far this machine's noise moves the ratio.
Threads: NumPy's BLAS (threadpoolctl) and torch.set_num_threads get the same number.
"""
from __future__ import annotations

import argparse
import os
import time
from functools import partial

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from rnncore import Config, train
from rnncore.cells import CELLS
from rnncore.tasks import sample
from rnncore.trainer import spectral_every, spectral_radius

from .floor import gemm_floor
from .peers import (
    PEERS,
    WARMUP_STEPS,
    add_denormals_argument,
    add_peer_columns,
    apply_denormals_argument,
    bench_fields,
    blas_threads,
    peer_step,
    settle,
    span,
    time_step,
    timed_rounds,
    warmed_up,
)

try:  # the LSTM/GRU rows; registers PEERS["lstm"], PEERS["gru"]
    from . import gated
except ImportError:
    gated = None

SHAPES = [(32, 100, 8, 64), (32, 200, 8, 128), (16, 500, 8, 128), (8, 1000, 8, 256), (64, 100, 8, 512)]
TARGET_A, TARGET_B, TARGET_MATMUL = 2.0, 1.5, 0.70


def simd_levels() -> str:
    """The SIMD targets NumPy dispatches to on this CPU, e.g. 'X86_V3 (not: X86_V4, AVX512_ICL, ...)'."""
    simd = np.show_config(mode="dicts").get("SIMD Extensions", {})
    missing = ", ".join(simd.get("not found", [])) or "none"
    return f"{', '.join(simd.get('found', [])) or 'baseline only'} (not on this CPU: {missing})"


def matmul_gflops(n: int = 2048, repeats: int = 5) -> tuple[float, float]:
    """Best-of float32 (n x n) @ (n x n) throughput in GFLOP/s: (numpy, torch)."""
    a = np.random.default_rng(0).standard_normal((n, n), dtype=np.float32)
    b = a.T.copy()
    out = np.empty_like(a)
    ta, tb, tout = torch.from_numpy(a), torch.from_numpy(b), torch.empty(n, n)
    best_np = best_torch = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        np.matmul(a, b, out=out)
        best_np = min(best_np, time.perf_counter() - start)
        start = time.perf_counter()
        torch.matmul(ta, tb, out=tout)
        best_torch = min(best_torch, time.perf_counter() - start)
    flops = 2.0 * n**3
    return flops / best_np / 1e9, flops / best_torch / 1e9


def model_flops(B: int, T: int, D: int, H: int) -> float:
    """Matmul FLOPs one training step needs: input projection and dW_x (2 x 2TBDH), recurrence forward,
    backward and dW_h (3 x 2TBH^2). Diagnostics and elementwise work are not counted."""
    return 2.0 * T * B * (2 * D * H + 3 * H * H)


def bench_config(B: int, T: int, D: int, H: int, cell: str = "rnn") -> Config:
    return Config(**bench_fields(cell, B, T, D, H))


def _time_engine(trainer, seconds: float, spectral_share: float, min_steps: int = 3) -> float:
    """rnncore's median ms per step over the steps without a spectral radius, + its amortised share."""
    settle()
    next(trainer)
    times: list[float] = []
    while len(times) < min_steps or sum(times) < seconds:
        start = time.perf_counter()
        record = next(trainer)
        if record.spectral_radius is None:
            times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1e3 + spectral_share


def _spectral_ms(trainer) -> float:
    """Best-of-3 ms of one spectral radius (eigvals of W_h); the engine does it every k steps, so
    rnncore's ms per step = ms of a step without it + this / k (exact amortisation, short runs)."""
    W = trainer.model.cell.recurrent_weight(trainer.params)
    return min(time_step(lambda: spectral_radius(W), 0.0, 1) for _ in range(3))


def rnn_rows(rounds: int, seconds: float, shapes=SHAPES, warmup: int = WARMUP_STEPS) -> list[dict]:
    results = []
    for B, T, D, H in shapes:
        config = bench_config(B, T, D, H)
        trainer = warmed_up(train(config, record_every=1), warmup)
        batch = sample(config, np.random.default_rng(0))  # same shapes and task for the peers
        every = spectral_every(config)
        spectral_share = _spectral_ms(trainer) / every
        engines = [partial(_time_engine, trainer, seconds, spectral_share)]
        engines += [partial(time_step, peer_step(factory, batch, H), seconds) for _, factory in PEERS["rnn"].values()]
        engines.append(partial(time_step, gemm_floor("rnn", B, T, D, H), seconds))
        ours, *peer_ms, gemm = timed_rounds(engines, rounds)
        flops = model_flops(B, T, D, H)
        results.append(add_peer_columns(
            {"shape": (B, T, D, H), "rnncore_ms": min(ours), "gflops": flops / (min(ours) / 1e3) / 1e9,
             "gemm_ms": min(gemm), "gemm_gflops": flops / (min(gemm) / 1e3) / 1e9, "spectral_every": every,
             "spectral_share_ms": spectral_share}, ours, dict(zip(PEERS["rnn"], peer_ms, strict=True))))
        r = results[-1]
        print(f"  measured {r['shape']}: rnncore {r['rnncore_ms']:.2f} ms (of which spectral radius "
              f"{spectral_share:.2f} ms amortised, every {every} steps), (a) {r['cell_loop_ms']:.2f} ms, "
              f"(b) {r['fused_ms']:.2f} ms", flush=True)
    return results


def _lowest(rows: list[dict], key: str) -> str:
    """'1.92x at (32, 200, 8, 128), rounds 1.85-2.01': the row with the lowest ratio ``key``."""
    row = min(rows, key=lambda r: r[key])
    return f"{row[key]:.2f}x at {row['shape']}, rounds {span(row[key + '_rounds'])}"


def markdown(results: list[dict], peak: float) -> str:
    lines = ["| (B, T, D, H) | rnncore ms | (a) RNNCell + retain_grad ms | x (a) (rounds) | (b) fused nn.RNN ms "
             "| x (b) (rounds) | rnncore GFLOP/s | % of matmul peak | GEMMs ms | GEMMs % of peak |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        lines.append(f"| {r['shape']} | {r['rnncore_ms']:.1f} | {r['cell_loop_ms']:.1f} "
                     f"| {r['vs_cell_loop']:.2f} ({span(r['vs_cell_loop_rounds'])}) | {r['fused_ms']:.1f} "
                     f"| {r['vs_fused']:.2f} ({span(r['vs_fused_rounds'])}) | {r['gflops']:.1f} "
                     f"| {100 * r['gflops'] / peak:.0f}% | {r['gemm_ms']:.1f} | {100 * r['gemm_gflops'] / peak:.0f}% |")
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.bench")
    default_cells = ",".join(c for c in CELLS if c == "rnn" or (gated is not None and c in PEERS))
    parser.add_argument("--cells", default=default_cells)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.4, help="time per engine per round")
    parser.add_argument("--threads", type=int, default=None, help="BLAS and torch threads (default: BLAS's)")
    parser.add_argument("--shapes", default=None, help="comma-separated indices into SHAPES (default: all)")
    parser.add_argument("--warmup", type=int, default=WARMUP_STEPS,
                        help="rnncore training steps before its timed steps (trained states cost what they cost)")
    add_denormals_argument(parser)
    args = parser.parse_args(argv)
    threads = args.threads or blas_threads()
    with threadpool_limits(limits=threads, user_api="blas"):
        torch.set_num_threads(threads)
        run(args, threads)


def run(args, threads: int) -> None:
    denormals = apply_denormals_argument(args)
    load = os.getloadavg()
    print(f"threads: numpy BLAS {blas_threads()} (threadpoolctl), torch {torch.get_num_threads()} "
          f"(torch.set_num_threads); {os.cpu_count()} CPUs, load average {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f}; torch {torch.__version__}, numpy {np.__version__}; {denormals}")
    print(f"numpy SIMD: {simd_levels()} (NumPy's SVML routines, cosh among them, need AVX-512: the engine's "
          "hot paths use exp, tanh and products only)")
    before = matmul_gflops()
    cells = args.cells.split(",")
    shapes = SHAPES if args.shapes is None else [SHAPES[int(i)] for i in args.shapes.split(",")]
    results = rnn_rows(args.rounds, args.seconds, shapes, args.warmup) if "rnn" in cells else []
    after = matmul_gflops()
    peak = max(*before, *after)
    print(f"float32 matmul 2048^3 (before / after the engine rows): numpy {before[0]:.1f} / {after[0]:.1f} "
          f"GFLOP/s, torch {before[1]:.1f} / {after[1]:.1f} GFLOP/s; machine peak used: {peak:.1f} GFLOP/s")
    if results and shapes != SHAPES:
        print(markdown(results, peak))
    elif results:
        print(f"\ncell rnn, float32 tanh, all diagnostics on; x = peer ms / rnncore ms (> 1: rnncore faster); "
              f"spectral radius every {', '.join(str(r['spectral_every']) for r in results)} steps\n")
        print(markdown(results, peak))
        small, largest = results[:-1], results[-1]
        ok_a = all(r["vs_cell_loop"] >= TARGET_A for r in small)
        ok_b = all(r["vs_fused"] >= TARGET_B for r in small)
        fraction = largest["gflops"] / peak
        print(f"\ntargets: >= {TARGET_A}x vs (a) on the 4 smaller: {'met' if ok_a else 'NOT met'} (min "
              f"{_lowest(small, 'vs_cell_loop')}); >= {TARGET_B}x vs (b): {'met' if ok_b else 'NOT met'} "
              f"(min {_lowest(small, 'vs_fused')}); >= {TARGET_MATMUL:.0%} of matmul peak on the "
              f"largest: {'met' if fraction >= TARGET_MATMUL else 'NOT met'} ({fraction:.0%})")
    gated_cells = tuple(c for c in cells if c != "rnn" and c in CELLS)
    if gated_cells and gated is not None:
        print("\ngated cells (tests/bench/gated.py):")
        print(gated.format_rows(gated.rows(gated_cells, rounds=args.rounds, seconds=args.seconds, warmup=args.warmup)))
    load = os.getloadavg()
    print(f"\nload average at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
          f"{' (other processes share these CPUs: ratios are more reliable than ms)' if load[0] > 0.5 else ''}")


if __name__ == "__main__":
    main()
