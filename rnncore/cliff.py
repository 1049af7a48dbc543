"""The exploding-gradient cliff of Pascanu, Mikolov & Bengio (2013, Fig. 6), on a one-unit RNN.

Model (no input, one hidden unit, T = 50 steps)::

    x_0 = 0.5
    x_t = w * sigmoid(x_{t-1}) + b          t = 1..T
    E(w, b) = (sigmoid(x_T) - 0.7)^2

For w > 4 the map x -> w*sigmoid(x) + b has two stable fixed points over a band of b; crossing the
band's edge (a saddle-node bifurcation) moves x_T from one attractor to the other over a tiny change
of (w, b). E then changes by O(0.1) across a thin strip, so ||grad E|| is huge on that strip (the
"wall") and small on both sides. A plain SGD step that lands on the wall is thrown far away; norm
clipping (Pascanu et al. 2013, Alg. 1: if ||g|| >= tau then g <- tau g / ||g||) keeps every step at
most lr * tau long.

Backward pass (BPTT through the T steps), with s = sigmoid, s' = s (1 - s)::

    delta_T     = dE/dx_T = 2 (s(x_T) - 0.7) s'(x_T)
    dE/dw       = sum_t delta_t * s(x_{t-1})
    dE/db       = sum_t delta_t
    delta_{t-1} = delta_t * w * s'(x_{t-1})

Everything is vectorised: ``w`` and ``b`` may be arrays of any (broadcastable) shape, e.g. a grid.

Where the wall is: for w > 1/sigmoid'(0.5) ~ 4.26 the start x_0 = 0.5 is itself the unstable fixed
point when b = 0.5 - w*sigmoid(0.5); on that line x_T sits on the basin boundary, and
the local stretching (w sigmoid'(0.5))^T grows with w (16 at w = 4.5, 3e7 at w = 6, 5e13 at w = 8), so the
wall is a smooth steep ramp near w ~ 4.3-5.5 and a jump thinner than any grid cell beyond. Just above it
lies a narrow valley where E -> 0 (x_T ends in between the attractors), below it the plateau E ~ 0.49
(sigmoid(x_T) ~ 0), far above it the plateau E ~ 0.09 (sigmoid(x_T) ~ 1), both nearly flat.

Defaults (:data:`DEFAULTS`), found by a numerical search over starts, learning rates and thresholds
(w, b ranges chosen so that everything below stays on the plot): from (w, b) = (4.25, -3.0), E = 0.41,
plain SGD with lr 0.3 descends for 17 steps, lands on the wall (||g|| = 25.6) and jumps 7.67 in one
step (85x the clipped maximum lr*tau = 0.09) to (8.13, 4.46) on the flat E ~ 0.09 plateau, where the
gradient (3e-6) keeps it for good. With norm clipping at tau = 0.3 the same run bounces off the wall
several times (||g|| up to 44) with steps <= 0.09 and stays in the valley, ending at E = 3e-4 after 40
steps. Which starts hit the wall is sensitive (a 0.05 shift of the start changes the jump from 85x to
2-9x), as on any cliff; the tests assert the properties, not these digits.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

X0 = 0.5
TARGET = 0.7
T = 50

# See the module docstring for what these produce; tests/test_cliff.py checks it.
DEFAULTS = {
    "w_min": 2.0, "w_max": 10.0, "b_min": -6.0, "b_max": 6.0,
    "resolution": 121,
    "start_w": 4.25, "start_b": -3.0,
    "learning_rate": 0.3, "steps": 40, "threshold": 0.3,
}


def wall_b(w):
    """The b at which x_0 = 0.5 is the unstable fixed point of x -> w sigmoid(x) + b (the wall, w > 4.26)."""
    return X0 - np.asarray(w) * _sigmoid(X0)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))  # overflow-free form of 1 / (1 + exp(-x))


def forward(w, b, steps: int = T):
    """Hidden states x_0..x_T, shape (T+1, *broadcast(w, b).shape)."""
    w, b = np.broadcast_arrays(np.asarray(w, dtype=np.float64), np.asarray(b, dtype=np.float64))
    xs = np.empty((steps + 1,) + w.shape)
    xs[0] = X0
    for t in range(1, steps + 1):
        xs[t] = w * _sigmoid(xs[t - 1]) + b
    return xs


def loss(w, b, steps: int = T):
    """E(w, b) = (sigmoid(x_T) - 0.7)^2, elementwise over broadcast(w, b)."""
    return (_sigmoid(forward(w, b, steps)[-1]) - TARGET) ** 2


def loss_and_grad(w, b, steps: int = T):
    """(E, dE/dw, dE/db) by exact BPTT, each of shape broadcast(w, b)."""
    xs = forward(w, b, steps)
    w = np.broadcast_to(np.asarray(w, dtype=np.float64), xs.shape[1:])
    s_last = _sigmoid(xs[-1])
    energy = (s_last - TARGET) ** 2
    delta = 2.0 * (s_last - TARGET) * s_last * (1.0 - s_last)  # dE/dx_T
    grad_w = np.zeros(xs.shape[1:])
    grad_b = np.zeros(xs.shape[1:])
    for t in range(steps, 0, -1):
        s_prev = _sigmoid(xs[t - 1])
        grad_w += delta * s_prev
        grad_b += delta
        delta = delta * w * s_prev * (1.0 - s_prev)  # dE/dx_{t-1}
    return energy, grad_w, grad_b


def _point_loss_and_grad(w: float, b: float, steps: int = T) -> tuple[float, float, float]:
    """:func:`loss_and_grad` at one point, on Python floats: the same operations in the same order (np.tanh for
    the sigmoid, so bit for bit the same numbers), without NumPy's per-call cost on 0-d arrays, which made an SGD
    run of 500 steps take ~140 ms (SGD is a sequence of points: nothing to vectorise over). The forward pass's
    sigmoids are kept for the backward pass, which recomputed them."""
    x, sigmoids = X0, []
    for _ in range(steps):
        s = float(_sigmoid(x))
        sigmoids.append(s)
        x = w * s + b
    s_last = float(_sigmoid(x))
    energy = (s_last - TARGET) ** 2
    delta = 2.0 * (s_last - TARGET) * s_last * (1.0 - s_last)
    grad_w = grad_b = 0.0
    for s_prev in reversed(sigmoids):
        grad_w += delta * s_prev
        grad_b += delta
        delta = delta * w * s_prev * (1.0 - s_prev)
    return energy, grad_w, grad_b


def grid(w_min: float, w_max: float, b_min: float, b_max: float, resolution_w: int, resolution_b: int):
    """E and ||grad E|| on a (resolution_b, resolution_w) grid: rows are b, columns are w."""
    ws = np.linspace(w_min, w_max, resolution_w)
    bs = np.linspace(b_min, b_max, resolution_b)
    energy, grad_w, grad_b = loss_and_grad(ws[None, :], bs[:, None])
    return ws, bs, energy, np.hypot(grad_w, grad_b)


@dataclass
class Trajectory:
    """SGD iterates (steps + 1 points) and, per step, the gradient norm and the length of the step."""

    w: np.ndarray
    b: np.ndarray
    loss: np.ndarray
    grad_norm: np.ndarray  # ||grad E|| at iterate k, before clipping, k = 0..steps-1
    step_length: np.ndarray  # ||theta_{k+1} - theta_k|| = lr * ||clipped g||
    clipped: np.ndarray  # bool, whether clipping fired at step k
    diverged_at: int | None = None  # first step whose gradient or iterate is not finite


def sgd(start_w: float, start_b: float, learning_rate: float, steps: int, threshold: float | None = None):
    """Plain SGD on E from (start_w, start_b); with ``threshold`` tau, norm clipping (Pascanu Alg. 1).

    Stops early (``diverged_at``) if a gradient or an iterate is not finite.
    """
    w, b = float(start_w), float(start_b)
    ws, bs, losses, norms, lengths, clipped = [w], [b], [], [], [], []
    diverged_at = None
    for k in range(steps):
        energy, grad_w, grad_b = _point_loss_and_grad(w, b)
        norm = float(np.hypot(grad_w, grad_b))
        losses.append(energy)
        if not np.isfinite(norm):
            diverged_at = k
            break
        fired = threshold is not None and norm >= threshold
        scale = threshold / norm if fired else 1.0
        w, b = w - learning_rate * scale * grad_w, b - learning_rate * scale * grad_b
        if not (np.isfinite(w) and np.isfinite(b)):
            diverged_at = k
            break
        ws.append(w)
        bs.append(b)
        norms.append(norm)
        lengths.append(learning_rate * scale * norm)
        clipped.append(fired)
    if diverged_at is None:
        losses.append(float(loss(w, b)))
    return Trajectory(np.array(ws), np.array(bs), np.array(losses), np.array(norms), np.array(lengths),
                      np.array(clipped, dtype=bool), diverged_at)
