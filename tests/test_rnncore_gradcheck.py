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


@pytest.mark.parametrize(("fields", "checked_k", "cut_inside"), [
    (dict(seq_len=60, truncate=20), 6, True),     # k 12 (= the checked T) would cut nothing: the cut was unchecked
    (dict(seq_len=60, truncate=60), 12, False),   # no cut in the lane: none in the check
    (dict(seq_len=10, truncate=4), 4, True),
    (dict(task="copy", seq_len=300, truncate=50), 12, True),  # copy: 32 steps unrolled, cuts at t = 20, 8
])
def test_the_checked_copy_keeps_a_truncation_cut_where_the_lane_has_one(fields, checked_k, cut_inside):
    from rnncore.cells import cuts_gradient
    from rnncore.fdcheck import gradcheck_config
    from rnncore.tasks import sequence_length

    config = Config(**fields)
    small = gradcheck_config(config)
    L = sequence_length(small)
    assert small.truncate == checked_k
    assert any(cuts_gradient(t, L, small.truncate) for t in range(L)) == cut_inside
    assert gradcheck_report(config).verdict == "passed"


@pytest.mark.parametrize("name, value", [("eps", 0.0), ("eps", float("nan")), ("eps", -1e-5), ("eps", True),
                                         ("tolerance", 0.0), ("tolerance", float("inf"))])
def test_a_step_size_or_tolerance_that_is_not_a_positive_number_is_refused(name, value):
    # eps = 0 or NaN returned all-NaN errors and a negative eps the same differences without a word; tolerance = 0
    # an "inconclusive" verdict naming no cause
    config = Config(hidden_size=3, seq_len=4, batch_size=2)
    with pytest.raises(ValueError, match=f"{name} must be a finite number > 0"):
        gradcheck_report(config, **{name: value})
    if name == "eps":
        with pytest.raises(ValueError, match="eps must be a finite number > 0"):
            gradcheck(config, eps=value)
    assert gradcheck_report(config, **{name: 2e-5}).verdict == "passed"  # a good value of the same argument
