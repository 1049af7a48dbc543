"""Curated experiments for ``GET /api/presets``: a title, a short explanation and 2-4 lanes each.

Lanes are partial configs (omitted fields take the defaults of rnncore.config.FIELDS: tanh RNN, H=64,
T=100, batch 32, 500 steps, Adam 1e-3, norm clipping at 1.0, orthogonal W_h at spectral radius 1).
The bound quoted in the explanations is Pascanu et al. (2013):
||dL/dh_t|| <= ||dL/dh_{T-1}|| * (gamma * sigma_max(W_h))^(T-1-t), gamma = max|f'|.
"""
from __future__ import annotations

from app.labels import lane_labels

PRESETS: list[dict] = [
    {
        "id": "spectral-radius",
        "title": "tanh: spectral radius 0.9 vs 1.1",
        "default": True,
        "explanation": (
            "Only the scale of the recurrent matrix W_h differs. Going one step back in time multiplies "
            "the gradient by the Jacobian diag(f′(a_t))·W_hᵀ, so the bound on ‖∂L/∂h_t‖ shrinks or grows "
            "like (γ·σ_max)^(T−1−t). At radius 0.9 that is 0.9^99 ~ 3e-5 across T=100 steps, and at "
            "initialisation the measured ‖∂L/∂h_0‖ is ~6 orders of magnitude below ‖∂L/∂h_99‖ (tanh's "
            "f′ < 1 adds to the decay). At 1.1 the bound grows like 1.1^99 ~ 1e4, but tanh saturation keeps "
            "the measured curve nearly flat (0.2 orders lost): watch the gap to the bound line. Then watch "
            "training change it: after 500 Adam steps (seed 0) both lanes sit at the chance MSE 0.167 and "
            "both curves have fallen further, ~9 orders (0.9) and ~11 orders (1.1) from t=99 to t=0, "
            "although training has raised σ_max(W_h) to 1.22 and 1.50 (chart 7): the units saturate, "
            "f′ shrinks, and the bound says nothing about the measured gradient. A larger initial radius "
            "does not keep the gradient alive once training saturates the units."),
        "lanes": [{"activation": "tanh", "spectral_radius": 0.9},
                  {"activation": "tanh", "spectral_radius": 1.1}],
    },
    {
        "id": "activations",
        "title": "sigmoid vs tanh vs ReLU at the same spectral radius",
        "explanation": (
            "Same orthogonal W_h (radius 1.0), only the nonlinearity changes. max|f′| is 1/4 for the "
            "sigmoid, so every step back divides the gradient by at least 4: over 100 steps the bound is "
            "0.25^99 ~ 1e-60 and the sigmoid curve drops like a cliff (62 orders of magnitude at "
            "initialisation). tanh has f′(0) = 1 but f′ < 1 for saturated units: it loses ~2 orders. ReLU "
            "passes the gradient of active units unchanged (f′ = 1) and stops it at inactive ones, so at "
            "initialisation, with about half its units off at each step, it loses ~13 orders, more than tanh. "
            "Training flips that (seed 0, 300 Adam steps): at the end ReLU loses ~4 orders against tanh's ~8 "
            "and sigmoid's ~64, and only the ReLU lane gets below the chance MSE 0.167 (0.154 against 0.173 "
            "for tanh and 0.172 for sigmoid, mean of the last 50 steps)."),
        "lanes": [{"activation": "sigmoid", "steps": 300},
                  {"activation": "tanh", "steps": 300},
                  {"activation": "relu", "steps": 300}],
    },
    {
        "id": "relu-clipping",
        "title": "Exploding ReLU: norm clipping vs no clipping",
        "explanation": (
            "A ReLU RNN with W_h at spectral radius 1.5 and plain SGD (lr 0.05) on the adding task, T=30. "
            "Active units multiply the gradient by up to 1.5 per step back (the bound grows like 1.5^29 ~ 1e5; "
            "at initialisation ‖∂L/∂h_0‖ is ~4x ‖∂L/∂h_29‖). Without clipping the first update, at "
            "‖g‖ = 33, throws the weights far away: at step 1 ‖g‖ is 6.6e12 and the loss 1.2e11, and at "
            "step 2 the loss is NaN, so the lane ends 'diverged at step 2'. Norm clipping rescales the whole "
            "gradient to the threshold 1.0 whenever ‖g‖ exceeds it: same direction, bounded step, and the "
            "lane trains below the chance MSE 0.167 with every seed 0-9 (0.06-0.16, mean of the last 50 of "
            "500 steps; clipping fires on 48-98% of the steps), while seeds 0-4 all diverge at step 1 or 2 "
            "unclipped. One seed's exact figures depend even on the CPU: once the gradient has exploded, a "
            "last-bit difference in rounding becomes another trajectory (seed 0: 48% of the steps clipped and "
            "MSE 0.154 on NumPy's AVX2 code path, 67% and 0.128 on its AVX-512 path)."),
        "lanes": [{"activation": "relu", "spectral_radius": 1.5, "seq_len": 30, "optimizer": "sgd",
                   "learning_rate": 0.05, "clip": "none"},
                  {"activation": "relu", "spectral_radius": 1.5, "seq_len": 30, "optimizer": "sgd",
                   "learning_rate": 0.05, "clip": "norm", "clip_threshold": 1.0}],
    },
    {
        "id": "value-vs-norm-clipping",
        "title": "Value clipping vs norm clipping",
        "explanation": (
            "Both lanes bound the update of the exploding ReLU RNN of the clipping preset (radius 1.5, SGD lr "
            "0.05, T=30; unclipped it diverges at step 2), differently. Value clipping clamps every gradient "
            "element to [−τ, τ]: cheap, but it changes the direction of the gradient (large components "
            "are flattened, small ones kept), and ‖g‖ after it is bounded only by τ times the square root "
            "of the number of parameters, not by τ. Norm clipping rescales the whole vector by τ/‖g‖ "
            "and keeps its direction. Over seeds 0-9 (mean of the last 50 of 500 steps) value clipping at "
            "0.1 reaches an MSE of 0.05-0.21 and norm clipping at 1.0 0.06-0.16, mostly below the chance "
            "MSE 0.167, so neither is reliably better on this task; seed 0 gives 0.143 and 0.154 on NumPy's "
            "AVX2 code path, 0.094 and 0.128 on its AVX-512 path (the clipping preset says why)."),
        "lanes": [{"activation": "relu", "spectral_radius": 1.5, "seq_len": 30, "optimizer": "sgd",
                   "learning_rate": 0.05, "clip": "value", "clip_threshold": 0.1},
                  {"activation": "relu", "spectral_radius": 1.5, "seq_len": 30, "optimizer": "sgd",
                   "learning_rate": 0.05, "clip": "norm", "clip_threshold": 1.0}],
    },
    {
        "id": "truncated-bptt",
        "title": "Full vs truncated BPTT (k=10) on a long dependency",
        "explanation": (
            "The adding task hides two marked numbers anywhere in a sequence of T=60 and asks for their "
            "sum at the end. Truncated BPTT backpropagates only k=10 steps: the gradient at every earlier "
            "timestep is exactly zero (the curve stops at t = T−10), so the model cannot learn to use "
            "markers further back, however long it trains. Full BPTT carries a decaying signal to t=0 "
            "(~1 order of magnitude lost at initialisation, ~4 after 500 steps). Neither lane beats the "
            "chance MSE 0.167 in this budget (0.172 and 0.171, seed 0): the difference to look at is in the "
            "gradient, where truncation makes learning the early markers impossible, not merely slow."),
        "lanes": [{"task": "adding", "seq_len": 60, "truncate": None},
                  {"task": "adding", "seq_len": 60, "truncate": 10}],
    },
    {
        "id": "sequence-length",
        "title": "Short vs long sequences on recall",
        "explanation": (
            "Recall asks for the first token after a gap. With T=20 the gradient from the loss only has to "
            "travel 19 steps back to the token and the RNN learns it (batch accuracy 100% over the last 50 "
            "of 500 steps, seed 0); with T=200 the same per-step decay applies 199 times, the signal at t=0 "
            "is ~10 orders of magnitude below t=199 at initialisation and ~27 after training, and the "
            "accuracy stays near the chance level 1/num_classes = 25% (26%)."),
        "lanes": [{"task": "recall", "seq_len": 20}, {"task": "recall", "seq_len": 200}],
    },
    {
        "id": "targets",
        "title": "A target at every step vs only at the end (recall, T=50)",
        "explanation": (
            "Recall asks for the first token's class. With the target only at the last step, the only "
            "gradient that can teach h_t to keep the token comes from t=49: at initialisation ‖∂L/∂h_0‖ is "
            "~2.4 orders of magnitude below ‖∂L/∂h_49‖, and the lane stays at chance (batch accuracy 26% "
            "over the last 50 of 500 steps, chance 25%; the gradient at t=0 then ~5.6 orders below t=49). "
            "With a target at every step (the same class asked at every t) each h_t gets its own loss's "
            "gradient directly, so the curve does not decay at all (t=0 ~0.4 orders above t=49), and the "
            "signal to carry the token one step further comes from the next step, not from 49 steps away: "
            "the lane reaches 100% at every step (chance 26.5%). Seed 0, one BLAS thread."),
        "lanes": [{"task": "recall", "seq_len": 50, "target": "last"},
                  {"task": "recall", "seq_len": 50, "target": "every"}],
    },
    {
        "id": "cells",
        "title": "RNN vs LSTM vs GRU on a long dependency",
        "explanation": (
            "temporal_order with T=100: an A or B near t=10-19 and another near t=40-49 among distractors; "
            "the order (AA, AB, BA, BB) is asked at t=99 (chance 25%). Same budget for the three cells "
            "(H=32, 1000 Adam steps at lr 0.003, norm clipping 1.0, seed 0). Measured with this seed "
            "(batch accuracy, mean of the last 50 steps): tanh RNN 25% (chance), LSTM 100% (above 90% "
            "by step 380-500, by CPU: rounding differences grow during training), GRU 25% (chance). "
            "At initialisation the gradient from t=99 reaches t=10 about "
            "5 orders of magnitude smaller in the RNN and 12 in the GRU (its update gate starts at z ~ 0.5), "
            "while the LSTM's cell-state gradient ‖∂L/∂c_t‖, multiplied back only by the forget gate "
            "(bias +1: f ~ 0.73), loses about 2. The rescue is not automatic: with seed 1 the LSTM also "
            "stays at chance for 1000 steps, with lr 0.01 all three do, and on recall (T=100, lr 0.01) "
            "the RNN beats chance with seed 0 (49% or 68%, on NumPy's AVX2 or AVX-512 code path: rounding "
            "differences grow during training) while the LSTM stays at chance with seeds 0-2."),
        "lanes": [{"cell": cell, "task": "temporal_order", "seq_len": 100, "hidden_size": 32, "steps": 1000,
                   "learning_rate": 0.003, "seed": 0} for cell in ("rnn", "lstm", "gru")],
    },
]

for _preset in PRESETS:
    _preset.setdefault("default", False)
    _preset["labels"] = lane_labels(_preset["lanes"])

DEFAULT_PRESET = next(p for p in PRESETS if p["default"])
