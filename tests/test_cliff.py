"""The exploding-gradient cliff (Pascanu et al. 2013, Fig. 6): exact gradients, the wall, clipped vs plain SGD,
and GET /api/loss-surface."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from fastapi.testclient import TestClient

from app.main import create_app
from app.routers.cliff import _finite
from rnncore import cliff

# Off the wall (smooth), on the ramp of the wall, and on both plateaus.
POINTS = [(2.0, -1.0), (4.5, -2.2), (5.0, -2.6), (4.25, -3.0), (8.0, 4.0), (-1.5, 0.7)]


def torch_loss(w: float, b: float) -> tuple[float, float, float]:
    w_t = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    b_t = torch.tensor(b, dtype=torch.float64, requires_grad=True)
    x = torch.tensor(cliff.X0, dtype=torch.float64)
    for _ in range(cliff.T):
        x = w_t * torch.sigmoid(x) + b_t
    energy = (torch.sigmoid(x) - cliff.TARGET) ** 2
    energy.backward()
    return energy.item(), w_t.grad.item(), b_t.grad.item()


@pytest.mark.parametrize("w,b", POINTS)
def test_gradient_matches_torch_autograd(w, b):
    energy, grad_w, grad_b = (float(v) for v in cliff.loss_and_grad(w, b))
    ref_energy, ref_w, ref_b = torch_loss(w, b)
    assert energy == pytest.approx(ref_energy, rel=1e-12, abs=1e-300)
    np.testing.assert_allclose([grad_w, grad_b], [ref_w, ref_b], rtol=1e-9, atol=1e-300)


@pytest.mark.parametrize("w,b", POINTS)
def test_gradient_matches_finite_differences(w, b):
    _, grad_w, grad_b = (float(v) for v in cliff.loss_and_grad(w, b))
    # central differences with a step scaled to the local curvature: small enough on the steep ramp
    eps = 1e-5 / max(1.0, abs(grad_w) + abs(grad_b))
    fd_w = (cliff.loss(w + eps, b) - cliff.loss(w - eps, b)) / (2 * eps)
    fd_b = (cliff.loss(w, b + eps) - cliff.loss(w, b - eps)) / (2 * eps)
    scale = max(abs(grad_w), abs(grad_b))
    assert abs(fd_w - grad_w) / scale < 1e-6
    assert abs(fd_b - grad_b) / scale < 1e-6


def test_grid_is_the_pointwise_function():
    ws, bs, energy, grad_norm = cliff.grid(2.0, 10.0, -6.0, 6.0, 7, 5)
    assert energy.shape == grad_norm.shape == (5, 7)  # rows b, columns w
    for i, b in enumerate(bs):
        for j, w in enumerate(ws):
            e, gw, gb = cliff.loss_and_grad(w, b)
            assert energy[i, j] == e
            assert grad_norm[i, j] == pytest.approx(np.hypot(gw, gb), rel=1e-15)


@pytest.mark.parametrize("w", [4.5, 5.0, 5.5])
def test_the_wall_gradient_norm_spans_orders_of_magnitude_across_it(w):
    bs = np.linspace(-4.0, -1.0, 300001)  # a vertical line crossing the wall, spacing 1e-5
    energy, grad_w, grad_b = cliff.loss_and_grad(w, bs)
    grad_norm = np.hypot(grad_w, grad_b)
    span = np.log10(grad_norm.max()) - np.log10(grad_norm.min())
    assert span > 5.0  # measured: 5.4 (w=4.5), 5.6 (w=5), 5.5 (w=5.5)
    # the peak sits where x_0 = 0.5 is the unstable fixed point of x -> w sigmoid(x) + b
    assert abs(bs[grad_norm.argmax()] - cliff.wall_b(w)) < 0.005
    # and E jumps between the two plateaus across it
    assert energy[0] > 0.45 and energy[-1] < 0.1


def test_default_unclipped_sgd_hits_the_wall_and_is_thrown_far_away():
    d = cliff.DEFAULTS
    plain = cliff.sgd(d["start_w"], d["start_b"], d["learning_rate"], d["steps"])
    clipped = cliff.sgd(d["start_w"], d["start_b"], d["learning_rate"], d["steps"], d["threshold"])
    allowed = d["learning_rate"] * d["threshold"]
    assert plain.diverged_at is None and clipped.diverged_at is None
    assert len(plain.w) == len(clipped.w) == d["steps"] + 1
    assert plain.step_length.max() > 10 * allowed  # measured 85x
    assert clipped.step_length.max() <= allowed * (1 + 1e-12)
    assert clipped.clipped.any()
    # the clipped run is plain SGD until clipping first fires
    first = int(np.argmax(clipped.clipped))
    np.testing.assert_array_equal(plain.w[: first + 1], clipped.w[: first + 1])
    # the jump lands far from where it took off, on a plateau; the clipped run stays low
    jump = int(plain.step_length.argmax())
    assert np.hypot(plain.w[jump + 1] - plain.w[jump], plain.b[jump + 1] - plain.b[jump]) > 5.0
    assert plain.loss[-1] > 0.05 and clipped.loss[-1] < 0.01
    # both stay inside the default plot
    for run in (plain, clipped):
        assert d["w_min"] <= run.w.min() and run.w.max() <= d["w_max"]
        assert d["b_min"] <= run.b.min() and run.b.max() <= d["b_max"]


@pytest.mark.parametrize("start_w,start_b", [(4.2, -3.05), (4.3, -2.95), (4.25, -3.0)])
def test_clipped_steps_never_exceed_lr_times_threshold(start_w, start_b):
    lr, tau = 0.3, 0.3
    plain = cliff.sgd(start_w, start_b, lr, 40)
    clipped = cliff.sgd(start_w, start_b, lr, 40, tau)
    assert plain.step_length.max() > lr * tau  # near the default start plain SGD always overshoots somewhere
    assert clipped.step_length.max() <= lr * tau * (1 + 1e-12)
    # where clipping fired, the step has exactly the threshold length
    np.testing.assert_allclose(clipped.step_length[clipped.clipped], lr * tau, rtol=1e-12)


def test_finite_sends_null_for_non_finite():
    assert _finite([1.23456789, np.inf, -np.inf, np.nan], 4) == [1.235, None, None, None]


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as test_client:
        yield test_client


def test_api_default_surface_and_trajectories(client):
    response = client.get("/api/loss-surface")
    assert response.status_code == 200
    body = response.json()
    d = cliff.DEFAULTS
    n = d["resolution"]
    assert len(body["w"]) == len(body["b"]) == n
    assert len(body["log10_loss"]) == n and all(len(row) == n for row in body["log10_loss"])
    assert body["w"][0] == d["w_min"] and body["b"][-1] == d["b_max"]
    plain, clipped = body["trajectories"]
    assert plain["label"] == "SGD" and clipped["label"] == f"SGD + norm clip {d['threshold']:g}"
    assert plain["threshold"] is None and clipped["threshold"] == d["threshold"]
    allowed = d["learning_rate"] * d["threshold"]
    assert plain["max_step_length"] > 10 * allowed
    assert max(clipped["step_length"]) <= allowed * (1 + 1e-5)
    assert len(plain["w"]) == len(plain["loss"]) == d["steps"] + 1
    assert len(plain["grad_norm"]) == len(plain["step_length"]) == d["steps"]
    # the grid shows the wall: log10 E spans from the E ~ 0.49 plateau down to the valley
    flat = [v for row in body["log10_loss"] for v in row if v is not None]
    assert max(flat) > -0.35 and min(flat) < -3


def test_api_params_change_the_grid(client):
    response = client.get("/api/loss-surface", params={
        "resolution": 11, "w_min": 4, "w_max": 6, "b_min": -3, "b_max": -2, "steps": 5, "learning_rate": 0.1,
        "threshold": 1, "start_w": 5, "start_b": -2.5})
    assert response.status_code == 200
    body = response.json()
    assert body["w"][0] == 4 and body["w"][-1] == 6 and len(body["b"]) == 11
    assert len(body["trajectories"][1]["w"]) == 6
    expected = cliff.sgd(5, -2.5, 0.1, 5, 1.0)
    np.testing.assert_allclose(body["trajectories"][1]["w"], expected.w, rtol=1e-5)


@pytest.mark.parametrize("params,field", [
    ({"resolution": 201}, "resolution"),
    ({"resolution": 2}, "resolution"),
    ({"w_min": 5, "w_max": 1}, "w_max"),
    ({"b_min": 0, "b_max": 0}, "b_max"),
    ({"learning_rate": 0}, "learning_rate"),
    ({"learning_rate": "nan"}, "learning_rate"),
    ({"threshold": -1}, "threshold"),
    ({"steps": 501}, "steps"),
    ({"steps": "many"}, "steps"),
    ({"start_w": 1e9}, "start_w"),
    ({"w_max": "inf"}, "w_max"),
    ({"resolutoin": 50}, "resolutoin"),
])
def test_api_rejects_bad_params_with_422_naming_the_field(client, params, field):
    response = client.get("/api/loss-surface", params=params)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(error["loc"][-1] == field for error in errors), errors


def test_the_answer_names_each_default_so_a_link_can_leave_them_out(client):
    body = client.get("/api/loss-surface", params={"threshold": 0.7}).json()
    assert body["params"]["threshold"] == 0.7 and body["defaults"]["threshold"] == cliff.DEFAULTS["threshold"]
    assert {k: body["defaults"][k] for k in cliff.DEFAULTS if k in body["defaults"]} == {
        k: v for k, v in cliff.DEFAULTS.items() if k in body["defaults"]}


def test_sgd_points_are_bit_for_bit_the_vectorised_loss_and_gradient():
    # sgd runs on Python floats (10x faster: NumPy's per-call cost on 0-d arrays); the same numbers as loss_and_grad
    # at one point (the grid's energies may differ in the last bit: an array's **2 is np.square, a scalar's C pow)
    rng = np.random.default_rng(0)
    ws = np.concatenate([rng.uniform(-20, 20, 300), rng.uniform(4.2, 8.5, 300)])
    bs = np.concatenate([rng.uniform(-20, 20, 300), cliff.wall_b(ws[300:]) + rng.normal(0, 1e-3, 300)])  # the wall
    for w, b in zip(ws.tolist(), bs.tolist(), strict=True):
        assert cliff._point_loss_and_grad(w, b) == tuple(float(v) for v in cliff.loss_and_grad(w, b)), (w, b)
