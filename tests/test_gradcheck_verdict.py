"""gradcheck_report tells a wrong analytic gradient ("failed") from finite differences that cannot decide
("inconclusive": a ReLU kink within the step, rounding of a huge loss), so that a correct backward pass is
never reported as wrong. Each test can fail: the audit configs fail a plain central-difference check, the
monkeypatched gradients are off by as little as 1e-5."""
from __future__ import annotations

import math

import numpy as np
import pytest

from rnncore import Config, gradcheck, gradcheck_report
from rnncore.cells import CELLS
from rnncore.fdcheck import _recheck, _stencils

LINEAR_EXPLODING = dict(activation="linear", spectral_radius=5.0, init="identity")  # L = 1.6e15
RELU_EXPLODING = dict(activation="relu", spectral_radius=5.0, init="identity", seed=1)  # L = 1.8e14


def test_rounding_of_a_huge_loss_is_inconclusive_not_failed():
    config = Config(**LINEAR_EXPLODING)
    assert gradcheck(config)["c"] > 1e-4  # the plain check: rounding ~ 1e-16 |L| / eps
    report = gradcheck_report(config)
    assert report.verdict == "inconclusive" and not report.passed, report.reason
    assert report.loss > 1e15
    c = report.params["c"]
    assert c.unresolved == 1 and c.mismatched == 0 and c.fd_disagreement > 1e-4  # estimates differ as much
    assert all(p.verdict == "passed" for n, p in report.params.items() if n != "c")
    assert report.reason.startswith("finite differences disagree between step sizes") and "for c:" in report.reason
    assert "rounding at this loss scale (L = 1.6e+15)" in report.reason and "ReLU" not in report.reason
    assert "cannot decide" in report.reason


def test_estimates_that_agree_only_by_quantisation_at_a_huge_loss_are_not_a_mismatch():
    """At L = 1.6e15 the loss's ulp is 0.25, so L(p + k s) takes few distinct values and all four estimates
    can come out equal (seen after a change in the forward pass's summation order), here 4e-5 off the
    true slope: agreeing "within 1e-6" by chance. Their spread counts as at least their rounding, ~ulp/s."""
    L0, slope, eps = 1.625419e15, 8.0553353643e7, 1e-5
    quarter = 0.25  # np.spacing(L0)
    assert float(np.spacing(L0)) == quarter

    def loss_at(i, step):  # the true L0 + slope * step, as a float64 loss value would round it
        return L0 + round(slope * step / quarter) * quarter

    est = _stencils(L0, loss_at(0, -2 * eps), loss_at(0, -eps), loss_at(0, eps), loss_at(0, 2 * eps), eps)
    assert np.ptp(est) / slope < 1e-15 and np.min(np.abs(est - slope)) / slope > 4e-5  # the coincidence
    status, spread, _ = _recheck(loss_at, 0, slope, L0, loss_at(0, -eps), loss_at(0, eps), eps, 1e-6, 1e-300)
    assert status == "unresolved" and spread > 1e-4


def test_a_relu_kink_within_the_step_is_inconclusive_not_failed():
    config = Config(**RELU_EXPLODING)
    assert gradcheck(config)["W_h"] > 0.5
    report = gradcheck_report(config)
    assert report.verdict == "inconclusive", report.reason
    W_h = report.params["W_h"]
    assert W_h.max_rel_error > 0.5 and W_h.fd_disagreement > 0.1 and W_h.unresolved == W_h.rechecked > 0
    assert W_h.mismatched == 0 and W_h.first_unresolved is not None and len(W_h.first_unresolved) == 2
    assert f"W_h ({W_h.unresolved} of 36 elements, first W_h[" in report.reason and "ReLU kink" in report.reason


def _scaled(monkeypatch, cell: str, name: str, factor: float) -> None:
    backward = CELLS[cell].backward

    def wrong(*args, **kwargs):
        grads, back = backward(*args, **kwargs)
        grads[name] = grads[name] * factor
        return grads, back

    monkeypatch.setattr(CELLS[cell], "backward", wrong)


@pytest.mark.parametrize(("cell", "name", "factor", "case"), [
    ("rnn", "W_h", 1.001, {}),
    ("rnn", "W_h", 1.001, RELU_EXPLODING),  # a real mismatch is found among unresolved elements
    ("rnn", "b", 1 + 1e-5, {"task": "recall"}),
    ("lstm", "W_x", 1 + 1e-5, {}),
    ("gru", "b_h", 1.001, {"task": "temporal_order"}),
])
def test_a_wrong_analytic_gradient_still_fails(monkeypatch, cell, name, factor, case):
    _scaled(monkeypatch, cell, name, factor)
    report = gradcheck_report(Config(cell=cell).replace(**case))
    assert report.verdict == "failed" and not report.passed, report.reason
    bad = report.params[name]
    assert bad.verdict == "failed" and bad.mismatched >= bad.elements // 3  # ReLU: dead units have g = 0
    assert bad.worst_mismatch == pytest.approx(factor - 1, rel=0.05)
    assert all(p.mismatched == 0 for n, p in report.params.items() if n != name)
    assert report.reason.startswith(f"the analytic gradient differs from the finite differences for {name} (")


def test_a_nan_analytic_gradient_fails(monkeypatch):
    _scaled(monkeypatch, "rnn", "W_x", math.nan)
    report = gradcheck_report(Config())
    assert report.verdict == "failed" and report.params["W_x"].mismatched == report.params["W_x"].elements
    assert math.isnan(report.max_rel_error["W_x"])


