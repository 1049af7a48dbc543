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
    rows = gated.rows(("lstm", "gru"), shapes=[(2, 6, 4, 5)], rounds=1, seconds=0.0)
    assert [r["cell"] for r in rows] == ["lstm", "gru"]
    assert all(r[key] > 0 for r in rows for key in ("rnncore_ms", "cell_loop_ms", "fused_ms", "gemm_ms"))
    assert "targets:" in gated.format_rows(rows)
