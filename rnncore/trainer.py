"""Training generator, one-shot profile, and finite-difference gradient check.

>>> from rnncore import Config, train, profile, gradcheck, task_info
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
import threading
from dataclasses import dataclass

import numpy as np

from . import tasks
from .cells import CellBackward, get_cell, glorot
from .cells.base import Workspace
from .config import Config
from .losses import output_loss
from .optim import Optimizer, clip_gradients, global_norm
from .records import StepRecord, TaskInfo, TimestepArrays

GRADCHECK_CAPS = {"batch_size": 3, "seq_len": 12, "hidden_size": 6, "num_classes": 4}
"""gradcheck runs on a float64 copy of the config with these upper bounds (cost: 2 forward passes per
parameter element). The copy task's sequence is still seq_len + 20 long."""


def task_info(config: Config) -> TaskInfo:
    """Sizes, loss/metric names and the chance baselines of the config's task."""
    return tasks.task_info(config.validate())


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


def _arrays(back: CellBackward, gamma: float, sigma: float, dtype) -> TimestepArrays:
    grad = back.log10_grad_norm_per_step
    L = grad.shape[0]
    distance = np.arange(L - 1, -1, -1, dtype=np.float64)  # T-1-t
    with np.errstate(divide="ignore", invalid="ignore"):
        bound = grad[L - 1] + distance * math.log10(gamma * sigma) if gamma * sigma > 0 else \
            np.where(distance == 0, grad[L - 1], -np.inf)
    tiny = math.log10(np.finfo(dtype).tiny)
    underflow = int(np.count_nonzero(np.isfinite(grad) & (grad < tiny)))
    return TimestepArrays(
        log10_grad_norm_per_step=grad,
        log10_weight_grad_per_step=back.log10_weight_grad_per_step,
        log10_input_grad_per_step=back.log10_input_grad_per_step,
        log10_bound_per_step=np.asarray(bound, dtype=np.float64),
        dtype_underflow_steps=underflow,
        log10_cell_grad_norm_per_step=back.log10_cell_grad_norm_per_step,
        gate_mean_per_step=back.gate_mean_per_step,
        input_saliency=back.input_saliency,
    )


def _measure(model: Model, batch: tasks.Batch, diagnostics: bool):
    """Forward/backward + clipping: (loss, metric, grads, back, grad_norm, grad_norm_clipped, clipped)."""
    config = model.config
    loss, metric, grads, back, cache, dh_loss = model.loss_and_grads(batch, diagnostics, reuse=True)
    if config.clip == "per_timestep":
        # ||g|| before clipping needs the unclipped backward pass too (same forward cache, no diagnostics).
        unclipped, _ = model.cell.backward(model.params, cache, dh_loss, config.replace(clip="none"),
                                           config.target_mode == "every", False)
        before = global_norm({**grads, **unclipped})  # W_o and c are not affected by the clipping
        return loss, metric, grads, back, before, global_norm(grads), back.clipped_timesteps > 0
    before, after, clipped = clip_gradients(grads, config.clip, config.clip_threshold)
    return loss, metric, grads, back, before, after, clipped


class Trainer:
    """Iterator of :class:`StepRecord`, one per training step; see :func:`train`."""

    def __init__(self, config: Config, record_every: int = 1):
        if record_every < 1:
            raise ValueError("record_every must be >= 1")
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

    @property
    def params(self) -> dict[str, np.ndarray]:
        return self.model.params

    def cancel(self) -> None:
        """Thread-safe: the next ``next()`` raises StopIteration with status "cancelled"."""
        self._cancel.set()

    def __iter__(self):
        return self

    def _diverge(self, reason: str):
        self.status, self.diverged_at = "diverged", self.step
        self.diverged_reason = f"{reason} at step {self.step}"
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
                self._diverge(f"loss is {loss}")
            if not math.isfinite(before) or not math.isfinite(after):
                self._diverge(f"gradient norm is {before if not math.isfinite(before) else after}")
            self.optimizer.step(model.params, grads)
            if not all(np.isfinite(np.sum(p)) for p in model.params.values()):
                self._diverge("parameters became non-finite")
            arrays = _arrays(back, self.gamma, sigma, config.dtype) if want_arrays else None
        self.step += 1
        return StepRecord(step=step, loss=loss, metric=metric, grad_norm=before, grad_norm_clipped=after,
                          clipped=bool(clipped), sigma_max=sigma, spectral_radius=rho, gamma=self.gamma,
                          arrays=arrays)


def train(config: Config, record_every: int = 1) -> Trainer:
    """A training run as an iterator of StepRecord (one per step, arrays every ``record_every`` steps
    and on the last). Cancel with ``trainer.cancel()``; see ``status``, ``diverged_at``, ``diverged_reason``."""
    return Trainer(config, record_every)


