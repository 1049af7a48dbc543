"""The presets' explanations quote what their seeded lanes measurably do; these tests re-run the lanes and
hold the text to it. Runs are deterministic, so a change in the engine (or in a preset's settings) that
makes a sentence false fails here. (The "RNN vs LSTM vs GRU" preset has its own test in test_lstm_gru.py.)

Measured: ``drop`` = log10 ||dL/dh_{T-1}|| - log10 ||dL/dh_0|| (orders of magnitude lost from the last
timestep to the first; negative = the gradient grows going back), at initialisation (``profile``) and at
the last recorded step; ``final`` = the task metric's mean over the last 50 steps.

The lanes train with one BLAS thread, as the service trains them (app/blas.py): a float32 matrix product's
rounding depends on how BLAS splits it between threads, and the exploding lanes amplify a last-bit
difference into another trajectory (the clipped ReLU lane: 48% of steps clipped at one thread, 58% at two).
The same goes for the CPU's code path (NumPy's SIMD level, OpenBLAS's kernel): the exploding lanes' texts
claim ranges over seeds 0-9, which hold on both paths measured, and quote seed 0's figures per path; each
path's figures are checked where this machine can take it (AVX2 in a subprocess on any AVX2 machine).
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

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


def over_seeds(lane: dict, seeds=range(10)) -> list[dict]:
    return [measure({**lane, "seed": seed}) for seed in seeds]


def clipped_fraction(run: dict) -> float:
    return float(np.mean([r.clipped for r in run["records"]]))


# NumPy's dispatch limited to AVX2 (X86_V3) and OpenBLAS's Haswell kernel: with these an AVX-512 machine
# reproduced, bit for bit, the figures first measured on an AVX2-only AMD EPYC (OpenBLAS's Zen kernel).
AVX2_ENV = {"NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR", "OPENBLAS_CORETYPE": "Haswell"}


def cpu_features() -> dict[str, bool]:
    """NumPy's runtime dispatch flags (a private table: empty where a NumPy version lacks it)."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__
    except ImportError:
        return {}
    return dict(__cpu_features__)


def native_code_path() -> str | None:
    """'avx512' where NumPy dispatches to X86_V4 and OpenBLAS runs its SkylakeX kernel, 'avx2' where X86_V3 is
    the highest level and the kernel is Haswell's or Zen's; None elsewhere (no figures are quoted for it)."""
    from threadpoolctl import threadpool_info
    features = cpu_features()
    kernels = {info.get("architecture") for info in threadpool_info() if info.get("internal_api") == "openblas"}
    if features.get("X86_V4") and kernels == {"SkylakeX"}:
        return "avx512"
    if features.get("X86_V3") and not features.get("X86_V4") and kernels <= {"Haswell", "Zen"} and kernels:
        return "avx2"
    return None


def seed0_on_avx2(preset_id: str) -> list[tuple[float, float]]:
    """(clipped fraction, final) of each lane at seed 0, measured in a subprocess on the AVX2 code path."""
    script = (f"import json, tests.test_presets as t\nfrom threadpoolctl import threadpool_limits\n"
              f"with threadpool_limits(1, user_api='blas'):\n"
              f"    runs = t.lanes({preset_id!r}).values()\n"
              f"    print(json.dumps([[t.clipped_fraction(r), r['final']] for r in runs]))")
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ, **AVX2_ENV}, capture_output=True,
                          text=True, timeout=120, cwd=os.path.dirname(os.path.dirname(__file__)), check=True)
    return [tuple(pair) for pair in json.loads(done.stdout)]


# seed 0's (clipped fraction, final MSE) per code path, as the texts quote them
SEED0 = {"relu-clipping": {"avx2": (0.484, 0.1545), "avx512": (0.666, 0.1278)},
         "value-vs-norm-clipping": {"avx2": (0.1435, 0.1545), "avx512": (0.0941, 0.1278)}}


def test_exploding_relu_preset_diverges_without_clipping_and_learns_with_it():
    text = BY_ID["relu-clipping"]["explanation"]
    runs = lanes("relu-clipping")
    plain, clipped = runs["no clip"], runs["clip 1.0"]
    # the first two steps, before the explosion amplifies rounding: the same on every code path
    assert plain["drop_init"] == pytest.approx(-0.61, abs=0.01)  # grows going back: "~4x"
    assert plain["status"] == "diverged" and plain["diverged_at"] == 2 and "diverged at step 2" in text
    first, second = plain["records"]
    assert first.grad_norm == pytest.approx(33, rel=0.02) and second.grad_norm == pytest.approx(6.6e12, rel=0.02)
    assert second.loss == pytest.approx(1.2e11, rel=0.03) and "6.6e12" in text and "1.2e11" in text
    unclipped = over_seeds(BY_ID["relu-clipping"]["lanes"][0], range(5))
    assert all(run["status"] == "diverged" and run["diverged_at"] in (1, 2) for run in unclipped)
    assert "seeds 0-4 all diverge at step 1 or 2" in text
    # the clipped lane over seeds 0-9: the ranges the text claims (to its rounding), every seed below chance
    seeds = over_seeds(BY_ID["relu-clipping"]["lanes"][1])
    assert all(run["status"] == "done" and len(run["records"]) == 500 for run in seeds)
    finals, fractions = [run["final"] for run in seeds], [clipped_fraction(run) for run in seeds]
    assert max(finals) < clipped["chance"] and f"{clipped['chance']:.3f}" in text
    assert 0.055 <= min(finals) and max(finals) < 0.165 and "every seed 0-9 (0.06-0.16" in text
    assert 0.475 <= min(fractions) and max(fractions) < 0.985 and "48-98% of the steps" in text
    # deterministic: the preset's lane (seed 0) and seed 0 of the sweep are the same run
    assert (clipped_fraction(clipped), clipped["final"]) == (clipped_fraction(seeds[0]), seeds[0]["final"])
    assert "seed 0: 48% of the steps clipped and MSE 0.154 on NumPy's AVX2" in text
    assert "67% and 0.128 on its AVX-512 path" in text
    check_seed0("relu-clipping", [(clipped_fraction(run), run["final"]) for run in (plain, clipped)])


