"""Training generator and one-shot profile (the finite-difference check: :mod:`rnncore.fdcheck`).

>>> from rnncore import Config, train, profile, task_info
>>> trainer = train(Config(activation="sigmoid", seq_len=200, steps=100), record_every=10)
>>> for record in trainer:                  # one StepRecord per training step
...     print(record.step, record.loss, record.grad_norm)
>>> trainer.status                          # "done" | "diverged" | "cancelled"

Randomness: ``SeedSequence(config.seed)`` spawns two independent streams, one for the parameter
initialisation (cell parameters first, then W_o) and one for the data (one fresh batch per step), so the
same config gives bit-identical records.
"""
from __future__ import annotations

import inspect
import math
import numbers
import threading

import numpy as np

from . import tasks
from .cells import CellBackward, get_cell, glorot
from .cells.base import Workspace
from .config import Config, _described, require_config
from .logscale import log10_row_norms
from .losses import output_loss
from .optim import Optimizer, clip_gradients, global_norm
from .records import StepRecord, TaskInfo, TimestepArrays


def task_info(config: Config) -> TaskInfo:
    """Sizes, loss/metric names and the chance baselines of the config's task."""
    return tasks.task_info(require_config(config, "task_info").validate())


class Model:
    """Parameters (cell parameters, then W_o (H, O) and c (O,)) plus the forward/backward of one batch."""

    def __init__(self, config: Config):
        self.config = config.validate()
        self.cell = get_cell(config.cell)
        init_stream, data_stream = np.random.SeedSequence(config.seed).spawn(2)
        init_rng = np.random.default_rng(init_stream)
        self.data_rng = np.random.default_rng(data_stream)
        self.info = tasks.task_info(config)
        dtype = np.dtype(config.dtype)
        self.params = self.cell.init_params(config, self.info.input_size, init_rng)
        self.params["W_o"] = glorot(init_rng, config.hidden_size, self.info.output_size, dtype)
        self.params["c"] = np.zeros(self.info.output_size, dtype=dtype)
        takes_workspace = "workspace" in inspect.signature(self.cell.forward).parameters
        self.workspace = Workspace() if takes_workspace else None  # reused by training steps only

    def batch(self) -> tasks.Batch:
        return tasks.sample(self.config, self.data_rng)

    def loss_and_grads(self, batch: tasks.Batch, diagnostics: bool = True, config: Config | None = None,
                       frozen: dict | None = None, reuse: bool = False):
        """Forward and backward. Returns (loss, metric, grads, CellBackward, cache, dh_loss).

        ``reuse``: run in the model's workspace (training steps); the cache is then only valid until the
        next reusing call. Without it every buffer is fresh (gradcheck keeps a cache as ``frozen``)."""
        config = config or self.config
        every = config.target_mode == "every"
        space = {"workspace": self.workspace} if reuse and self.workspace is not None else {}
        hidden, cache = self.cell.forward(self.params, batch.inputs, config, frozen=frozen, **space)
        self.hidden = hidden  # h_0..h_{L-1} of the last pass (in the workspace with ``reuse``): why a loss is NaN
        dh_out = self.workspace.zeros("dh_loss", hidden.shape, hidden.dtype) if space else None
        loss, metric, dh_loss, out_grads = output_loss(hidden, self.params["W_o"], self.params["c"], batch,
                                                       self.info.loss_name, every, dh_out=dh_out)
        grads, back = self.cell.backward(self.params, cache, dh_loss, config, every, diagnostics, **space)
        grads.update(out_grads)
        return loss, metric, grads, back, cache, dh_loss

    def loss_only(self, batch: tasks.Batch, config: Config | None = None, frozen: dict | None = None) -> float:
        config = config or self.config
        hidden, _ = self.cell.forward(self.params, batch.inputs, config, frozen=frozen)
        return output_loss(hidden, self.params["W_o"], self.params["c"], batch, self.info.loss_name,
                           config.target_mode == "every", want_grads=False)[0]


class SigmaMax:
    """Largest singular value of W_h: exact (SVD) at the start, then power iteration on W_h^T W_h
    warm-started from the previous step's right singular vector (a few matvecs per step)."""

    def __init__(self, W: np.ndarray, iterations: int = 3):
        W64 = W.astype(np.float64)
        _, _, vt = np.linalg.svd(W64)
        self.v, self.iterations = vt[0], iterations
        self.value = float(np.linalg.norm(W64 @ self.v))

    def update(self, W: np.ndarray) -> float:
        """Matvecs in W's own dtype (no float64 copy of W per step); norms in float64."""
        v = self.v.astype(W.dtype)
        for _ in range(self.iterations):
            w = W.T @ (W @ v)
            norm = np.linalg.norm(w.astype(np.float64))
            if not norm > 0 or not math.isfinite(norm):
                break  # keep the last good direction
            v = w / w.dtype.type(norm)
        self.v = v.astype(np.float64)
        self.value = float(np.linalg.norm((W @ v).astype(np.float64)))
        if not math.isfinite(self.value) and W.dtype != np.float64:  # float32 overflowed on the way
            return self.update(W.astype(np.float64))
        return self.value


