"""A/B: rnncore's training steps in this work tree against another git revision, in alternating processes.

    python -m tests.bench.ab main                     # the work tree against main, every cell and shape
    python -m tests.bench.ab HEAD~1 --cells gru --shapes 32,200,8,128 --pairs 12

Why: on a shared 2-core VM a step's ms moves by 15% or more between runs of one command (session 24's
EPYC: consecutive LSTM steps at (32, 200, 8, 128) took 81-150 ms), so two versions timed one after the
other compare the machine's moods, not the code. Here each pair runs both versions back to back in fresh
processes, their order alternating from pair to pair, each timing ``--steps`` training steps (the
bench's config: recall, tanh, float32, norm clipping, Adam, every diagnostic recorded) after a warm-up;
the report is, per cell and shape, the median over pairs of new ms / old ms and its range, where a
process's ms is its fastest step (interference only ever adds time). How far that is from 1 for two equal versions
says what the machine can resolve: on session 24's EPYC, the GRU at (32, 200, 8, 128) against itself
gave 0.87-0.98 over four runs of 8 pairs (ranges within pairs 0.65-1.05), so a difference under ~10%
needs more pairs or a quieter machine there.

It also says whether both versions computed the same numbers, bit for bit, so a change meant only for
speed is checked for that in the same run: "yes" (every timed step's global gradient norm and loss),
"gradients" (the gradient norms only: the training is the same, the reported loss differs, as against
revisions before 9068fb7, whose cross-entropy rounded differently) or "NO".
The other revision is checked out with ``git worktree`` in a temporary directory and removed after.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from . import __main__ as bench
from . import gated
from .peers import bench_fields

REPO = Path(__file__).resolve().parents[2]

# Run inside the tree under test (cwd and sys.path[0]): argv = Config's keywords as JSON, steps, warmup,
# threads; times `steps` training steps after `warmup`.
CHILD = r"""
import json, sys, time
from threadpoolctl import threadpool_limits
from rnncore import Config, train
config = Config(**json.loads(sys.argv[1]))
steps, warmup, threads = map(int, sys.argv[2:])
with threadpool_limits(threads, user_api="blas"):
    trainer = iter(train(config, record_every=1))
    for _ in range(warmup):
        next(trainer)
    ms, grad_norms, losses = [], [], []
    for _ in range(steps):
        start = time.perf_counter()
        record = next(trainer)
        ms.append((time.perf_counter() - start) * 1e3)
        grad_norms.append(record.grad_norm)
        losses.append(record.loss)
print(json.dumps({"ms": ms, "grad_norms": repr(grad_norms), "losses": repr(losses)}))
"""


@contextlib.contextmanager
def checkout(rev: str | None):
    """The directory of ``rev`` (a temporary git worktree, removed after), or this work tree for None."""
    if rev is None:
        yield REPO
        return
    with tempfile.TemporaryDirectory(prefix="rnnlab-ab-") as parent:
        tree = Path(parent) / "tree"
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(tree), rev],
                       check=True, capture_output=True, text=True)
        try:
            yield tree
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)],
                           capture_output=True)


def time_tree(tree: Path, cell: str, shape: tuple[int, int, int, int], steps: int, warmup: int,
              threads: int) -> dict:
    """One fresh process in ``tree``: {"ms": [per step], "grad_norms": repr of the list, "losses": same}."""
    env = {**os.environ, "PYTHONPATH": str(tree), "OPENBLAS_NUM_THREADS": str(threads)}
    fields = {**bench_fields(cell, *shape), "steps": warmup + steps}
    args = [json.dumps(fields), str(steps), str(warmup), str(threads)]
    done = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=tree, env=env, capture_output=True,
                          text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"{tree} {cell} {shape}: {done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def compare(old_rev: str, new_rev: str | None = None, cells=("rnn", "lstm", "gru"), shapes=None,
            pairs: int = 8, steps: int = 10, warmup: int = 3, threads: int = 1) -> list[dict]:
    """One dict per (cell, shape): old_ms and new_ms (medians over pairs of each process's fastest step),
    ratio (median over pairs of new/old), ratio_low/ratio_high (its range) and same_numbers: "yes",
    "gradients" (the gradient norms only) or "NO"."""
    rows = []
    with checkout(old_rev) as old_tree, checkout(new_rev) as new_tree:
        for cell in cells:
            for shape in shapes or (bench.SHAPES if cell == "rnn" else gated.SHAPES):
                ratios, old_ms, new_ms, same = [], [], [], {"grad_norms": True, "losses": True}
                for pair in range(pairs):
                    order = [("old", old_tree), ("new", new_tree)]
                    runs = dict((name, time_tree(tree, cell, shape, steps, warmup, threads))
                                for name, tree in (order if pair % 2 else order[::-1]))
                    old, new = (min(runs[name]["ms"]) for name in ("old", "new"))  # fastest step
                    ratios.append(new / old)
                    old_ms.append(old)
                    new_ms.append(new)
                    for key in same:
                        same[key] &= runs["old"][key] == runs["new"][key]
                verdict = ("yes" if same["losses"] else "gradients") if same["grad_norms"] else "NO"
                rows.append({"cell": cell, "shape": tuple(shape), "old_ms": statistics.median(old_ms),
                             "new_ms": statistics.median(new_ms), "ratio": statistics.median(ratios),
                             "ratio_low": min(ratios), "ratio_high": max(ratios),
                             "same_numbers": verdict})
    return rows


def markdown(rows: list[dict], old_rev: str, new_rev: str | None) -> str:
    new_name = new_rev or "work tree"
    lines = [f"| cell | (B, T, D, H) | {old_rev} ms | {new_name} ms | new / old, median of pairs | range | "
             "same numbers |", "|---|---|---:|---:|---:|---|---|"]
    lines += [f"| {r['cell']} | {r['shape']} | {r['old_ms']:.2f} | {r['new_ms']:.2f} | {r['ratio']:.3f} | "
              f"{r['ratio_low']:.3f}-{r['ratio_high']:.3f} | {r['same_numbers']} |"
              for r in rows]
    return "\n".join(lines)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("old", help="the git revision to compare against (a branch, tag or commit)")
    parser.add_argument("--new", default=None, help="another revision instead of the work tree")
    parser.add_argument("--cells", nargs="+", default=["rnn", "lstm", "gru"], choices=["rnn", "lstm", "gru"])
    parser.add_argument("--shapes", nargs="+", default=None, metavar="B,T,D,H",
                        help="default: the bench's shapes for each cell")
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=10, help="timed training steps per process")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="BLAS threads (the service trains with 1)")
    args = parser.parse_args(argv)
    shapes = [tuple(int(v) for v in s.split(",")) for s in args.shapes] if args.shapes else None
    rows = compare(args.old, args.new, args.cells, shapes, args.pairs, args.steps, args.warmup, args.threads)
    print(f"{args.pairs} pairs of fresh processes, {args.steps} timed steps each after {args.warmup}, "
          f"{args.threads} BLAS thread(s); new / old < 1: the new version is faster")
    print(markdown(rows, args.old, args.new))


if __name__ == "__main__":
    main()
