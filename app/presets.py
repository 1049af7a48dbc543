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
            "the gradient by the Jacobian diag(f'(a_t)) W_h, so the bound on ||dL/dh_t|| shrinks or grows "
            "like (gamma * sigma_max)^(T-1-t). At radius 0.9 that is 0.9^99 ~ 3e-5 across T=100 steps: the "
            "early timesteps hear almost nothing (vanishing). At 1.1 the bound grows like 1.1^99 ~ 1e4; tanh "
            "saturation (f' < 1) keeps the measured curve below it, so watch the gap to the bound line."),
        "lanes": [{"activation": "tanh", "spectral_radius": 0.9},
                  {"activation": "tanh", "spectral_radius": 1.1}],
    },
    {
        "id": "activations",
        "title": "sigmoid vs tanh vs ReLU at the same spectral radius",
        "explanation": (
            "Same orthogonal W_h (radius 1.0), only the nonlinearity changes. max|f'| is 1/4 for the "
            "sigmoid, so every step back divides the gradient by at least 4: over 100 steps the bound is "
            "0.25^99 ~ 1e-60 and the sigmoid curve drops like a cliff. tanh has f'(0) = 1 but f' < 1 for "
            "saturated units, so its gradient decays, more slowly. ReLU passes the gradient of active units "
            "unchanged (f' = 1) and stops it at inactive ones: with an orthogonal W_h it neither vanishes "
            "as fast nor blows up at radius 1."),
        "lanes": [{"activation": "sigmoid", "steps": 300},
                  {"activation": "tanh", "steps": 300},
                  {"activation": "relu", "steps": 300}],
    },
    {
        "id": "relu-clipping",
        "title": "Exploding ReLU: norm clipping vs no clipping",
        "explanation": (
            "A ReLU RNN with W_h at spectral radius 1.3 and plain SGD. Active units multiply the gradient "
            "by up to 1.3 per step back, so ||dL/dh_t|| can grow like 1.3^(T-1-t) (~1e5 over 50 steps) and "
            "a single unclipped update can throw the weights far away: the loss jumps or becomes inf/NaN "
            "and the lane ends 'diverged'. Norm clipping rescales the whole gradient to the threshold when "
            "||g|| exceeds it: same direction, bounded step, and training goes on."),
        "lanes": [{"activation": "relu", "spectral_radius": 1.3, "seq_len": 50, "optimizer": "sgd",
                   "learning_rate": 0.01, "clip": "none"},
                  {"activation": "relu", "spectral_radius": 1.3, "seq_len": 50, "optimizer": "sgd",
                   "learning_rate": 0.01, "clip": "norm", "clip_threshold": 1.0}],
    },
    {
        "id": "value-vs-norm-clipping",
        "title": "Value clipping vs norm clipping",
        "explanation": (
            "Both lanes bound the update of an exploding ReLU RNN, differently. Value clipping clamps "
            "every gradient element to [-tau, tau]: cheap, but it changes the direction of the gradient "
            "(large components are flattened, small ones kept). Norm clipping rescales the whole vector "
            "by tau/||g|| and keeps its direction. Compare the loss curves and the clipped gradient norm."),
        "lanes": [{"activation": "relu", "spectral_radius": 1.3, "seq_len": 50, "optimizer": "sgd",
                   "learning_rate": 0.01, "clip": "value", "clip_threshold": 0.1},
                  {"activation": "relu", "spectral_radius": 1.3, "seq_len": 50, "optimizer": "sgd",
                   "learning_rate": 0.01, "clip": "norm", "clip_threshold": 1.0}],
    },
    {
        "id": "truncated-bptt",
        "title": "Full vs truncated BPTT (k=10) on a long dependency",
        "explanation": (
            "The adding task hides two marked numbers anywhere in a sequence of T=60 and asks for their "
            "sum at the end. Truncated BPTT backpropagates only k=10 steps: the gradient at every earlier "
            "timestep is exactly zero (the curve stops at t = T-10), so the model cannot learn to use "
            "markers further back, however long it trains. Full BPTT carries (a decaying) signal to t=0."),
        "lanes": [{"task": "adding", "seq_len": 60, "truncate": None},
                  {"task": "adding", "seq_len": 60, "truncate": 10}],
    },
    {
        "id": "sequence-length",
        "title": "Short vs long sequences on recall",
        "explanation": (
            "Recall asks for the first token after a gap. With T=20 the gradient from the loss only has to "
            "travel 19 steps back to the token and the RNN learns it; with T=200 the same per-step decay "
            "applies 199 times, the signal at t=0 is many orders of magnitude smaller and the accuracy stays "
            "near chance (1/num_classes) much longer."),
        "lanes": [{"task": "recall", "seq_len": 20}, {"task": "recall", "seq_len": 200}],
    },
    {
        "id": "cells",
        "title": "RNN vs LSTM vs GRU on a long dependency",
        "explanation": (
            "temporal_order with T=100: an A or B near t=10-19 and another near t=40-49 among distractors; "
            "the order (AA, AB, BA, BB) is asked at t=99 (chance 25%). Same budget for the three cells "
            "(H=32, 1000 Adam steps at lr 0.003, norm clipping 1.0, seed 0). Measured with this seed "
            "(batch accuracy, mean of the last 50 steps): tanh RNN 25% (chance), LSTM 100% (above 90% "
            "by step ~400), GRU 25% (chance). At initialisation the gradient from t=99 reaches t=10 about "
            "5 orders of magnitude smaller in the RNN and 12 in the GRU (its update gate starts at z ~ 0.5), "
            "while the LSTM's cell-state gradient ||dL/dc_t||, multiplied back only by the forget gate "
            "(bias +1: f ~ 0.73), loses about 2. The rescue is not automatic: with seed 1 the LSTM also "
            "stays at chance for 1000 steps, with lr 0.01 all three do, and on recall (T=100, lr 0.01) "
            "the RNN reaches ~72% while the LSTM stays at chance."),
        "lanes": [{"cell": cell, "task": "temporal_order", "seq_len": 100, "hidden_size": 32, "steps": 1000,
                   "learning_rate": 0.003, "seed": 0} for cell in ("rnn", "lstm", "gru")],
    },
]

for _preset in PRESETS:
    _preset.setdefault("default", False)
    _preset["labels"] = lane_labels(_preset["lanes"])

DEFAULT_PRESET = next(p for p in PRESETS if p["default"])
