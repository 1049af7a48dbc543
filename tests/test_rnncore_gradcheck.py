"""Analytic BPTT gradients vs central finite differences (float64), over activations, losses, target
modes and truncation. gradcheck runs on a capped copy (B <= 3, T <= 12, H <= 6): a few seconds in all.
The verdict (passed / failed / inconclusive) itself is tested in test_gradcheck_verdict.py."""
import pytest

from rnncore import GRADCHECK_TOLERANCE, Config, gradcheck, gradcheck_report

CASES = [
    dict(task="adding"),                       # mse, loss at the last step
    dict(task="adding", target="every"),       # mse, loss at every step
    dict(task="recall"),                       # cross-entropy, last
    dict(task="recall", target="every"),       # cross-entropy, every
    dict(task="temporal_order"),
    dict(task="copy", seq_len=4),              # L = seq_len + 20
    dict(task="adding", truncate=4),
    dict(task="recall", target="every", truncate=3),
]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "linear"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_gradients_match_finite_differences(activation, case):
    config = Config(activation=activation, seq_len=10, hidden_size=5, batch_size=3, seed=3).replace(**case)
    errors = gradcheck(config)
    assert set(errors) == {"W_x", "W_h", "b", "W_o", "c"}
    assert max(errors.values()) < 1e-6, errors
    report = gradcheck_report(config)
    assert report.verdict == "passed" and report.passed, report.reason
    assert report.max_rel_error == errors  # the same central differences at eps
    assert all(c.rechecked == 0 and c.fd_disagreement is None for c in report.params.values())


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_gated_cells_pass_on_every_task(cell, case):
    config = Config(cell=cell, seq_len=10, hidden_size=5, batch_size=3, seed=3).replace(**case)
    report = gradcheck_report(config)
    assert report.verdict == "passed", (report.reason, report.max_rel_error)
    assert report.tolerance == GRADCHECK_TOLERANCE == 1e-6
