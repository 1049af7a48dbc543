"""The benchmark runners work (tiny shapes, no timing asserted) and their peers' flush-to-zero mode stays
inside the peer's step, so NumPy's (rnncore's) steps never run with it."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests.bench import __main__ as bench  # noqa: E402
from tests.bench import gated, peers  # noqa: E402

SUBNORMAL_PRODUCT = (np.float32(1e-30), np.float32(1e-10))  # 1e-40: subnormal in float32


def subnormal_survives() -> bool:
    """Whether this thread's float32 arithmetic keeps a subnormal result (False under flush-to-zero)."""
    a, b = SUBNORMAL_PRODUCT
    return bool(np.multiply(a, b) != 0)


@pytest.mark.skipif(not torch.set_flush_denormal(False), reason="no flush-to-zero mode on this CPU")
@pytest.mark.parametrize("flush", [True, False])
def test_peer_step_flushes_subnormals_only_while_the_peer_runs(monkeypatch, flush):
    monkeypatch.setattr(peers, "FLUSH_DENORMALS", flush)
    seen = []
    step = peers.peer_step(lambda batch, hidden_size: lambda: seen.append(subnormal_survives()), None, 4)
    assert subnormal_survives()
    step()
    assert seen == [not flush]
    assert subnormal_survives()  # restored for NumPy


def test_bench_rows_run_and_fill_every_column():
    rnn = bench.rnn_rows(rounds=1, seconds=0.0, shapes=[(2, 6, 4, 5)])
    assert all(rnn[0][key] > 0 for key in ("rnncore_ms", "vs_cell_loop", "vs_fused", "gemm_ms", "gemm_gflops"))
    row = bench.markdown(rnn, peak=100.0).splitlines()[-1]
    assert row.startswith("| (2, 6, 4, 5) |") and row.count("|") == 11
    one_round = f"{rnn[0]['vs_fused']:.2f} ({rnn[0]['vs_fused']:.2f}-{rnn[0]['vs_fused']:.2f})"
    assert one_round in row  # with one round, the range over rounds is the ratio itself
    rows = gated.rows(("lstm", "gru"), shapes=[(2, 6, 4, 5)], rounds=1, seconds=0.0)
    assert [r["cell"] for r in rows] == ["lstm", "gru"]
    assert all(r[key] > 0 for r in rows for key in ("rnncore_ms", "cell_loop_ms", "fused_ms", "gemm_ms", "vs_fused"))
    assert rows[0]["vs_native_fused"] == rows[0]["native_fused_ms"] / rows[0]["rnncore_ms"]
    assert all(r[f"{key}_rounds"] == pytest.approx((r[key], r[key])) for r in rows
               for key in ("vs_cell_loop", "vs_fused"))
    assert "native_fused_ms" not in rows[1]  # nn.GRU has no oneDNN path to switch off
    table = gated.format_rows(rows).splitlines()
    assert table[0].split()[-2:] == ["ms", "x"] and table[2].split()[-2:] == ["-", "-"]
    assert table[3].startswith("targets:") and "x (b') min" in table[4]


def test_rounds_interleave_the_engines_and_ratios_pair_within_a_round():
    calls = []
    measures = [lambda name=name, ms=ms: calls.append(name) or ms.pop(0)
                for name, ms in (("ours", [10.0, 20.0, 12.0]), ("peer", [25.0, 30.0, 18.0]))]
    ms = peers.timed_rounds(measures, rounds=3)
    assert calls == ["ours", "peer"] * 3 and ms == [[10.0, 20.0, 12.0], [25.0, 30.0, 18.0]]
    assert peers.round_ratios(ms[1], ms[0]) == (1.5, 2.5)  # 18/12 and 25/10; best/best would be 1.8
    assert peers.span((1.5, 2.5)) == "1.50-2.50"


def _kernels(factory) -> set[str]:
    """The names of the torch operators one training step of a peer runs (tiny shape)."""
    from rnncore import Config
    from rnncore.tasks import sample

    batch = sample(Config(**peers.bench_fields("lstm", 2, 6, 4, 5)), np.random.default_rng(0))
    step = factory(batch, 5)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profiled:
        step()
    return {event.key for event in profiled.key_averages()}