def profile(config: Config) -> StepRecord:
    """One forward/backward at initialisation with all arrays; no update. Scalars as at step 0 of
    :func:`train` (same init and first batch), sigma_max and spectral radius exact."""
    model = Model(config)
    W = model.cell.recurrent_weight(model.params)
    gamma = model.cell.gamma(model.config)
    with np.errstate(all="ignore"):
        sigma = float(np.linalg.svd(W.astype(np.float64), compute_uv=False)[0])
        loss, metric, grads, back, before, after, clipped = _measure(model, model.batch(), True)
        arrays = _arrays(back, gamma, sigma, model.config.dtype)
    return StepRecord(step=0, loss=loss, metric=metric, grad_norm=before, grad_norm_clipped=after,
                      clipped=bool(clipped), sigma_max=sigma, spectral_radius=spectral_radius(W), gamma=gamma,
                      arrays=arrays)


def gradcheck_config(config: Config) -> Config:
    """The config :func:`gradcheck` actually checks: ``config`` in float64, without clipping (clipping is
    not part of the gradient), sizes capped by :data:`GRADCHECK_CAPS`, ``truncate`` capped at the capped
    ``seq_len``. Everything else (cell, activation, task, target, init, seed, ...) is kept."""
    small = config.validate().replace(
        dtype="float64", clip="none",
        **{k: min(getattr(config, k), cap) for k, cap in GRADCHECK_CAPS.items()})
    if small.truncate is not None:
        small = small.replace(truncate=min(small.truncate, small.seq_len))
    return small


GRADCHECK_TOLERANCE = 1e-6
"""An element matches when the analytic and the finite-difference gradient differ by less than this
(relative, see :func:`gradcheck`)."""

GRADCHECK_RUNGS = 3
""":func:`gradcheck_report` re-checks an element that does not match at steps s = eps, 4 eps, 16 eps
(each with 2 s as well): at most 32 eps = 3.2e-4 away from the parameter."""

GRADCHECK_MARGIN = 10.0
"""A mismatch is only called when the analytic gradient lies at least this many times farther from the
finite-difference estimates than they lie from each other."""


@dataclass
class ParamCheck:
    """The check of one parameter array (see :func:`gradcheck_report`)."""

    elements: int
    max_rel_error: float
    """Max over elements of the relative error of the central difference at eps (as :func:`gradcheck`)."""
    rechecked: int
    """Elements whose central difference at eps did not match within the tolerance: re-checked."""
    fd_disagreement: float | None
    """Max over the re-checked elements of how much the four estimates at the first step (central at eps
    and 2 eps, the two one-sided second-order ones) differ from each other, relative; None if none was."""
    mismatched: int
    """Re-checked elements where the estimates agree with each other and not with the analytic gradient."""
    unresolved: int
    """Re-checked elements where the estimates disagree at every step: the finite difference is unreliable."""
    worst_mismatch: float | None
    """Max over the mismatched elements of the distance from analytic to the nearest estimate (relative)."""
    verdict: str
    """passed | failed (an element mismatched) | inconclusive (none mismatched, some unresolved)."""
    first_mismatch: tuple[int, ...] | None = None
    first_unresolved: tuple[int, ...] | None = None


@dataclass
class GradcheckReport:
    """What :func:`gradcheck_report` found: one :class:`ParamCheck` per parameter, and a verdict."""

    verdict: str
    """"passed" (every element matches), "failed" (some element's analytic gradient differs from finite
    differences that agree with each other) or "inconclusive" (no mismatch, but for some elements the
    finite differences disagree between step sizes: a kink within the step, or rounding at this scale)."""
    reason: str
    params: dict[str, ParamCheck]
    loss: float
    eps: float
    tolerance: float
    steps: tuple[float, ...]
    """The re-check steps s (each also at 2 s)."""
    elapsed_ms: float

    @property
    def passed(self) -> bool:
        return self.verdict == "passed"

    @property
    def max_rel_error(self) -> dict[str, float]:
        return {name: check.max_rel_error for name, check in self.params.items()}


def _stencils(L0: float, minus2: float, minus: float, plus: float, plus2: float, s: float) -> np.ndarray:
    """Four estimates of dL/dp from L(p + k s), k = -2..2. For a smooth loss their truncation errors are
    t, 4 t, 2 t, 2 t (t = L''' s^2 / 6), so they agree to 3 t; a kink of the loss within 2 s shifts them by
    different amounts wherever it lies (the one-sided ones also when it lies at p itself, where the two
    central ones both give the mean slope), and rounding (~ machine eps |L| / s) differs between them."""
    return np.array([(plus - minus) / (2 * s), (plus2 - minus2) / (4 * s),
                     (-4 * minus + 3 * L0 + plus2) / (6 * s), (4 * plus - 3 * L0 - minus2) / (6 * s)])


