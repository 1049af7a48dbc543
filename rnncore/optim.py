r"""Gradient clipping over all parameters and the three update rules.

    norm  (Pascanu et al. 2013, Alg. 1):  if ||g|| >= tau:  g <- tau g / ||g||   (||g|| over all params)
    value (min-char-rnn):                 g <- clip(g, -tau, tau) element-wise
    sgd:       p <- p - lr g
    momentum:  v <- mu v + g;  p <- p - lr v                       (PyTorch's SGD(momentum=mu))
    adam:      m <- b1 m + (1-b1) g;  s <- b2 s + (1-b2) g^2;
               p <- p - lr m_hat / (sqrt(s_hat) + eps),  m_hat = m/(1-b1^k), s_hat = s/(1-b2^k)
"""
from __future__ import annotations

import math

import numpy as np


def global_norm(grads: dict[str, np.ndarray]) -> float:
    """sqrt(sum of squares over all parameters), accumulated in float64 (overflow-safe for float32;
    einsum casts in small blocks instead of copying the whole array to float64)."""
    total = 0.0
    for g in grads.values():
        flat = g.reshape(-1)
        total += float(np.einsum("i,i->", flat, flat, dtype=np.float64))
    return math.sqrt(total)


def clip_gradients(grads: dict[str, np.ndarray], mode: str, tau: float) -> tuple[float, float, bool]:
    """Clip ``grads`` in place. Returns (norm before, norm after, whether clipping changed anything).

    ``per_timestep`` happens inside the backward pass; here it is a no-op."""
    before = global_norm(grads)
    if mode == "norm" and before >= tau and math.isfinite(before):
        scale = tau / before
        for g in grads.values():
            g *= scale
        return before, global_norm(grads), True
    if mode == "value":
        fired = False
        for g in grads.values():
            if g.size and (g.max() > tau or g.min() < -tau):
                fired = True
                np.clip(g, -tau, tau, out=g)
        return before, global_norm(grads) if fired else before, fired
    return before, before, False


class Optimizer:
    """Stateful update rule over a dict of parameters (updated in place, no temporaries: a scratch
    array per parameter holds the intermediate terms)."""

    def __init__(self, kind: str, learning_rate: float, momentum: float = 0.9,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8):
        self.kind, self.lr, self.mu, self.betas, self.eps = kind, learning_rate, momentum, betas, eps
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.t = 0

    def step(self, params: dict[str, np.ndarray], grads: dict[str, np.ndarray]) -> None:
        self.t += 1
        for name, p in params.items():
            g = grads[name]
            st = self.state.setdefault(name, {"scratch": np.empty_like(p)})
            scratch = st["scratch"]
            if self.kind == "sgd":
                np.multiply(g, self.lr, out=scratch)
                p -= scratch
            elif self.kind == "momentum":
                v = st.setdefault("v", np.zeros_like(p))
                v *= self.mu
                v += g
                np.multiply(v, self.lr, out=scratch)
                p -= scratch
            else:
                b1, b2 = self.betas
                m, s = st.setdefault("m", np.zeros_like(p)), st.setdefault("s", np.zeros_like(p))
                m *= b1
                np.multiply(g, 1 - b1, out=scratch)
                m += scratch
                s *= b2
                np.multiply(g, g, out=scratch)
                scratch *= 1 - b2
                s += scratch
                step_size = self.lr * math.sqrt(1 - b2**self.t) / (1 - b1**self.t)
                np.sqrt(s, out=scratch)  # sqrt(s_hat) + eps, times sqrt(1 - b2^k)
                scratch += self.eps * math.sqrt(1 - b2**self.t)
                np.divide(m, scratch, out=scratch)
                scratch *= step_size
                p -= scratch
