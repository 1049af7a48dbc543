"""The presets' explanations quote what their seeded lanes measurably do; these tests re-run the lanes and
hold the text to it. Runs are deterministic, so a change in the engine (or in a preset's settings) that
makes a sentence false fails here. (The "RNN vs LSTM vs GRU" preset has its own test in test_lstm_gru.py.)

Measured: ``drop`` = log10 ||dL/dh_{T-1}|| - log10 ||dL/dh_0|| (orders of magnitude lost from the last
timestep to the first; negative = the gradient grows going back), at initialisation (``profile``) and at
the last recorded step; ``final`` = the task metric's mean over the last 50 steps.

The lanes train with one BLAS thread, as the service trains them (app/blas.py): a float32 matrix product's
rounding depends on how BLAS splits it between threads, and the exploding lanes amplify a last-bit
difference into another trajectory (the clipped ReLU lane: 48% of steps clipped at one thread, 58% at two).
"""
from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_limits

from app.presets import PRESETS
from rnncore import Config, profile, task_info, train

BY_ID = {preset["id"]: preset for preset in PRESETS}


@pytest.fixture(autouse=True)
def one_blas_thread():
    with threadpool_limits(1, user_api="blas"):
        yield


def measure(lane: dict) -> dict:
    config = Config(**lane)
    at_init = profile(config).arrays.log10_grad_norm_per_step
    trainer = train(config, record_every=config.steps)
    records = list(trainer)
    at_end = next(r.arrays for r in reversed(records) if r.arrays is not None).log10_grad_norm_per_step
    return {"status": trainer.status, "diverged_at": trainer.diverged_at, "records": records,
            "drop_init": at_init[-1] - at_init[0], "drop_end": at_end[-1] - at_end[0],
            "final": float(np.mean([r.metric for r in records[-50:]])),
            "chance": task_info(config).chance_metric}


def lanes(preset_id: str) -> dict[str, dict]:
    preset = BY_ID[preset_id]
    return {label: measure(lane) for label, lane in zip(preset["labels"], preset["lanes"], strict=True)}


def test_exploding_relu_preset_diverges_without_clipping_and_learns_with_it():
    text = BY_ID["relu-clipping"]["explanation"]
    runs = lanes("relu-clipping")
    plain, clipped = runs["no clip"], runs["clip 1.0"]
    assert plain["drop_init"] == pytest.approx(-0.61, abs=0.01)  # grows going back: "~4x"
    assert plain["status"] == "diverged" and plain["diverged_at"] == 2 and "diverged at step 2" in text
    first, second = plain["records"]
    assert first.grad_norm == pytest.approx(33, rel=0.02) and second.grad_norm == pytest.approx(6.6e12, rel=0.02)
    assert second.loss == pytest.approx(1.2e11, rel=0.03) and "6.6e12" in text and "1.2e11" in text
    assert clipped["status"] == "done" and len(clipped["records"]) == 500
    assert np.mean([r.clipped for r in clipped["records"]]) == pytest.approx(0.48, abs=0.005) and "48%" in text
    assert clipped["final"] == pytest.approx(0.154, abs=5e-4) and clipped["final"] < clipped["chance"]
    assert "0.154" in text and f"{clipped['chance']:.3f}" in text


def test_value_vs_norm_preset_numbers():
    text = BY_ID["value-vs-norm-clipping"]["explanation"]
    runs = lanes("value-vs-norm-clipping")
    value, norm = runs["value clip 0.1"], runs["norm clip 1.0"]
    assert value["status"] == norm["status"] == "done"
    assert value["final"] == pytest.approx(0.143, abs=5e-4) and "0.143" in text
    assert norm["final"] == pytest.approx(0.154, abs=5e-4) and "0.154" in text
    assert max(value["final"], norm["final"]) < value["chance"]
    # value clipping bounds each element by tau, so ||g|| after it can exceed tau (the text says so)
    assert max(r.grad_norm_clipped for r in value["records"]) > 0.1


@pytest.mark.slow
def test_spectral_radius_and_activation_presets_numbers():
    text = BY_ID["spectral-radius"]["explanation"]
    runs = lanes("spectral-radius")
    small, large = runs["radius 0.9"], runs["radius 1.1"]
    assert small["drop_init"] == pytest.approx(6, abs=0.3) and large["drop_init"] == pytest.approx(0.2, abs=0.1)
    assert small["drop_end"] == pytest.approx(9, abs=0.5) and large["drop_end"] == pytest.approx(11, abs=0.5)
    for run in (small, large):
        assert run["final"] == pytest.approx(run["chance"], abs=0.006)  # "both lanes sit at the chance MSE"
    assert "0.167" in text
    sigma_end = [round(run["records"][-1].sigma_max, 2) for run in (small, large)]
    assert sigma_end == [1.22, 1.50] and "1.22 and 1.50" in text, sigma_end

    text = BY_ID["activations"]["explanation"]
    runs = lanes("activations")
    drops = {label: (round(run["drop_init"]), round(run["drop_end"])) for label, run in runs.items()}
    assert drops == {"sigmoid": (62, 64), "tanh": (2, 8), "relu": (13, 4)}, drops
    finals = {label: round(run["final"], 3) for label, run in runs.items()}
    assert finals == {"sigmoid": 0.172, "tanh": 0.173, "relu": 0.154}, finals
    assert all(f"{value:.3f}" in text for value in finals.values())


@pytest.mark.slow
def test_truncation_and_sequence_length_presets_numbers():
    text = BY_ID["truncated-bptt"]["explanation"]
    runs = lanes("truncated-bptt")
    full, truncated = runs["full BPTT"], runs["TBPTT k=10"]
    assert round(full["drop_init"]) == 1 and round(full["drop_end"]) == 4
    assert truncated["drop_init"] == truncated["drop_end"] == np.inf  # exactly zero before t = T-10
    assert [round(run["final"], 3) for run in (full, truncated)] == [0.172, 0.171] and "0.172 and 0.171" in text

    text = BY_ID["sequence-length"]["explanation"]
    runs = lanes("sequence-length")
    short, long = runs["T=20"], runs["T=200"]
    assert short["final"] == 1.0 and "100%" in text
    assert round(long["final"], 2) == 0.26 and long["chance"] == 0.25 and "(26%)" in text
    assert round(long["drop_init"]) == 10 and round(long["drop_end"]) == 27


def test_target_preset_numbers():
    text = BY_ID["targets"]["explanation"]
    runs = lanes("targets")
    last, every = runs["target last"], runs["target every"]
    assert last["drop_init"] == pytest.approx(2.36, abs=0.01) and last["drop_end"] == pytest.approx(5.65, abs=0.01)
    assert round(every["drop_init"], 1) == -0.4  # no decay: t=0 above t=49
    assert round(last["final"], 2) == 0.26 and last["chance"] == 0.25 and "26%" in text and "25%" in text
    assert every["final"] == 1.0 and round(every["chance"], 3) == 0.265 and "100%" in text and "26.5%" in text
