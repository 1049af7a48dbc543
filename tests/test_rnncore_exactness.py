"""Exactness of the NumPy BPTT engine: PyTorch autograd, exact log-scale norms far below float64's range,
Pascanu et al.'s bounds, clipping, divergence, determinism, chance baselines. Small H and T (seconds),
except the one T=2000 linear case."""
import json
import math

import numpy as np
import pytest

from rnncore import Config, ConfigError, gradcheck, profile, task_info, train
from rnncore.cells import CELLS, cuts_gradient, get_cell
from rnncore.optim import Optimizer, clip_gradients, global_norm
from rnncore.tasks import sample
from rnncore.trainer import Model, spectral_every

torch = pytest.importorskip("torch")

from tests.torch_reference import as_t, readout_loss  # noqa: E402  (after the skip)

SMALL = dict(seq_len=12, hidden_size=7, batch_size=4, dtype="float64", seed=5)


def torch_reference(model: Model, batch):
    """The same forward/backward in PyTorch autograd (float64): grads by our names and ||dL/dh_t|| per t.

    tanh/relu use torch.nn.RNNCell with weight_ih = W_x^T, weight_hh = W_h^T, bias_ih = b, bias_hh = 0;
    sigmoid/linear (which RNNCell lacks) the same equation written with torch ops."""
    cfg, P = model.config, model.params
    W_o, c = as_t(P["W_o"]).requires_grad_(), as_t(P["c"]).requires_grad_()
    X = as_t(batch.inputs)
    L, B, D = X.shape
    H = P["W_h"].shape[0]
    if cfg.activation in ("tanh", "relu"):
        cell = torch.nn.RNNCell(D, H, nonlinearity=cfg.activation).double()
        with torch.no_grad():
            cell.weight_ih.copy_(as_t(P["W_x"]).T)
            cell.weight_hh.copy_(as_t(P["W_h"]).T)
            cell.bias_ih.copy_(as_t(P["b"]))
            cell.bias_hh.zero_()
        step = cell
    else:
        W_x, W_h, b = (as_t(P[k]).requires_grad_() for k in ("W_x", "W_h", "b"))
        f = torch.sigmoid if cfg.activation == "sigmoid" else (lambda a: a)
        step = lambda x, h: f(x @ W_x + h @ W_h + b)  # noqa: E731
    h, states = torch.zeros(B, H, dtype=torch.float64), []
    for t in range(L):
        h_in = h.detach() if cuts_gradient(t, L, cfg.truncate) else h
        h = step(X[t], h_in)
        h.retain_grad()
        states.append(h)
    loss = readout_loss(model, batch, states, W_o, c)
    loss.backward()
    if cfg.activation in ("tanh", "relu"):
        grads = {"W_x": cell.weight_ih.grad.T, "W_h": cell.weight_hh.grad.T, "b": cell.bias_ih.grad}
    else:
        grads = {"W_x": W_x.grad, "W_h": W_h.grad, "b": b.grad}
    grads.update(W_o=W_o.grad, c=c.grad)
    norms = np.array([0.0 if s.grad is None else float(s.grad.norm()) for s in states])
    return float(loss.detach()), {k: v.detach().numpy() for k, v in grads.items()}, norms


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "linear"])
@pytest.mark.parametrize("case", [dict(task="adding"), dict(task="adding", target="every"),
                                  dict(task="recall"), dict(task="recall", target="every"),
                                  dict(task="adding", truncate=5), dict(task="recall", target="every", truncate=4),
                                  dict(task="copy", seq_len=3)],
                         ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_matches_pytorch_autograd_including_every_timestep_norm(activation, case):
    model = Model(Config(activation=activation, **SMALL).replace(**case))
    batch = model.batch()
    loss, _, grads, back, _, _ = model.loss_and_grads(batch)
    ref_loss, ref_grads, ref_norms = torch_reference(model, batch)
    assert loss == pytest.approx(ref_loss, rel=1e-12)
    for name, ref in ref_grads.items():
        np.testing.assert_allclose(grads[name], ref, rtol=1e-5, atol=1e-12 * np.abs(ref).max(), err_msg=name)
    ours = 10.0 ** back.log10_grad_norm_per_step
    np.testing.assert_allclose(ours, ref_norms, rtol=1e-5, atol=0)
    if case.get("truncate") and model.config.target_mode == "last":  # exactly the last k states get gradient
        k = case["truncate"]
        assert np.all(np.isneginf(back.log10_grad_norm_per_step[:-k]))
        assert np.all(np.isfinite(back.log10_grad_norm_per_step[-k:]))


@pytest.mark.parametrize(("seq_len", "rho"), [(2000, 0.5), (60, 0.9), (60, 1.0), (60, 1.3)])
def test_linear_orthogonal_norms_scale_as_rho_power_far_below_float64_range(seq_len, rho):
    config = Config(activation="linear", init="orthogonal", spectral_radius=rho, task="adding", target="last",
                    seq_len=seq_len, hidden_size=8, batch_size=3, dtype="float64", clip="none")
    log10_norm = profile(config).arrays.log10_grad_norm_per_step
    assert np.all(np.isfinite(log10_norm))
    distance = np.arange(seq_len - 1, -1, -1)  # T-1-t
    predicted = log10_norm[-1] + distance * math.log10(rho)
    # |ratio - 1| < 1e-9  <=>  |difference of log10| < 1e-9 / ln(10)
    assert np.max(np.abs(log10_norm - predicted)) < 1e-9 / math.log(10)
    if seq_len == 2000:
        assert log10_norm[0] < -590  # ~1e-602: far below float64's smallest number (1e-308, 5e-324 subnormal)


@pytest.mark.parametrize(("activation", "factor"), [("tanh", 1.0), ("sigmoid", 0.25)])
def test_pascanu_bound_on_consecutive_ratios(activation, factor):
    config = Config(activation=activation, init="gaussian", init_scale=0.12, task="adding", target="last",
                    seq_len=40, hidden_size=16, batch_size=4, dtype="float64", clip="none", seed=1)
    record = profile(config)
    sigma = np.linalg.svd(Model(config).params["W_h"], compute_uv=False)[0]
    assert sigma < 1 and record.sigma_max == pytest.approx(sigma, rel=1e-12)
    log10_norm = record.arrays.log10_grad_norm_per_step
    ratios = 10.0 ** (log10_norm[:-1] - log10_norm[1:])  # ||dL/dh_{t-1}|| / ||dL/dh_t||
    assert np.all(ratios <= factor * sigma * (1 + 1e-12))
    assert ratios.max() > 0.3 * factor * sigma  # the bound is not vacuous for this config
    assert np.all(log10_norm <= record.arrays.log10_bound_per_step + 1e-9)


# Configs with a loss term at every step (copy always has one: blanks, then the recalled symbols), where the
# straight line from ||dL/dh_{T-1}|| is not a bound: each term starts a geometric tail of its own.
EVERY_STEP_LOSSES = [
    dict(activation="sigmoid", task="copy", seq_len=30),
    dict(activation="tanh", task="recall", target="every", seq_len=40),
    dict(activation="relu", task="adding", target="every", init="identity", spectral_radius=1.2, seq_len=30),
    dict(activation="tanh", task="adding", target="every", seq_len=40, truncate=7),
    dict(activation="relu", task="recall", target="every", seq_len=30, init="identity", spectral_radius=1.5,
         clip="per_timestep", clip_threshold=0.5),
]


@pytest.mark.parametrize("case", EVERY_STEP_LOSSES, ids=lambda c: f"{c['task']}-{c['activation']}")
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_bound_holds_with_a_loss_term_at_every_step(case, dtype):
    config = Config(hidden_size=8, batch_size=4, dtype=dtype, seed=3, steps=12,
                    **{"clip": "none", "optimizer": "adam", "learning_rate": 0.01, **case})
    records = [profile(config), *train(config, record_every=4)]
    straight_line_broken = False
    for record in records:
        arrays = record.arrays
        if arrays is None:
            continue
        measured, bound = arrays.log10_grad_norm_per_step, arrays.log10_bound_per_step
        slack = 1e-9 if dtype == "float64" else 1e-5  # float32: the measured norm's own dot product rounds
        assert np.all(measured <= bound + slack), (record.step, np.max(measured - bound))
        assert bound[-1] == measured[-1]  # anchored at the measured ||dL/dh_{T-1}||
        T = len(measured)
        straight = measured[-1] + np.arange(T - 1, -1, -1) * math.log10(record.gamma * record.sigma_max)
        straight_line_broken |= bool(np.any(measured > straight + 1e-6))
    assert straight_line_broken  # the loss-at-the-end formula would not bound these curves


@pytest.mark.parametrize("target", ["last", "every"])
def test_bound_starts_afresh_below_each_truncation_cut(target):
    """Truncated BPTT carries nothing across a cut: with the loss at the end, the gradient below the first
    cut is exactly 0 and so is the bound (it ran on to t = 0, where chart 3 drew it above a curve that had
    ended); with a term at every step, each stretch between cuts has its own sum, still above the curve."""
    config = Config(task="adding", target=target, truncate=10, seq_len=45, hidden_size=8, batch_size=4,
                    dtype="float64", clip="none")
    arrays = profile(config).arrays
    measured, bound = arrays.log10_grad_norm_per_step, arrays.log10_bound_per_step
    assert np.all(measured <= bound + 1e-9)
    if target == "last":
        assert np.array_equal(np.isneginf(bound), np.arange(45) < 35)  # t < T - k: nothing reaches them
        assert np.array_equal(np.isneginf(measured), np.isneginf(bound))
    else:
        assert np.all(np.isfinite(bound))
        below_cut = 34  # h_34 is carried nothing from h_35: its bound is its own loss term's norm
        assert bound[below_cut] == pytest.approx(measured[below_cut], abs=1e-9)


def test_bound_is_the_measured_norm_when_nothing_is_carried_back():
    """W_h = 0: dL/dh_t is the loss's own term g_t, and sigma_max = 0 leaves B_t = ||g_t||: bound = measured."""
    config = Config(task="recall", target="every", init="gaussian", init_scale=0.0, seq_len=20, hidden_size=6,
                    batch_size=3, dtype="float64", clip="none")
    arrays = profile(config).arrays
    np.testing.assert_allclose(arrays.log10_bound_per_step, arrays.log10_grad_norm_per_step, rtol=0, atol=1e-12)


@pytest.mark.parametrize("gamma_sigma", [0.3, 1.0, 2.5])
@pytest.mark.parametrize("shift", [0.0, -450.0, 400.0])
@pytest.mark.parametrize("truncate", [None, 1, 7, 60])
def test_bound_sums_every_terms_tail_far_outside_float64(gamma_sigma, shift, truncate):
    """pascanu_bound's log-domain sum against the plain sum B_t = sum_k ||g_k|| (gamma sigma)^(k-t) in float64
    (k up to the next truncation cut), at magnitudes float64 holds and the same shifted by 10^+-400 (beyond its
    range): shifted by exactly that."""
    from rnncore.cells import cuts_gradient
    from rnncore.trainer import pascanu_bound

    rng = np.random.default_rng(0)
    T = 60
    terms = rng.uniform(-3.0, 1.0, T)
    terms[rng.random(T) < 0.3] = -np.inf  # steps without a loss term

    def stretch_end(t):  # the last step whose gradient reaches h_t without crossing a cut
        return next((k - 1 for k in range(t + 1, T) if cuts_gradient(k, T, truncate)), T - 1)

    plain = [sum(10.0 ** terms[k] * gamma_sigma ** (k - t) for k in range(t, stretch_end(t) + 1)) for t in range(T)]
    with np.errstate(divide="ignore"):  # no loss term from t on: the bound is exactly 0 there
        expected = np.log10(plain) + shift
    loss_terms = terms + shift
    ours = pascanu_bound(loss_terms.copy(), gamma_sigma, loss_terms, truncate)  # anchor = the last term itself
    np.testing.assert_allclose(ours, expected, rtol=0, atol=1e-12)

def test_float32_run_reports_exact_magnitudes_below_its_range():
    base = dict(activation="sigmoid", seq_len=600, hidden_size=8, batch_size=4, clip="none", task="adding")
    r32 = profile(Config(dtype="float32", **base)).arrays
    r64 = profile(Config(dtype="float64", **base)).arrays
    assert np.all(np.isfinite(r32.log10_grad_norm_per_step))
    assert r32.log10_grad_norm_per_step[0] < -300  # below float32's 1e-38 and even float64's 1e-308
    assert r32.dtype_underflow_steps > 400 and r64.dtype_underflow_steps > 100
    np.testing.assert_allclose(r32.log10_grad_norm_per_step, r64.log10_grad_norm_per_step, atol=1e-3)


def _grads(config):
    model = Model(config)
    return model.loss_and_grads(model.batch())[2]


def test_norm_clipping_bounds_the_norm_and_keeps_the_direction():
    grads = _grads(Config(**SMALL))
    original = {k: v.copy() for k, v in grads.items()}
    tau = 0.1 * global_norm(grads)
    before, after, fired = clip_gradients(grads, "norm", tau)
    assert fired and before == pytest.approx(global_norm(original)) and after <= tau * (1 + 1e-6)
    for k in grads:
        np.testing.assert_allclose(grads[k], original[k] * (tau / before), rtol=1e-12)


def test_value_clipping_bounds_every_element_and_none_is_untouched():
    grads = _grads(Config(**SMALL))
    original = {k: v.copy() for k, v in grads.items()}
    tau = 0.5 * max(np.abs(v).max() for v in grads.values())
    _, _, fired = clip_gradients(grads, "value", tau)
    assert fired
    for k in grads:
        assert np.abs(grads[k]).max() <= tau
        inside = np.abs(original[k]) <= tau
        np.testing.assert_array_equal(grads[k][inside], original[k][inside])
    untouched = {k: v.copy() for k, v in original.items()}
    assert clip_gradients(untouched, "none", 1e-6)[2] is False
    for k in original:
        np.testing.assert_array_equal(untouched[k], original[k])


def test_norm_clipping_in_training_records():
    records = list(train(Config(seq_len=20, hidden_size=8, steps=5, clip="norm", clip_threshold=0.01)))
    assert all(r.clipped and r.grad_norm > 0.01 and r.grad_norm_clipped <= 0.01 * (1 + 1e-6) for r in records)


def test_per_timestep_clipping_caps_every_delta():
    tau = 1e-3
    base = Config(activation="relu", init="identity", spectral_radius=1.2, seq_len=30, hidden_size=8,
                  batch_size=4, dtype="float64", task="adding", target="every")
    free = profile(base.replace(clip="none"))
    clipped = profile(base.replace(clip="per_timestep", clip_threshold=tau))
    assert free.arrays.log10_grad_norm_per_step.max() > math.log10(tau) + 1  # the cap matters here
    assert clipped.arrays.log10_grad_norm_per_step.max() <= math.log10(tau) + 1e-12
    assert clipped.clipped and clipped.grad_norm == pytest.approx(free.grad_norm, rel=1e-12)
    assert clipped.grad_norm_clipped < clipped.grad_norm
    loose = profile(base.replace(clip="per_timestep", clip_threshold=1e6))
    assert not loose.clipped and loose.grad_norm_clipped == pytest.approx(free.grad_norm, rel=1e-12)


def _finite_jsonable(record):
    scalars = {k: getattr(record, k) for k in ("loss", "metric", "grad_norm", "grad_norm_clipped", "sigma_max",
                                                "gamma")}
    assert all(math.isfinite(v) for v in scalars.values()), scalars
    json.dumps(scalars, allow_nan=False)
    if record.arrays is not None:
        for name in ("log10_grad_norm_per_step", "log10_weight_grad_per_step", "log10_input_grad_per_step",
                     "log10_bound_per_step"):
            values = getattr(record.arrays, name)
            assert not np.any(np.isnan(values)) and not np.any(np.isposinf(values)), name
            json.dumps([v if math.isfinite(v) else None for v in values.tolist()], allow_nan=False)


@pytest.mark.parametrize(("dtype", "step", "first_overflow"), [("float32", 0, 56), ("float64", 1, 2)])
def test_a_nan_loss_says_where_the_forward_pass_overflowed(dtype, step, first_overflow):
    """ReLU, identity * 5, lr 10: h_t grows like 5^t, so the float32 forward pass overflows (5^56 > 3.4e38) at
    step 0, before any step is done; in float64 the first update throws the weights away and step 1's pass
    overflows at t = 2. A loss of NaN says nothing of where it came from: the reason names the pass and t."""
    trainer = train(Config(activation="relu", init="identity", spectral_radius=5, clip="none", optimizer="sgd",
                           learning_rate=10, steps=5, hidden_size=8, dtype=dtype))
    assert len(list(trainer)) == step and trainer.status == "diverged"
    h = np.asarray(trainer.model.hidden, dtype=np.float64)
    assert np.isfinite(h[:first_overflow]).all() and not np.isfinite(h[first_overflow]).all()
    assert trainer.diverged_reason == (f"loss is nan at step {step} (the {dtype} forward pass overflowed: h_t is "
                                       f"not finite from t = {first_overflow} on)")


def test_exploding_config_ends_diverged_with_intact_records():
    trainer = train(Config(activation="relu", init="identity", spectral_radius=1.5, clip="none",
                           optimizer="sgd", learning_rate=1.0, seq_len=60, hidden_size=16, steps=50))
    records = list(trainer)
    assert trainer.status == "diverged"
    assert trainer.diverged_at == len(records) and trainer.diverged_at < 50
    assert str(trainer.diverged_at) in trainer.diverged_reason
    assert records and [r.step for r in records] == list(range(len(records)))
    for r in records:
        _finite_jsonable(r)


def test_a_divergence_keeps_the_arrays_of_the_step_before_it():
    # The exploding ReLU preset's unclipped lane: ||g|| 33 at step 0, 6.6e12 at step 1, loss NaN at step 2.
    # Step 1 is not an array step at record_every=3; last_arrays re-measures it from that step's weights
    # and batch, bit for bit what recording every step gives, and leaves the trainer's weights alone.
    config = Config(activation="relu", spectral_radius=1.5, seq_len=30, optimizer="sgd", learning_rate=0.05,
                    clip="none", steps=100)
    sparse, dense = train(config, record_every=3), train(config, record_every=1)
    sparse_records, dense_records = list(sparse), list(dense)
    assert sparse.status == dense.status == "diverged" and sparse.diverged_at == dense.diverged_at == 2
    assert [r.arrays is not None for r in sparse_records] == [True, False]
    step, arrays = sparse.last_arrays
    assert step == 1 and dense.last_arrays[0] == 1
    expected = dense_records[1].arrays
    for name in ("log10_grad_norm_per_step", "log10_weight_grad_per_step", "log10_input_grad_per_step",
                 "log10_bound_per_step", "input_saliency"):
        np.testing.assert_array_equal(getattr(arrays, name), getattr(expected, name), err_msg=name)
    assert arrays.log10_grad_norm_per_step[0] > arrays.log10_grad_norm_per_step[-1] + 4  # it grew going back
    for name, p in sparse.params.items():
        np.testing.assert_array_equal(p, dense.params[name], err_msg=name)  # the diverged weights, not step 1's
    nothing = train(Config(activation="linear", init="identity", spectral_radius=5.0, clip="none"))
    assert list(nothing) == [] and nothing.diverged_at == 0 and nothing.last_arrays is None


def test_same_config_gives_bit_identical_records():
    config = Config(seq_len=15, hidden_size=6, steps=6, activation="sigmoid")
    a, b = list(train(config, record_every=2)), list(train(config, record_every=2))
    for ra, rb in zip(a, b, strict=True):
        assert (ra.loss, ra.grad_norm, ra.sigma_max, ra.spectral_radius) == (rb.loss, rb.grad_norm, rb.sigma_max,
                                                                            rb.spectral_radius)
        assert (ra.arrays is None) == (rb.arrays is None)
        if ra.arrays is not None:
            np.testing.assert_array_equal(ra.arrays.log10_grad_norm_per_step, rb.arrays.log10_grad_norm_per_step)
    assert [r.arrays is not None for r in a] == [True, False, True, False, True, True]  # every 2nd + last
    assert list(train(config.replace(seed=1)))[0].loss != a[0].loss


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("batch_size", [32, 8])
def test_recording_never_changes_a_run(cell, batch_size):
    """The service records arrays every k steps (k = steps / 200, so a longer run records more sparsely):
    the gradients must be the same sums with and without the diagnostics, or the first 500 steps of a
    1000-step run would differ from a 500-step run. Bit-identical losses, norms and final weights."""
    config = Config(cell=cell, batch_size=batch_size, hidden_size=16, seq_len=30, steps=12, seed=4)
    every_step, every_fifth = train(config, record_every=1), train(config, record_every=5)
    assert [(a.loss, a.grad_norm) for a in every_step] == [(b.loss, b.grad_norm) for b in every_fifth]
    for name, p in every_step.params.items():
        np.testing.assert_array_equal(p, every_fifth.params[name], err_msg=name)


def test_profile_is_step_zero_of_training_and_all_records_are_finite():
    config = Config(seq_len=15, hidden_size=6, steps=3)
    first = next(iter(train(config)))
    record = profile(config)
    assert record.loss == first.loss and record.grad_norm == first.grad_norm
    _finite_jsonable(record)
    assert record.spectral_radius == pytest.approx(1.0) and record.gamma == 1.0


def test_cancel_stops_between_steps():
    trainer = train(Config(seq_len=10, hidden_size=4, steps=100))
    next(trainer)
    trainer.cancel()
    assert list(trainer) == [] and trainer.status == "cancelled" and trainer.step == 1


def test_unregistered_cell_is_a_config_error():
    with pytest.raises(ConfigError) as err:
        get_cell("transformer")
    assert err.value.field == "cell" and "not available yet" in err.value.message
    for name in ("lstm", "gru"):
        if name not in CELLS:
            with pytest.raises(ConfigError, match="cell"):
                train(Config(cell=name))


def test_gradcheck_detects_a_wrong_gradient(monkeypatch):
    rnn = CELLS["rnn"]
    original = rnn.backward

    def off_by_a_little(*args, **kwargs):
        grads, back = original(*args, **kwargs)
        grads["W_h"] = grads["W_h"] * 1.001
        return grads, back

    monkeypatch.setattr(rnn, "backward", off_by_a_little)
    errors = gradcheck(Config(seq_len=8, hidden_size=4, batch_size=2))
    assert errors["W_h"] > 1e-4 and errors["W_x"] < 1e-6


def _memoryless_predictor(targets, inputs, steps, held_out_targets, held_out_inputs):
    """The best predictor that sees only (t, x_t), fitted by counting on one batch: mean over t of the
    plug-in H(y_t | x_t), and its accuracy (majority class per input) on a second, held-out batch."""
    entropies, accuracies = [], []
    weights = 2.0 ** np.arange(inputs.shape[-1])  # inputs are 0/1: each row's binary code names it
    for t in steps:
        unique_keys, group = np.unique(inputs[t] @ weights, return_inverse=True)
        joint = np.zeros((len(unique_keys), targets.max() + 1))
        np.add.at(joint, (group.reshape(-1), targets[t]), 1.0)
        with np.errstate(divide="ignore", invalid="ignore"):
            entropies.append(-np.nansum(joint * np.log(joint / joint.sum(1, keepdims=True))) / targets.shape[1])
        held_group = np.searchsorted(unique_keys, held_out_inputs[t] @ weights)
        guess = np.argmax(joint, axis=1)[np.minimum(held_group, len(unique_keys) - 1)]
        accuracies.append(float(np.mean(guess == held_out_targets[t])))
    return float(np.mean(entropies)), float(np.mean(accuracies))


@pytest.mark.parametrize("case", [dict(task="adding"), dict(task="adding", target="every"),
                                  dict(task="copy", seq_len=30), dict(task="recall", num_classes=5),
                                  dict(task="recall", num_classes=5, target="every"), dict(task="temporal_order")],
                         ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_chance_baselines_match_the_best_memoryless_predictor(case):
    config = Config(**{"seq_len": 40, **case})
    info = task_info(config)
    batch = sample(config, np.random.default_rng(0), batch_size=4000)
    X, y = batch.inputs, batch.targets
    L = info.extra["sequence_length"]
    assert X.shape == (L, 4000, info.input_size)
    if info.loss_name == "mse":  # predicting the target's (per-timestep) mean
        assert float(np.mean(y[..., 0].var(axis=-1))) == pytest.approx(info.chance_loss, rel=0.05)
        if info.target_mode == "last":
            assert info.chance_loss == pytest.approx(1 / 6)
        return
    held_out = sample(config, np.random.default_rng(1), batch_size=4000)
    X2, y2 = held_out.inputs, held_out.targets
    if info.target_mode == "every":
        steps = range(L)
    else:
        steps, y, y2 = [L - 1], np.broadcast_to(y, (L, y.shape[0])), np.broadcast_to(y2, (L, y2.shape[0]))
    loss, _ = _memoryless_predictor(y, X, steps, y2, X2)
    metric_steps = steps if batch.metric_steps is None else range(L)[batch.metric_steps]
    _, accuracy = _memoryless_predictor(y, X, metric_steps, y2, X2)
    assert loss == pytest.approx(info.chance_loss, rel=0.03)
    assert accuracy == pytest.approx(info.chance_metric, rel=0.1)


def torch_per_timestep(model: Model, batch):
    """Autograd (float64) of the RNN written with explicit pre-activations a_t: per t, the recurrent and
    the input weight contributions ||h_{t-1}^T dL/da_t||, ||x_t^T dL/da_t||, and ||dL/dx_t||."""
    cfg, P = model.config, model.params
    W_x, W_h, b, W_o, c = (as_t(P[k]) for k in ("W_x", "W_h", "b", "W_o", "c"))
    X = as_t(batch.inputs).requires_grad_()
    L, B, _ = X.shape
    f = {"sigmoid": torch.sigmoid, "tanh": torch.tanh, "relu": torch.relu, "linear": lambda a: a}[cfg.activation]
    h, prevs, pres, states = torch.zeros(B, W_h.shape[0], dtype=torch.float64), [], [], []
    for t in range(L):
        h_in = h.detach() if cuts_gradient(t, L, cfg.truncate) else h
        a = X[t] @ W_x + h_in @ W_h + b
        a.retain_grad()
        prevs.append(h_in)
        pres.append(a)
        h = f(a)
        states.append(h)
    readout_loss(model, batch, states, W_o, c).backward()
    weight = [float((p.detach().T @ a.grad).norm()) if a.grad is not None else 0.0
              for p, a in zip(prevs, pres, strict=True)]
    input_weight = [float((X[t].detach().T @ a.grad).norm()) if a.grad is not None else 0.0
                    for t, a in enumerate(pres)]
    return (np.array(weight), np.array(input_weight), X.grad.flatten(1).norm(dim=1).numpy(),
            X.grad[:, 0].norm(dim=1).numpy())


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "linear"])
@pytest.mark.parametrize("case", [dict(task="adding"), dict(task="recall", target="every", truncate=4),
                                  dict(task="adding", truncate=5)],
                         ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_weight_and_input_gradient_per_timestep_match_pytorch(activation, case):
    model = Model(Config(activation=activation, **SMALL).replace(**case))
    batch = model.batch()
    back = model.loss_and_grads(batch)[3]
    weight, input_weight, input_grad, saliency = torch_per_timestep(model, batch)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(back.log10_weight_grad_per_step, np.log10(weight), atol=1e-9)
        np.testing.assert_allclose(back.log10_input_weight_grad_per_step, np.log10(input_weight), atol=1e-9)
        np.testing.assert_allclose(back.log10_input_grad_per_step, np.log10(input_grad), atol=1e-9)
        np.testing.assert_allclose(back.input_saliency, np.log10(saliency), atol=1e-9)


# Direct and Gram forms; the Gram form with a copied chunk (B <= 32) over several chunks, without (B > 32).
@pytest.mark.parametrize(("L", "B", "H", "G"), [(7, 2, 9, 9), (7, 6, 4, 4), (7, 3, 5, 20), (7, 8, 6, 24),
                                                (9, 32, 64, 64), (70, 8, 256, 256), (50, 16, 64, 256),
                                                (45, 40, 128, 512)])
def test_weight_contribution_norms_both_forms(L, B, H, G):
    from rnncore.cells.rnn import weight_contribution_sqnorms
    rng = np.random.default_rng(B * H)
    h_prev, delta = rng.standard_normal((L, B, H)), rng.standard_normal((L, B, G))
    direct = [np.sum((h_prev[t].T @ delta[t]) ** 2) for t in range(L)]
    np.testing.assert_allclose(weight_contribution_sqnorms(h_prev, delta), direct, rtol=1e-12)
    # with the inputs (D = 3 or 8) as well: both shares, the second from the same delta delta^T (Gram form)
    for D in (3, 8):
        inputs = rng.standard_normal((L, B, D))
        recurrent, input_share = weight_contribution_sqnorms(h_prev, delta, inputs)
        np.testing.assert_allclose(recurrent, direct, rtol=1e-12)
        np.testing.assert_allclose(input_share, [np.sum((inputs[t].T @ delta[t]) ** 2) for t in range(L)], rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_to_true_scale_equals_ldexp_bit_for_bit_above_the_flush_threshold(dtype):
    """Every row comes out exactly as np.ldexp(scaled[t], e_t) (exact products, overflow to inf, in place or
    not), except that in rows shrunk (e < 0) values below flush_threshold are 0: no subnormal survives,
    and rows at e >= 0 keep even their subnormal inputs."""
    from rnncore.logscale import flush_threshold, to_true_scale
    rng = np.random.default_rng(1)
    scaled = (rng.standard_normal((400, 3, 5)) * 2.0 ** rng.integers(-40, 40, (400, 1, 1))).astype(dtype)
    exponents = rng.integers(-1200, 1200, 400)
    exponents[:50] = 0
    exponents[50:100] = rng.integers(-160, -120, 50)  # float32's subnormal range
    exponents[100:150] = rng.integers(-1080, -1020, 50)  # float64's
    exponents[150:200] = rng.integers(-140, -60, 50)  # float32's flush band, rows at the threshold
    tiny = np.finfo(dtype).tiny
    scaled[0, 0, 0] = tiny / 4  # a subnormal input in a row that is not shrunk: kept
    with np.errstate(over="ignore"):
        expected = np.ldexp(scaled, exponents.astype(np.int32).reshape(-1, 1, 1))
    flushed = (exponents.reshape(-1, 1, 1) < 0) & (np.abs(expected) < flush_threshold(dtype))
    assert flushed.any() and (flushed & (expected >= tiny)).any()  # normal values under the threshold too
    expected[flushed] = 0
    copy, elsewhere = scaled.copy(), np.empty_like(scaled)
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(to_true_scale(scaled, exponents), expected)
        assert to_true_scale(copy, exponents, out=copy) is copy
        assert to_true_scale(scaled, exponents, out=elsewhere) is elsewhere
    np.testing.assert_array_equal(copy, expected)
    np.testing.assert_array_equal(elsewhere, expected)
    assert np.isinf(expected).any() and (np.abs(expected[expected != 0]) >= flush_threshold(dtype)).any()
    assert not ((expected != 0) & (np.abs(expected) < tiny))[1:].any()  # only the kept input is subnormal
    assert to_true_scale(scaled, np.zeros(400, dtype=np.int64)) is scaled


def test_to_true_scale_beyond_the_normal_range_of_its_factor():
    """Rows beyond float32's normal range of 2**e (e < -126) take two multiplies: values at or above the flush
    threshold come out exact (24 significant bits kept, not rounded twice), the rest and rows wholly below
    it are 0, and a row at e = 0 is untouched."""
    from rnncore.logscale import flush_threshold, to_true_scale
    threshold = flush_threshold(np.float32)
    exponents = np.array([-130, -140, -200, 0])
    scaled = np.array([[2.0 ** 40 + 2.0 ** 17, 2.0 ** 30 + 1.0], [2.0 ** 39 + 2.0 ** 16, 1.0],
                       [2.0 ** 40, 1.0], [3.0, 1.0]], dtype=np.float32)
    out = to_true_scale(scaled, exponents)
    np.testing.assert_array_equal(out[0], np.ldexp(scaled[0].astype(np.float64), -130).astype(np.float32))
    assert out[1, 0] == np.float32(np.ldexp(2.0 ** 39 + 2.0 ** 16, -140)) and out[1, 1] == 0
    assert not out[2].any() and out[3].tolist() == [3.0, 1.0]
    assert np.all((out == 0) | (np.abs(out) >= threshold))


def _activation_and_derivative(name, a):
    """(f(a), f'(a)) as the RNN's forward pass forms them: activate, then derivative_inplace on what it left."""
    from rnncore.cells.activations import activate, derivative_inplace
    pre, h = a.copy(), np.empty_like(a)
    activate(name, pre, h)
    return h, derivative_inplace(name, pre, h)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("spread", ["mostly 1 - h^2", "mostly exp route"])
def test_activation_derivative_keeps_precision_everywhere(dtype, spread):
    """f' against the cosh form in float64 (sech^2 a, (sech(a/2) / 2)^2) over a dense grid: across tanh's
    boundary between 1 - h^2 and the exp route (|a| = 1.317), and into saturation, where 1 - tanh(a)^2
    would be exactly 0. 'mostly 1 - h^2' gathers its few exp-route elements by index (12% of the grid
    here), 'mostly exp route' takes one exp pass over all. Relative error within a few ulps."""
    limit = 300.0 if dtype == np.float64 else 40.0  # true tanh' 4 e^(-2|a|) a normal number of the dtype
    grid = np.linspace(-1.5, 1.5, 20001) if spread == "mostly 1 - h^2" else np.linspace(-limit, limit, 20001)
    a = np.concatenate([grid, [0.0, 1e-6, 0.7, -3.0, 9.5, 20.0, -40.0, 1.317, -1.3169]])
    a = a[np.abs(a) < limit]
    far_share = np.mean(np.tanh(a) ** 2 > 0.75)
    assert far_share < 0.2 if spread == "mostly 1 - h^2" else far_share > 0.2  # both routes of tanh_derivative
    tol = 8 * np.finfo(dtype).eps
    x = a.astype(dtype)
    a = x.astype(np.float64)  # the reference at the inputs as the dtype holds them
    h, tanh_prime = _activation_and_derivative("tanh", x)
    np.testing.assert_allclose(h, np.tanh(a), rtol=4 * np.finfo(dtype).eps, atol=0)
    np.testing.assert_allclose(tanh_prime, 1 / np.cosh(a) ** 2, rtol=tol, atol=0)
    assert np.all(tanh_prime > 0)
    s, sigmoid_prime = _activation_and_derivative("sigmoid", x)
    np.testing.assert_allclose(s, 1 / (1 + np.exp(-a)), rtol=4 * np.finfo(dtype).eps, atol=0)
    np.testing.assert_allclose(sigmoid_prime, (0.5 / np.cosh(a / 2)) ** 2, rtol=tol, atol=0)
    np.testing.assert_array_equal(_activation_and_derivative("relu", x)[1], a > 0)
    assert _activation_and_derivative("linear", x)[1] is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_activation_derivative_below_the_dtype_range_is_zero_not_nan(dtype):
    for name in ("tanh", "sigmoid"):
        _, prime = _activation_and_derivative(name, np.array([1e4, -1e4, 0.5], dtype))
        np.testing.assert_array_equal(prime[:2], [0.0, 0.0])
        assert prime[2] > 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gated_sigmoid_and_its_derivative_from_the_kept_exp(dtype):
    """The gated cells' sigmoid keeps exp(-a) and forms sigmoid' = s (e s) from it: a few ulps from the cosh
    form in float64 on both tails, and 0 (not NaN) where exp(-a) overflows."""
    from rnncore.cells.activations import sigmoid_derivative, sigmoid_keeping_exp
    a = np.array([0.0, 1e-6, 0.7, -3.0, 9.5, -20.0, 40.0, -80.0, 300.0, -700.0])
    a = a[np.abs(a) < (800 if dtype == np.float64 else 85)]
    e, s = a.astype(dtype), np.empty(len(a), dtype)
    sigmoid_keeping_exp(e, s)
    np.testing.assert_allclose(s, 1 / (1 + np.exp(-a)), rtol=4 * np.finfo(dtype).eps)
    np.testing.assert_allclose(sigmoid_derivative(e, s, out=e), (0.5 / np.cosh(a / 2)) ** 2,
                               rtol=8 * np.finfo(dtype).eps)
    e, s = np.array([-1e4, 1e4], dtype), np.empty(2, dtype)
    with np.errstate(over="ignore"):
        sigmoid_keeping_exp(e, s)
    np.testing.assert_array_equal(s, [0.0, 1.0])
    np.testing.assert_array_equal(sigmoid_derivative(e, s, out=e), [0.0, 0.0])


def test_filled_arrays_stand_in_for_scalars_bit_for_bit():
    """activations.filled: a read-only constant array of the asked shape and dtype (NumPy's fmin/maximum
    loops are vectorised for two arrays only), reused per shape, grown for a larger one; the ReLU and the
    sigmoid' clamp give exactly what the scalar forms give, NaN, inf and -0.0 included."""
    from rnncore.cells.activations import activate, filled, sigmoid_derivative
    small, large = np.zeros((2, 3), np.float32), np.zeros((4, 5, 6), np.float32)
    ones = filled(1.0, small)
    assert ones.shape == (2, 3) and ones.dtype == np.float32 and np.all(ones == 1.0) and not ones.flags.writeable
    assert filled(1.0, small) is ones and filled(1.0, small.astype(np.float64)).dtype == np.float64
    assert filled(1.0, large).shape == (4, 5, 6) and np.all(filled(1.0, large) == 1.0)
    assert np.all(filled(0.0, small) == 0.0) and np.all(filled(1.0, small) == 1.0)
    a = np.random.default_rng(0).standard_normal((3, 7, 5)).astype(np.float32) * 100
    a.reshape(-1)[:6] = [np.nan, np.inf, -np.inf, -0.0, 0.0, 1e-45]
    relu = np.empty_like(a)
    activate("relu", a, relu)
    assert relu.tobytes() == np.maximum(a, 0.0).tobytes()
    with np.errstate(invalid="ignore", over="ignore"):
        e, s = np.exp(-a), np.random.default_rng(1).random(a.shape).astype(np.float32)
        e.reshape(-1)[6] = np.inf
        expected = np.fmin(e * s, 1.0) * s
        assert sigmoid_derivative(e.copy(), s, out=np.empty_like(e)).tobytes() == expected.tobytes()


@pytest.mark.parametrize("kind", ["sgd", "momentum", "adam"])
def test_optimizers_match_torch_optim(kind):
    rng = np.random.default_rng(0)
    params = {"W": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    ours = Optimizer(kind, 0.05, momentum=0.8)
    theirs = {k: torch.tensor(v.copy(), requires_grad=True) for k, v in params.items()}
    opt = {"sgd": lambda p: torch.optim.SGD(p, lr=0.05),
           "momentum": lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8),
           "adam": lambda p: torch.optim.Adam(p, lr=0.05)}[kind](list(theirs.values()))
    for _ in range(6):
        grads = {k: rng.standard_normal(v.shape) for k, v in params.items()}
        ours.step(params, grads)
        for k, g in grads.items():
            theirs[k].grad = torch.tensor(g)
        opt.step()
    for k in params:
        np.testing.assert_allclose(params[k], theirs[k].detach().numpy(), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("case", [dict(truncate=4), dict(target="every", truncate=3), dict(clip="per_timestep",
                                  clip_threshold=0.01), dict(activation="sigmoid", seq_len=200)],
                         ids=lambda c: "-".join(f"{k}={v}" for k, v in c.items()))
def test_reused_workspace_gives_the_same_records_as_fresh_buffers(case):
    """Training reuses one set of buffers across steps; a trainer without it must agree bit for bit
    (truncation leaves rows unreached, sigmoid at T=200 renormalises so exponents are nonzero)."""
    config = Config(seq_len=30, hidden_size=6, batch_size=3, steps=4, clip="none").replace(**case)
    fresh = train(config)
    fresh.model.workspace = None
    for a, b in zip(train(config), fresh, strict=True):
        assert (a.loss, a.grad_norm, a.grad_norm_clipped) == (b.loss, b.grad_norm, b.grad_norm_clipped)
        for name in ("log10_grad_norm_per_step", "log10_weight_grad_per_step", "log10_input_grad_per_step"):
            np.testing.assert_array_equal(getattr(a.arrays, name), getattr(b.arrays, name))
    if case.get("activation") == "sigmoid":
        assert a.arrays.log10_grad_norm_per_step[0] < -30  # the scaled copy was renormalised


def test_spectral_radius_on_its_cadence_and_exact():
    config = Config(seq_len=10, hidden_size=8, batch_size=2, steps=30, learning_rate=0.01)
    every = spectral_every(config)
    assert 1 < every < 30
    trainer, steps = train(config), []
    while trainer.step < config.steps:
        W_before = trainer.params["W_h"].astype(np.float64)  # the record describes W_h before its update
        record = next(trainer)
        if record.spectral_radius is not None:
            steps.append(record.step)
            assert record.spectral_radius == pytest.approx(np.max(np.abs(np.linalg.eigvals(W_before))), rel=1e-12)
    assert steps[0] == 0 and steps[-1] == config.steps - 1
    assert all(later - earlier == every for earlier, later in zip(steps[:-2], steps[1:-1], strict=True))


def _informative_positions(config: Config, X: np.ndarray) -> list[np.ndarray]:
    """Per span of informative_spans(), the timestep of each example where its information sits."""
    if config.task == "adding":
        _, t = np.nonzero(X[:, :, 1].T)  # per example, its two marked positions in time order
        return [t.reshape(-1, 2)[:, 0], t.reshape(-1, 2)[:, 1]]
    if config.task == "temporal_order":
        t = np.nonzero((X[:, :, 0] + X[:, :, 1]).T)[1].reshape(-1, 2)
        return [t[:, 0], t[:, 1]]
    if config.task == "copy":
        return [np.nonzero(X[:, :, :8].sum(axis=(1, 2)))[0]]
    return [np.nonzero(X[:, 0, -1])[0]]  # recall: the flag on the token to recall


@pytest.mark.parametrize("task", ["adding", "copy", "temporal_order", "recall"])
@pytest.mark.parametrize("seq_len", [2, 3, 7, 10, 41, 200])
def test_informative_spans_are_where_each_tasks_information_sits(task, seq_len):
    # the page draws these spans under the unrolled network: every example's information must lie in them,
    # and (over 3000 examples) reach both ends of each
    config = Config(task=task, seq_len=seq_len)
    info = task_info(config)
    spans = info.extra["informative"]
    X = sample(config, np.random.default_rng(0), batch_size=3000).inputs
    positions = _informative_positions(config, X)
    for span, t in zip(spans, positions, strict=True):
        assert 0 <= span["start"] < span["stop"] <= info.extra["sequence_length"] and span["what"]
        assert t.min() == span["start"] and t.max() == span["stop"] - 1, (span, t.min(), t.max())
    # copy: the loss terms that score the answer are exactly those whose target is not the blank symbol
    batch = sample(config, np.random.default_rng(0), batch_size=3000)
    if task == "copy":
        answer = info.extra["answer"]
        not_blank = np.flatnonzero((batch.targets != 8).any(axis=1))
        assert (answer["start"], answer["stop"]) == (not_blank[0], not_blank[-1] + 1) == (seq_len + 10, seq_len + 20)
        assert batch.metric_steps == slice(answer["start"], answer["stop"]) and answer["what"]
    else:
        assert "answer" not in info.extra


@pytest.mark.parametrize(("cell", "extra"), [("rnn", {"activation": "sigmoid"}),
                                             ("gru", {"init": "gaussian", "init_scale": 0.1}),
                                             ("lstm", {"forget_bias": 0.0, "init": "gaussian", "init_scale": 0.1})])
def test_float32_gradients_match_float64_where_the_flush_drops_the_vanished_terms(cell, extra):
    """A gradient that vanishes 68-190 orders, far below float32's range, so to_true_scale flushes and
    double-multiplies the early rows: the float32 weight gradients still equal the float64 ones of the same
    weights and data to float32 rounding (measured 2-4e-7). The flush only touches rows shrunk by the
    log-scale bookkeeping (norms < 2^-40), whose terms lie far below the rounding of the rows kept."""
    base = {"cell": cell, "task": "recall", "seq_len": 300, "hidden_size": 16, "batch_size": 8, "seed": 3, **extra}
    m32, m64 = Model(Config(dtype="float32", **base)), Model(Config(dtype="float64", **base))
    for name, value in m32.params.items():
        m64.params[name] = value.astype(np.float64)  # the same (float32-representable) weights
    b32, b64 = (sample(m.config, np.random.default_rng(5)) for m in (m32, m64))
    _, _, g32, back, _, _ = m32.loss_and_grads(b32)
    _, _, g64, _, _, _ = m64.loss_and_grads(b64)
    from rnncore.logscale import flush_threshold
    assert back.log10_grad_norm_per_step.min() < math.log10(flush_threshold(np.float32)) - 20  # rows flushed
    for name, exact in g64.items():
        error = np.linalg.norm(g32[name].astype(np.float64) - exact) / np.linalg.norm(exact)
        assert error < 1e-5, (name, error)


# Found by a random sweep against PyTorch (15,000 float64 configs; the engine checked against an 80-bit
# longdouble BPTT where torch itself rounds): a step that shrinks the delta below the square root of the
# dtype's range at once, a loss whose own gradient starts there, and Gram sums that cancel.
@pytest.mark.parametrize(("dtype", "rho"), [("float64", 1e-200), ("float32", 1e-30)])
def test_norms_stay_exact_when_one_step_shrinks_the_gradient_past_the_squares_range(dtype, rho):
    """Linear, identity * rho, loss at the end: ||dL/dh_t|| = rho^(T-1-t) ||dL/dh_{T-1}|| exactly. Its squares
    underflow at once (1e-400 in float64); the renormalisation missed that (n2 == 0) and reported -inf."""
    config = Config(activation="linear", init="identity", spectral_radius=rho, task="adding", target="last",
                    seq_len=6, hidden_size=3, batch_size=2, dtype=dtype, clip="none")
    log10_norm = profile(config).arrays.log10_grad_norm_per_step
    predicted = log10_norm[-1] + np.arange(5, -1, -1) * math.log10(rho)
    np.testing.assert_allclose(log10_norm, predicted, rtol=0, atol=1e-9 if dtype == "float64" else 1e-5)


def test_lstm_hidden_and_cell_norms_keep_their_own_scale_under_a_shared_exponent():
    """dh_t and dc_t share the carry's exponent; with W_h = 1e-30 I, dh_t is ~1e-30 of dc_t and its squares
    underflow in float32. The float32 run reports what float64 does at the same weights and data."""
    base = dict(cell="lstm", init="identity", spectral_radius=1e-30, task="adding", target="last", seq_len=6,
                hidden_size=3, batch_size=2, clip="none")
    r32, r64 = (profile(Config(dtype=dtype, **base)).arrays for dtype in ("float32", "float64"))
    assert np.all(r64.log10_grad_norm_per_step[:-1] < -25)  # squares below 1e-50: float32 has none
    np.testing.assert_allclose(r32.log10_grad_norm_per_step, r64.log10_grad_norm_per_step, rtol=0, atol=1e-4)
    np.testing.assert_allclose(r32.log10_cell_grad_norm_per_step, r64.log10_cell_grad_norm_per_step, atol=1e-4)


def test_a_loss_gradient_below_the_squares_range_is_reported_not_zero():
    """A confident float64 cross-entropy whose dL/dy is ~1e-168: every per-timestep norm is finite (-168 ...),
    the input gradients' sums of squares too (they underflowed to -inf before)."""
    config = Config(activation="linear", task="temporal_order", seq_len=7, hidden_size=5, batch_size=2,
                    init="gaussian", init_scale=1.530577447794089, dtype="float64", seed=1236970811, clip="none")
    arrays = profile(config).arrays
    for name in ("log10_grad_norm_per_step", "log10_input_grad_per_step", "input_saliency"):
        values = getattr(arrays, name)
        assert np.all(np.isfinite(values)) and np.all(values < -160), (name, values)


def test_gram_form_cancellation_falls_back_to_the_direct_product():
    """Two equal rows of x_t with opposite deltas: sum((X X^T) * (D D^T)) cancels to rounding noise (20x too
    large at t = 1, 0 at t = 4); the per-timestep contributions match PyTorch."""
    model = Model(Config(activation="linear", task="temporal_order", seq_len=7, hidden_size=4, batch_size=2,
                         init="gaussian", init_scale=1.5368259240887387, dtype="float64", seed=1301460725,
                         clip="none"))
    batch = model.batch()
    back = model.loss_and_grads(batch)[3]
    weight, input_weight, _, _ = torch_per_timestep(model, batch)
    with np.errstate(divide="ignore"):  # h_{-1} = 0: no recurrent contribution at t = 0
        np.testing.assert_allclose(back.log10_input_weight_grad_per_step, np.log10(input_weight), atol=1e-9)
        np.testing.assert_allclose(back.log10_weight_grad_per_step, np.log10(weight), atol=1e-9)
    assert back.log10_input_weight_grad_per_step[1] == pytest.approx(-7.17359, abs=1e-5)


def _count_gram_recomputations(monkeypatch):
    """{"float64 gram": timesteps the Gram form ran again in float64, "direct": timesteps of A^T D in float64}."""
    from rnncore.cells import rnn
    counts = {"float64 gram": 0, "direct": 0}
    gram_sums, sqnorm = getattr(rnn, "_gram_sums", None), rnn.sqnorm

    def counting_gram_sums(a, a_copy, gram_d):
        if a.dtype == np.float64 and gram_d.dtype == np.float64 and a is a_copy:
            counts["float64 gram"] += len(a)
        return gram_sums(a, a_copy, gram_d)

    def counting_sqnorm(a):
        counts["direct"] += 1
        return sqnorm(a)

    monkeypatch.setattr(rnn, "sqnorm", counting_sqnorm)
    if gram_sums is not None:
        monkeypatch.setattr(rnn, "_gram_sums", counting_gram_sums)
    return counts


def _direct_sqnorms(a, d):
    return np.array([np.sum((a[t].T.astype(np.float64) @ d[t].astype(np.float64)) ** 2) for t in range(len(a))])


def test_gram_form_is_kept_in_float32_where_its_terms_cancel_only_as_in_training(monkeypatch):
    """Tanh states sharing a direction, deltas sharing one with random signs per row (as trained states do: the
    bench's recall task at (64, 100, 8, 512) has sums 0.1-20% of sum |A A^T| * |D D^T|): here 1.5-2.1%. The
    float32 Gram sums are within 1.3e-6 of float64's, and none is recomputed. The worst-case estimate used
    before, (H + G) eps / 1e-3 = 6%, recomputed every one directly (training steps there 1.5-1.9x slower)."""
    from rnncore.cells.rnn import weight_contribution_sqnorms
    rng = np.random.default_rng(0)
    L, B, H = 20, 64, 256
    h_prev = np.tanh(2 * rng.standard_normal((L, 1, H)) + 0.3 * rng.standard_normal((L, B, H))).astype(np.float32)
    signs = rng.choice([-1.0, 1.0], (L, B, 1))
    delta = (signs * rng.standard_normal((L, 1, H)) + rng.standard_normal((L, B, H))).astype(np.float32)
    counts = _count_gram_recomputations(monkeypatch)
    np.testing.assert_allclose(weight_contribution_sqnorms(h_prev, delta), _direct_sqnorms(h_prev, delta), rtol=1e-5)
    assert counts == {"float64 gram": 0, "direct": 0}


@pytest.mark.parametrize(("offset", "path"), [(2.0 ** -10, "float64 gram"), (2.0 ** -23, "direct")])
def test_gram_form_recomputes_heavy_cancellation_in_float64(monkeypatch, offset, path):
    """Two equal rows of h_{t-1} whose deltas cancel but for ``offset``: ||h^T delta||^2 is ~offset^2 of the
    Gram terms (1e-6: beyond float32's Gram form, the float64 one holds; 1e-14: beyond that too, A^T D in
    float64). Every timestep takes that path and matches the direct float64 value of the same float32 data."""
    from rnncore.cells.rnn import weight_contribution_sqnorms
    rng = np.random.default_rng(1)
    L, B, H = 4, 4, 64
    h_prev = np.zeros((L, B, H), np.float32)
    h_prev[:, :2] = np.abs(rng.standard_normal((L, 1, H))) + 0.5
    delta = np.zeros((L, B, H), np.float32)
    delta[:, 0] = 1.0 + np.round(rng.random((L, H)) * 8) / 8
    delta[:, 1] = -delta[:, 0] + offset * np.sign(rng.standard_normal((L, H)))
    counts = _count_gram_recomputations(monkeypatch)
    expected = _direct_sqnorms(h_prev, delta)
    assert np.all(expected > 0)
    np.testing.assert_allclose(weight_contribution_sqnorms(h_prev, delta), expected, rtol=1e-6)
    assert counts["float64 gram"] == L and counts["direct"] == (L if path == "direct" else 0)