def check_seed0(preset_id: str, per_lane: list[tuple[float, float]]) -> None:
    """Seed 0's figures as the text quotes them for this machine's code path (from ``per_lane``, each lane's
    (clipped fraction, final)) and, where this machine has AVX2, for that path measured in a subprocess."""
    features = cpu_features()

    def quoted_pair(lanes):  # the relu preset quotes its clipped lane; the other one both lanes' MSE
        return lanes[1] if preset_id == "relu-clipping" else (lanes[0][1], lanes[1][1])
    path = native_code_path()
    if path is not None:
        assert quoted_pair(per_lane) == pytest.approx(SEED0[preset_id][path], abs=5e-4), (path, per_lane)
    if path != "avx2" and features.get("X86_V3") and "X86_V4" in features:  # numpy >= 2.4 names the levels
        on_avx2 = seed0_on_avx2(preset_id)
        assert quoted_pair(on_avx2) == pytest.approx(SEED0[preset_id]["avx2"], abs=5e-4), on_avx2


def test_value_vs_norm_preset_numbers():
    text = BY_ID["value-vs-norm-clipping"]["explanation"]
    value_lane, norm_lane = BY_ID["value-vs-norm-clipping"]["lanes"]
    value_seeds, norm_seeds = over_seeds(value_lane), over_seeds(norm_lane)
    assert all(run["status"] == "done" for run in value_seeds + norm_seeds)
    chance = value_seeds[0]["chance"]
    value_finals, norm_finals = [run["final"] for run in value_seeds], [run["final"] for run in norm_seeds]
    assert 0.045 <= min(value_finals) and max(value_finals) < 0.215 and "0.1 reaches an MSE of 0.05-0.21" in text
    assert 0.055 <= min(norm_finals) and max(norm_finals) < 0.165 and "norm clipping at 1.0 0.06-0.16" in text
    # "mostly below the chance MSE": at least 8 of each 10
    assert sum(f < chance for f in value_finals) >= 8 and sum(f < chance for f in norm_finals) >= 8
    assert "seed 0 gives 0.143 and 0.154 on NumPy's AVX2 code path, 0.094 and 0.128 on its AVX-512" in text
    check_seed0("value-vs-norm-clipping",
                [(clipped_fraction(run), run["final"]) for run in (value_seeds[0], norm_seeds[0])])
    # value clipping bounds each element by tau, so ||g|| after it can exceed tau (the text says so)
    assert max(r.grad_norm_clipped for r in value_seeds[0]["records"]) > 0.1


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


# The names the explanations use for the quantities the charts plot, written as the charts write them
# (static/js/charts.js, unrolled.js, templates/index.html), so a student can match a sentence to a chart.
ASCII_NAMES = re.compile(r"\|\||\bd[Lhc]/d|\bsigma_max\b|\bgamma\b|\brho\b|\btau\b|\bf'")
SYMBOL_NAMES = re.compile(r"‖[^‖]+‖|σ_max|[γρτ]|f′")
PAGE = Path(__file__).resolve().parents[1]


def _page_text() -> str:
    """The charts' and notes' text, Plotly's/HTML's <sub>x</sub> written x_x as in the hover texts."""
    files = [PAGE / "templates" / "index.html", *sorted((PAGE / "static" / "js").glob("*.js"))]
    text = "\n".join(path.read_text(encoding="utf-8") for path in files)
    return re.sub(r"<sub>([^<]+)</sub>", r"_\1", text)


@pytest.mark.parametrize("preset_id", list(BY_ID))
def test_explanations_name_quantities_as_the_charts_do(preset_id):
    text = BY_ID[preset_id]["explanation"]
    ascii_names = sorted({m.group(0) for m in ASCII_NAMES.finditer(text)})
    assert ascii_names == [], ascii_names
    page = _page_text()
    for name in {m.group(0) for m in SYMBOL_NAMES.finditer(text)}:
        generic = re.sub(r"_\d+‖$", "_t‖", name)  # ‖∂L/∂h_49‖: chart 1's ‖∂L/∂h_t‖ at t = 49
        assert generic in page, (name, generic)