def spectral_radius(W: np.ndarray) -> float:
    """max |eigenvalue| of W (np.linalg.eigvals; O(H^3))."""
    return float(np.max(np.abs(np.linalg.eigvals(W.astype(np.float64)))))


def spectral_every(config: Config) -> int:
    """Minimum number of steps between two spectral radius computations.

    ``np.linalg.eigvals`` of a general (H, H) matrix (Hessenberg reduction + QR iterations) takes about
    30 + H^3 / 500 microseconds here (0.6 ms at H=64, 4 ms at 128, 240 ms at 512, measured), a training
    step about 500 + 15 T + 6 T B H^2 / 1e5 (fixed and per-timestep Python overhead + matrix products).
    Computing it at most every k = ceil(eig / (1% of a step)) steps keeps it under ~1% of the training
    time (k = 20 for the defaults T=100, B=32, H=64; 262 at T=100, B=64, H=512). It is reported on the
    array steps where it was computed (always step 0 and the last step) and None on the others.
    sigma_max is cheap (warm-started power iteration) and reported every step."""
    T, B, H = tasks.sequence_length(config), config.batch_size, config.hidden_size
    eig_us = 30 + H**3 / 500
    step_us = 500 + 15 * T + 6 * T * B * H**2 / 1e5
    return max(1, math.ceil(eig_us / (0.01 * step_us)))