@pytest.mark.skipif(not torch.backends.mkldnn.is_available(), reason="this torch has no oneDNN")
def test_fused_lstm_peer_runs_onednn_unless_switched_off_and_the_rnn_and_gru_peers_never_do():
    assert torch.backends.mkldnn.enabled
    onednn = _kernels(peers.PEERS["lstm"]["fused_ms"][1])
    assert {"aten::mkldnn_rnn_layer", "aten::mkldnn_rnn_layer_backward"} <= onednn
    for cell, column in (("lstm", "native_fused_ms"), ("gru", "fused_ms"), ("rnn", "fused_ms")):
        kernels = _kernels(peers.PEERS[cell][column][1])
        assert "aten::mm" in kernels and not any("mkldnn_rnn" in name for name in kernels), (cell, column)
    assert torch.backends.mkldnn.enabled  # the switch stays inside the step


def test_ab_times_two_revisions_in_alternating_processes_and_compares_their_numbers():
    """tests/bench/ab.py on a tiny shape, HEAD against HEAD (two temporary git worktrees): both sides give
    the same numbers bit for bit (a training run is deterministic across processes), and every column is
    filled. No timing is asserted."""
    import shutil
    import subprocess

    from tests.bench import ab

    if shutil.which("git") is None or subprocess.run(["git", "-C", str(ab.REPO), "rev-parse", "HEAD"],
                                                     capture_output=True).returncode != 0:
        pytest.skip("not a git checkout")
    before = subprocess.run(["git", "-C", str(ab.REPO), "worktree", "list"], capture_output=True, text=True).stdout
    rows = ab.compare("HEAD", "HEAD", cells=("rnn", "gru"), shapes=[(2, 6, 4, 5)], pairs=2, steps=2, warmup=1)
    assert [r["cell"] for r in rows] == ["rnn", "gru"]
    assert all(r["same_numbers"] == "yes" for r in rows), rows
    assert all(r["old_ms"] > 0 and r["new_ms"] > 0 and r["ratio_low"] <= r["ratio"] <= r["ratio_high"] for r in rows)
    table = ab.markdown(rows, "HEAD", "HEAD").splitlines()
    assert len(table) == 4 and table[2].startswith("| rnn | (2, 6, 4, 5) |") and table[2].endswith("| yes |")
    after = subprocess.run(["git", "-C", str(ab.REPO), "worktree", "list"], capture_output=True, text=True).stdout
    assert after == before  # the temporary worktrees are gone


def test_ab_reports_the_median_ratio_over_pairs_and_differing_numbers(monkeypatch):
    """The aggregation, with the processes replaced: new's fastest step takes twice old's except in one pair, and its
    loss differs in one pair (its gradient norms never do), then its gradient norms too, which the report
    must tell apart."""
    import contextlib

    from tests.bench import ab

    monkeypatch.setattr(ab, "checkout", contextlib.contextmanager(lambda rev: (yield rev)))
    calls = []

    def fake_time_tree(tree, cell, shape, steps, warmup, threads):
        calls.append(tree)
        pair = (len(calls) - 1) // 2
        ms = {"old": 10.0, "new": 20.0 if pair != 1 else 5.0}[tree]
        losses = repr([1.0, 2.0 if tree == "new" and pair == 2 else 1.0])  # differ in the last pair only
        return {"ms": [ms + 1, ms, ms + 2], "grad_norms": repr([0.5, 0.25]), "losses": losses}

    monkeypatch.setattr(ab, "time_tree", fake_time_tree)
    [row] = ab.compare("old", "new", cells=("rnn",), shapes=[(2, 6, 4, 5)], pairs=3)
    assert calls == ["new", "old", "old", "new", "new", "old"]  # the order alternates from pair to pair
    assert row["ratio"] == 2.0 and row["ratio_low"] == 0.5 and row["ratio_high"] == 2.0
    assert row["old_ms"] == 10.0 and row["new_ms"] == 20.0 and row["same_numbers"] == "gradients"
    assert ab.markdown([row], "old", "new").splitlines()[-1].endswith("| gradients |")
    grads_differ = dict(fake_time_tree("new", None, None, 0, 0, 1), grad_norms=repr([0.5, 0.125]))
    monkeypatch.setattr(ab, "time_tree", lambda tree, *args: grads_differ if tree == "new" else fake_time_tree(
        "old", *args))
    assert ab.compare("old", "new", cells=("rnn",), shapes=[(2, 6, 4, 5)], pairs=1)[0]["same_numbers"] == "NO"