def _recheck(loss_at, i: int, g: float, L0: float, minus: float, plus: float, eps: float, tolerance: float,
             floor: float) -> tuple[str, float, float]:
    """Re-check element i at growing steps: ("matched" | "mismatched" | "unresolved", the estimates'
    spread at the first step, analytic's distance from the nearest estimate at the deciding step)."""
    first = prev = math.inf
    for k in range(GRADCHECK_RUNGS):
        s = eps * 4**k
        if k > 0:
            minus, plus = loss_at(i, -s), loss_at(i, s)
        est = _stencils(L0, loss_at(i, -2 * s), minus, plus, loss_at(i, 2 * s), s)
        if not np.all(np.isfinite(est)):
            return "unresolved", (math.nan if k == 0 else first), math.nan  # the loss overflows near p
        if not math.isfinite(g):  # finite differences exist, the analytic gradient does not
            return "mismatched", (0.0 if k == 0 else first), math.inf
        scale = max(abs(g), float(np.max(np.abs(est))), floor)
        spread = float(np.max(est) - np.min(est)) / scale
        errors = np.abs(g - est) / scale
        first = spread if k == 0 else first
        if spread < tolerance:
            if float(np.max(errors)) < tolerance:
                return "matched", first, float(np.min(errors))
            if float(np.min(errors)) >= max(tolerance, GRADCHECK_MARGIN * spread):
                return "mismatched", first, float(np.min(errors))
        if not spread < prev / 2:
            break  # larger steps do not help: not rounding (which falls as 1/s) but a kink or curvature
        prev = spread
    return "unresolved", first, math.nan


def _element(shape: tuple[int, ...], i: int) -> tuple[int, ...]:
    return tuple(int(j) for j in np.unravel_index(i, shape))


def _check(config: Config, eps: float, tolerance: float | None) -> GradcheckReport:
    """Central differences at eps for every element; with a tolerance, every element that does not match
    is re-checked by :func:`_recheck` (without one nothing is, and the verdict is "")."""
    import time

    started = time.perf_counter()
    small = gradcheck_config(config)
    model = Model(small)
    batch = model.batch()
    L0, _, grads, _, base_cache, _ = model.loss_and_grads(batch, diagnostics=False)
    frozen = base_cache if small.truncate is not None else None
    every = small.target_mode == "every"
    hidden, _ = model.cell.forward(model.params, batch.inputs, small, frozen=frozen)
    checks: dict[str, ParamCheck] = {}
    for name, p in model.params.items():
        flat = p.reshape(-1)
        output_layer = name in ("W_o", "c")  # the hidden states do not depend on them: no forward pass

        def loss_at(i: int, step: float, flat=flat, output_layer=output_layer) -> float:
            orig = flat[i]
            flat[i] = orig + step
            try:
                if output_layer:
                    return output_loss(hidden, model.params["W_o"], model.params["c"], batch,
                                       model.info.loss_name, every, want_grads=False)[0]
                return model.loss_only(batch, frozen=frozen)
            finally:
                flat[i] = orig

        plus, minus = np.empty(flat.size), np.empty(flat.size)
        with np.errstate(all="ignore"):
            for i in range(flat.size):
                plus[i], minus[i] = loss_at(i, eps), loss_at(i, -eps)
            numeric = (plus - minus) / (2 * eps)
            analytic = grads[name].reshape(-1)
            floor = max(1e-3 * float(np.max(np.abs(analytic))), 1e-300)
            denom = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
            rel = np.abs(analytic - numeric) / denom
        check = ParamCheck(elements=flat.size, max_rel_error=float(np.max(rel)), rechecked=0,
                           fd_disagreement=None, mismatched=0, unresolved=0, worst_mismatch=None, verdict="")
        if tolerance is not None:
            spreads, worst = [], []
            with np.errstate(all="ignore"):
                for i in np.flatnonzero(~(rel < tolerance)):  # NaN (overflow, a NaN gradient) included
                    status, spread, distance = _recheck(loss_at, int(i), float(analytic[i]), L0, minus[i],
                                                        plus[i], eps, tolerance, floor)
                    check.rechecked += 1
                    spreads.append(spread)
                    if status == "mismatched":
                        check.mismatched += 1
                        worst.append(distance)
                        check.first_mismatch = check.first_mismatch or _element(p.shape, int(i))
                    elif status == "unresolved":
                        check.unresolved += 1
                        check.first_unresolved = check.first_unresolved or _element(p.shape, int(i))
            check.fd_disagreement = max(spreads) if spreads else None  # NaN if the loss overflowed
            check.worst_mismatch = max(worst) if worst else None
            check.verdict = "failed" if check.mismatched else "inconclusive" if check.unresolved else "passed"
        checks[name] = check
    steps = tuple(eps * 4**k for k in range(GRADCHECK_RUNGS))
    elapsed = (time.perf_counter() - started) * 1e3
    if tolerance is None:
        return GradcheckReport("", "", checks, float(L0), eps, math.nan, steps, elapsed)
    verdict, reason = _verdict(checks, float(L0), tolerance, steps, small.cell == "rnn" and small.activation == "relu")
    return GradcheckReport(verdict, reason, checks, float(L0), eps, tolerance, steps, elapsed)