def pascanu_bound(log10_grad: np.ndarray, gamma_sigma: float, log10_loss_grad: np.ndarray | None = None,
                  truncate: int | None = None) -> np.ndarray:
    r"""log10 of the upper bound on ||dL/dh_t|| from ||J_t|| <= gamma sigma_max (Pascanu et al. 2013), (T,).

    Each step back, dL/dh_t = g_t + dL/dh_{t+1} diag(f'(a_{t+1})) W_h^T with g_t = dL_t/dh_t the loss's
    own term at t, so by the triangle inequality, anchored at the measured ||dL/dh_{T-1}||:

        B_{T-1} = ||dL/dh_{T-1}||,     B_t = ||g_t|| + gamma sigma_max B_{t+1}
                = sum_{k >= t} ||g_k|| (gamma sigma_max)^(k-t)          (g_{T-1} := dL/dh_{T-1})

    With the loss at the last step only (``log10_loss_grad`` None) this is the straight line
    log10 ||dL/dh_{T-1}|| + (T-1-t) log10(gamma sigma_max); with a term at every step each term adds its
    own geometric tail. Truncated BPTT (``truncate`` k) carries nothing across its cuts, so the sum starts
    afresh below each (B = ||g_t|| at the step under a cut: 0, -inf here, with the loss at the end only).
    Per-timestep clipping only shrinks what flows back: still a bound. Summed in the log domain (a reverse
    cumulative logaddexp), exact far outside float64's range."""
    L = log10_grad.shape[0]
    k = L if truncate is None or truncate >= L else truncate  # cuts every k steps from the end
    if log10_loss_grad is None:  # only the stretch above the last cut receives anything: a straight line
        bound = np.full(L, -np.inf)
        distance = np.arange(k - 1, -1, -1, dtype=np.float64)  # T-1-t
        with np.errstate(divide="ignore", invalid="ignore"):
            bound[L - k:] = log10_grad[L - 1] + distance * math.log10(gamma_sigma) if gamma_sigma > 0 else \
                np.where(distance == 0, log10_grad[L - 1], -np.inf)
        return bound
    n = -(-L // k)  # stretches between cuts, as rows of k steps (the first padded in front with no terms)
    terms = np.full(n * k, -np.inf)
    terms[n * k - L:] = log10_loss_grad
    return _tail_bounds(terms.reshape(n, k), gamma_sigma, log10_grad[L - 1]).reshape(-1)[n * k - L:]


def _tail_bounds(terms: np.ndarray, gamma_sigma: float, anchor: float) -> np.ndarray:
    """:func:`pascanu_bound` for rows of k steps carried back without a cut, each from its own last term, the
    last row from ``anchor`` (the measured ||dL/dh_{T-1}||)."""
    n, k = terms.shape
    terms = terms.copy()
    terms[-1, -1] = anchor
    with np.errstate(divide="ignore", invalid="ignore"):
        if not gamma_sigma > 0:  # nothing is carried back: only each step's own term
            return terms
        # B_t = (gamma sigma)^-t sum_{k >= t} ||g_k|| (gamma sigma)^k, in natural logs, per row
        log_factor = math.log(gamma_sigma)
        steps = np.arange(k, dtype=np.float64)
        scaled = terms * math.log(10.0) + steps * log_factor
        bound = (np.logaddexp.accumulate(scaled[:, ::-1], axis=1)[:, ::-1] - steps * log_factor) / math.log(10.0)
        bound[:, -1] = terms[:, -1]  # each row's last: its own term exactly (natural logs would move it an ulp)
        return bound


def _arrays(back: CellBackward, gamma: float | None, sigma: float, config: Config) -> TimestepArrays:
    grad = back.log10_grad_norm_per_step
    bound = None if gamma is None else \
        pascanu_bound(grad, gamma * sigma, back.log10_loss_grad_per_step, config.truncate)
    tiny = math.log10(np.finfo(config.dtype).tiny)
    underflow = int(np.count_nonzero(np.isfinite(grad) & (grad < tiny)))
    return TimestepArrays(
        log10_grad_norm_per_step=grad,
        log10_weight_grad_per_step=back.log10_weight_grad_per_step,
        log10_input_weight_grad_per_step=back.log10_input_weight_grad_per_step,
        log10_input_grad_per_step=back.log10_input_grad_per_step,
        log10_bound_per_step=bound,
        dtype_underflow_steps=underflow,
        log10_cell_grad_norm_per_step=back.log10_cell_grad_norm_per_step,
        gate_mean_per_step=back.gate_mean_per_step,
        input_saliency=back.input_saliency,
    )


def _forward_overflow(model: Model) -> str | None:
    """Where the last forward pass's hidden states stopped being finite, e.g. "the float32 forward pass
    overflowed: h_t is not finite from t = 17 on" (a loss of NaN says nothing of where it came from), or None."""
    finite = np.isfinite(model.hidden).reshape(len(model.hidden), -1).all(axis=1)
    if finite.all():
        return None
    return f"the {model.config.dtype} forward pass overflowed: h_t is not finite from t = {int(np.argmin(finite))} on"


def _measure(model: Model, batch: tasks.Batch, diagnostics: bool):
    """Forward/backward + clipping: (loss, metric, grads, back, grad_norm, grad_norm_clipped, clipped)."""
    config = model.config
    loss, metric, grads, back, cache, dh_loss = model.loss_and_grads(batch, diagnostics, reuse=True)
    if diagnostics and config.target_mode == "every":  # the bound needs each step's own loss term
        back.log10_loss_grad_per_step = log10_row_norms(dh_loss, 0)
    if config.clip == "per_timestep":
        # ||g|| before clipping needs the unclipped backward pass too (same forward cache, no diagnostics).
        unclipped, _ = model.cell.backward(model.params, cache, dh_loss, config.replace(clip="none"),
                                           config.target_mode == "every", False)
        before = global_norm({**grads, **unclipped})  # W_o and c are not affected by the clipping
        return loss, metric, grads, back, before, global_norm(grads), back.clipped_timesteps > 0
    before, after, clipped = clip_gradients(grads, config.clip, config.clip_threshold)
    return loss, metric, grads, back, before, after, clipped


def _record_every(value) -> int:
    """``value`` as a positive int: an int or NumPy integer >= 1 (not a bool, not a float, even 2.0)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"record_every must be a positive integer (int or NumPy integer), got "
                        f"{_described(value)}")
    if value < 1:
        raise ValueError(f"record_every must be a positive integer (>= 1), got {value}")
    return int(value)


class Trainer:
    """Iterator of :class:`StepRecord`, one per training step; see :func:`train`."""

    def __init__(self, config: Config, record_every: int = 1):
        config, record_every = require_config(config, "train"), _record_every(record_every)
        self.model = Model(config)
        self.config = self.model.config
        self.record_every = record_every
        self.task_info = self.model.info
        self.optimizer = Optimizer(self.config.optimizer, self.config.learning_rate, self.config.momentum)
        self.gamma = self.model.cell.gamma(self.config)
        self._sigma = SigmaMax(self.model.cell.recurrent_weight(self.model.params))
        self._cancel = threading.Event()
        self._spectral_every = spectral_every(self.config)
        self._spectral_at: int | None = None  # step of the last spectral radius
        self.step = 0
        self.status = "running"
        self.diverged_at: int | None = None
        self.diverged_reason: str | None = None
        self.last_arrays: tuple[int, TimestepArrays] | None = None
        """After a divergence: (step, arrays) of the last step yielded before it, the explosion itself
        (e.g. ||g|| 6.6e12 one step before the loss is NaN), re-measured if that step was not an array
        step. None before, or when no step was yielded (diverged at step 0)."""
        self._previous: tuple[int, dict, tasks.Batch, float, TimestepArrays | None] | None = None
        # two buffers, used in turn: the one of the step before a divergence is not the one being written
        self._snapshots = [{name: np.empty_like(p) for name, p in self.model.params.items()} for _ in range(2)]

    @property
    def params(self) -> dict[str, np.ndarray]:
        return self.model.params

    def cancel(self) -> None:
        """Thread-safe: the next ``next()`` raises StopIteration with status "cancelled"."""
        self._cancel.set()

    def __iter__(self):
        return self

    def _diverge(self, reason: str, cause: str | None = None):
        self.status, self.diverged_at = "diverged", self.step
        self.diverged_reason = f"{reason} at step {self.step}" + (f" ({cause})" if cause else "")
        if self._previous is not None:
            step, params, batch, sigma, arrays = self._previous
            if arrays is None:  # forward/backward once more on that step's weights and batch, with diagnostics
                model, current = self.model, self.model.params
                model.params = params
                try:
                    back = _measure(model, batch, True)[3]
                finally:
                    model.params = current
                arrays = _arrays(back, self.gamma, sigma, self.config)
            self.last_arrays = (step, arrays)
        raise StopIteration

    def __next__(self) -> StepRecord:
        if self.status != "running":
            raise StopIteration
        if self._cancel.is_set():
            self.status = "cancelled"
            raise StopIteration
        if self.step >= self.config.steps:
            self.status = "done"
            raise StopIteration
        step, config, model = self.step, self.config, self.model
        want_arrays = step % self.record_every == 0 or step == config.steps - 1
        with np.errstate(all="ignore"):  # overflow is detected below and reported as divergence
            sigma = self._sigma.value if step == 0 else self._sigma.update(model.cell.recurrent_weight(model.params))
            rho = None
            if want_arrays and (self._spectral_at is None or step - self._spectral_at >= self._spectral_every
                                or step == config.steps - 1):
                rho = spectral_radius(model.cell.recurrent_weight(model.params))
                self._spectral_at = step
            batch = model.batch()
            loss, metric, grads, back, before, after, clipped = _measure(model, batch, want_arrays)
            if not math.isfinite(loss):
                self._diverge(f"loss is {loss}", _forward_overflow(model))
            if not math.isfinite(before) or not math.isfinite(after):
                self._diverge(f"gradient norm is {before if not math.isfinite(before) else after}")
            snapshot = self._snapshots[step % 2]
            if not want_arrays:  # the weights this step ran on, in case the next one diverges (see last_arrays)
                for name, p in model.params.items():
                    np.copyto(snapshot[name], p)
            self.optimizer.step(model.params, grads)
            if not all(np.isfinite(np.sum(p)) for p in model.params.values()):
                self._diverge("parameters became non-finite")
            arrays = _arrays(back, self.gamma, sigma, config) if want_arrays else None
        self._previous = (step, snapshot, batch, sigma, arrays)
        self.step += 1
        return StepRecord(step=step, loss=loss, metric=metric, grad_norm=before, grad_norm_clipped=after,
                          clipped=bool(clipped), sigma_max=sigma, spectral_radius=rho, gamma=self.gamma,
                          arrays=arrays)


def train(config: Config, record_every: int = 1) -> Trainer:
    """A training run as an iterator of StepRecord (one per step, arrays every ``record_every`` steps
    and on the last). Cancel with ``trainer.cancel()``; see ``status``, ``diverged_at``, ``diverged_reason``.

    ``config`` must be a :class:`Config` (a dict: ``Config(**d)``; TypeError otherwise), and is validated
    (ConfigError). ``record_every``: a positive int or NumPy integer (TypeError for a float or a bool,
    ValueError below 1)."""
    return Trainer(config, record_every)


def profile(config: Config) -> StepRecord:
    """One forward/backward at initialisation with all arrays; no update. Scalars as at step 0 of
    :func:`train` (same init and first batch), sigma_max and spectral radius exact."""
    model = Model(require_config(config, "profile"))
    W = model.cell.recurrent_weight(model.params)
    gamma = model.cell.gamma(model.config)
    with np.errstate(all="ignore"):
        sigma = float(np.linalg.svd(W.astype(np.float64), compute_uv=False)[0])
        loss, metric, grads, back, before, after, clipped = _measure(model, model.batch(), True)
        arrays = _arrays(back, gamma, sigma, model.config)
    return StepRecord(step=0, loss=loss, metric=metric, grad_norm=before, grad_norm_clipped=after,
                      clipped=bool(clipped), sigma_max=sigma, spectral_radius=spectral_radius(W), gamma=gamma,
                      arrays=arrays)