def test_rounding_near_the_tolerance_is_resolved_at_a_larger_step():
    """The LSTM copy task with seed 2: the central difference at eps is off by 3.4e-6 on small elements
    (rounding, ~1e-16 |L| / eps); at 4 eps the four estimates agree and match the analytic gradient."""
    config = Config(cell="lstm", task="copy", seq_len=4, hidden_size=5, batch_size=3, seed=2)
    assert max(gradcheck(config).values()) > 1e-6
    report = gradcheck_report(config)
    assert report.verdict == "passed", report.reason
    rechecked = sum(p.rechecked for p in report.params.values())
    assert rechecked > 0 and f"{rechecked} only at a larger step" in report.reason


H = 1e-5


def _kinked(delta: float, left: float = 0.7, jump: float = 0.5):
    """L(p + x) = left x + jump max(x - delta, 0): a kink at distance delta from p, slope `left` at p."""
    def loss_at(i, step):
        return left * step + jump * max(step - delta, 0.0)
    return loss_at


@pytest.mark.parametrize("delta", [0.0, 1e-7, H / 4, H / 2, 0.9 * H, -H / 2, -1e-7])
def test_a_kink_anywhere_within_the_step_is_never_a_mismatch(delta):
    """At delta = 0 both central differences give the mean slope (they agree: only the one-sided ones
    see the kink); at delta = H/2 central and one-sided agree (only central at 2H differs)."""
    loss_at = _kinked(delta)
    g = 0.7 if delta > 0 else 1.2  # the analytic gradient is the slope at p (at a kink: either side's)
    est = _stencils(0.0, loss_at(0, -2 * H), loss_at(0, -H), loss_at(0, H), loss_at(0, 2 * H), H)
    assert np.ptp(est) > 1e-3  # the four estimates disagree
    status, spread, _ = _recheck(loss_at, 0, g, 0.0, loss_at(0, -H), loss_at(0, H), H, 1e-6, 1e-3)
    assert status == "unresolved" and spread > 1e-3


def test_a_smooth_loss_matches_and_a_wrong_gradient_on_it_mismatches():
    def loss_at(i, step):  # L(p + x) = sin(1 + x) * 3
        return 3 * math.sin(1 + step)
    L0, g = 3 * math.sin(1), 3 * math.cos(1)
    args = (L0, loss_at(0, -H), loss_at(0, H), H, 1e-6, 1e-3)
    assert _recheck(loss_at, 0, g, *args)[0] == "matched"
    assert _recheck(loss_at, 0, g * (1 + 1e-5), *args)[0] == "mismatched"
    assert _recheck(loss_at, 0, g * (1 + 2e-6), *args)[0] == "mismatched"  # just above the tolerance


# Two of the three configs a random sweep of 2,146 valid ones (sizes as in the default check) reported
# "failed" before the cross-entropy kept a confident row's tiny loss and gradient to full relative precision
# (the third, L = 6e-262, is now inconclusive: the loss's curvature at that scale).
CONFIDENT_RECALL = [
    dict(activation="relu", task="recall", seq_len=12, hidden_size=6, batch_size=3, truncate=3,
         spectral_radius=3.0, num_classes=2, seed=923),  # L = 1.6e-29: every row certain
    dict(activation="linear", task="recall", target="last", seq_len=8, hidden_size=6, batch_size=1, truncate=2,
         init="identity", spectral_radius=1.5, num_classes=3, seed=99),  # L = 2.1e-5
]


@pytest.mark.parametrize("fields", CONFIDENT_RECALL, ids=["loss-1.6e-29", "loss-2.1e-5"])
def test_a_confident_softmax_passes_the_check(fields):
    report = gradcheck_report(Config(**fields))
    assert report.verdict == "passed", report.reason
    assert 0 < report.loss < 1e-4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_keeps_a_confident_rows_loss_and_gradient(dtype):
    """Logits (0, -20, -30), target 0: the true loss log1p(e^-20 + e^-30) = 2.1e-9 is below float32's
    ulp(1), so log(sum exp) - logit gives 0, and p - 1 gives 0 instead of -2.1e-9. Both now come out to a
    few ulps. A row that is not confident keeps exactly the plain p - 1 (the bits training had)."""
    from rnncore.losses import SATURATED, _subtract_onehot, output_loss
    from rnncore.tasks import Batch

    logits = np.array([[0.0, -20.0, -30.0], [0.3, 1.0, -0.5]])
    targets, rows = np.array([0, 2]), np.arange(2)
    tiny = np.exp(-20.0) + np.exp(-30.0)
    z = logits - logits.max(axis=1, keepdims=True)
    true_probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)  # float64: row 0's p - 1 is still -tiny/(1+tiny)
    true_loss = (np.log1p(tiny) - np.log(true_probs[1, 2])) / 2
    tol = 8 * float(np.finfo(dtype).eps)

    hidden = logits.astype(dtype)[None]  # (L, B, H) = (1, 2, 3) with W_o = I and c = 0: y = h
    batch = Batch(inputs=np.zeros((1, 2, 1), dtype), targets=targets)
    loss = output_loss(hidden, np.eye(3, dtype=dtype), np.zeros(3, dtype), batch, "cross_entropy", every=False)[0]
    assert loss == pytest.approx(true_loss, rel=tol)

    probs = true_probs.astype(dtype)
    assert probs[0, 0] > SATURATED > probs[1, 2]
    plain = probs.copy()
    plain[rows, targets] -= 1.0
    _subtract_onehot(probs, rows, targets)
    assert probs[0, 0] == pytest.approx(-tiny / (1 + tiny), rel=tol)
    if dtype == np.float32:
        assert plain[0, 0] == 0.0  # what the plain difference gave
    assert probs[1].tobytes() == plain[1].tobytes() and probs[0, 1:].tobytes() == plain[0, 1:].tobytes()