def _where(name: str, check: ParamCheck, count: int, first: tuple[int, ...] | None) -> str:
    if check.elements == 1:
        return name
    at = f"{name}[{', '.join(map(str, first))}]" if first else name
    return f"{name} ({count} of {check.elements} elements, first {at})"


def _verdict(checks: dict[str, ParamCheck], loss: float, tolerance: float, steps: tuple[float, ...],
             kinks: bool) -> tuple[str, str]:
    failed = [n for n, c in checks.items() if c.mismatched]
    unresolved = [n for n, c in checks.items() if c.unresolved]
    rechecked = sum(c.rechecked for c in checks.values())
    largest = f"{2 * steps[-1]:.1e}".replace("e-0", "e-")
    if failed:
        where = ", ".join(_where(n, checks[n], checks[n].mismatched, checks[n].first_mismatch) for n in failed)
        worst = max(checks[n].worst_mismatch for n in failed)
        return "failed", (f"the analytic gradient differs from the finite differences for {where}: by {worst:.1e} "
                          f"(relative) from the nearest of four finite differences that agree with each other "
                          f"within {tolerance:g} and {GRADCHECK_MARGIN:g} times more closely")
    if unresolved:
        where = ", ".join(_where(n, checks[n], checks[n].unresolved, checks[n].first_unresolved)
                          for n in unresolved)
        if not math.isfinite(loss) or any(c.fd_disagreement is not None and not math.isfinite(c.fd_disagreement)
                                          for c in checks.values()):
            cause = "the loss is not finite within the step"
        else:
            cause = (f"{'a ReLU kink of the loss within the step or ' if kinks else ''}rounding at this loss scale "
                     f"(L = {loss:.2g})")
        return "inconclusive", (f"finite differences disagree between step sizes (eps to {largest}) for {where}: "
                                f"{cause}; the check cannot decide there. No element mismatches.")
    if rechecked:
        return "passed", (f"every element matches within {tolerance:g}; {rechecked} only at a larger step (up to "
                          f"{largest}), where four finite differences agree with each other")
    return "passed", f"every element matches within {tolerance:g}"


def gradcheck(config: Config, eps: float = 1e-5) -> dict[str, float]:
    """Central finite differences (float64) vs the analytic gradient, per parameter.

    Runs on :func:`gradcheck_config` (float64, clip-free, capped by :data:`GRADCHECK_CAPS`; truncation is
    kept; the finite differences then go through the truncated surrogate, see ``cells.forward(frozen=...)``).
    Returns max over elements of |analytic - numeric| / max(|analytic|, |numeric|, 1e-3 * max|analytic|)
    per parameter name: an element-wise relative error, floored at 1e-3 of the parameter's largest
    gradient so that elements that are ~0 up to rounding do not dominate. A large error can be the finite
    difference's own (a kink within eps, rounding of a huge loss): :func:`gradcheck_report` tells."""
    return _check(config, eps, None).max_rel_error


def gradcheck_report(config: Config, eps: float = 1e-5, tolerance: float = GRADCHECK_TOLERANCE) -> GradcheckReport:
    """:func:`gradcheck` with a verdict that tells a wrong analytic gradient from an unreliable finite
    difference.

    Every element whose central difference at eps is off by >= ``tolerance`` is re-checked with four
    estimates from L(p + k s), k = -2..2 (central at s and 2 s, and the two one-sided second-order
    stencils), at s = eps, 4 eps, 16 eps (:data:`GRADCHECK_RUNGS`; the next step only while their spread
    halves, as rounding's does). The element *matches* when at some step the estimates agree within the
    tolerance and all lie within it of the analytic gradient; it *mismatches* when they agree within the
    tolerance and the analytic gradient lies >= ``tolerance`` and >= :data:`GRADCHECK_MARGIN` times their
    spread away from all of them; otherwise it is *unresolved*: the finite differences themselves disagree
    (a kink of the loss within the step, or rounding ~ machine eps |L| / s at a huge loss).

    Verdict: "failed" if any element mismatches, else "inconclusive" if any is unresolved, else "passed".
    Costs 2 loss evaluations per element (as :func:`gradcheck`) plus 2 to 10 per re-checked one."""
    return _check(config, eps, tolerance)
