"""Finite-difference gradient check: central differences in float64 against the analytic BPTT gradient
of every parameter, on a small copy of a config (:func:`gradcheck_config`), with a three-way verdict.

>>> from rnncore import Config, gradcheck, gradcheck_report
>>> gradcheck(Config(cell="lstm"))                # {"W_x": 3.1e-08, ...}: max relative error per parameter
>>> gradcheck_report(Config(cell="lstm")).verdict  # "passed" | "failed" | "inconclusive"
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from .config import Config, require_config
from .losses import output_loss
from .tasks import sequence_length, truncation_cuts
from .trainer import Model

GRADCHECK_CAPS = {"batch_size": 3, "seq_len": 12, "hidden_size": 6, "num_classes": 4}
"""gradcheck runs on a float64 copy of the config with these upper bounds (cost: 2 forward passes per
parameter element). The copy task's sequence is still seq_len + 20 long."""


def gradcheck_config(config: Config) -> Config:
    """The config :func:`gradcheck` actually checks: ``config`` in float64, without clipping (norm and
    value clipping rescale the gradient after BPTT; per-timestep clipping rescales dL/dh_t inside it, so
    that lane does not train on the loss's gradient, and finite differences can check only the rest),
    sizes capped by :data:`GRADCHECK_CAPS`, and ``truncate`` capped at the capped ``seq_len``; where the
    lane's truncation cuts its sequence, at half the checked sequence too, so the check has a cut inside it
    (seq_len 60, k 20: k 6 on T 12, where k 12 would cut nothing). Everything else (cell, activation, task,
    target, init, seed, ...) is kept."""
    config = require_config(config, "gradcheck_config").validate()
    small = config.replace(dtype="float64", clip="none",
                           **{k: min(getattr(config, k), cap) for k, cap in GRADCHECK_CAPS.items()})
    if small.truncate is not None:
        longest = min(small.seq_len, max(1, sequence_length(small) // 2)) if truncation_cuts(config) \
            else small.seq_len
        small = small.replace(truncate=min(small.truncate, longest))
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

ROUNDING_ULPS = 2.0
"""An estimate's rounding error, in ulps of L per unit step, counted into the estimates' spread: the
stencils' weights sum to <= 8/6 per s (the one-sided ones), times ~1.5 ulp per loss value."""


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
        # The estimates resolve nothing finer than their rounding, ~ ulp(L) / s: at a huge loss they take
        # few distinct values and can agree exactly by chance (L = 1.6e15, ulp 0.25: all four equal,
        # 2e-4 off the true gradient), so their spread counts as at least that.
        rounding = ROUNDING_ULPS * float(np.spacing(abs(L0))) / s / scale
        spread = max(float(np.max(est) - np.min(est)) / scale, rounding)
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


def _require_positive(name: str, value) -> None:
    """A step size or tolerance must be a finite number > 0: eps = 0 or NaN gave all-NaN errors, a negative
    one silently the same differences, tolerance = 0 an "inconclusive" that named no cause."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")


def _check(config: Config, eps: float, tolerance: float | None) -> GradcheckReport:
    """Central differences at eps for every element; with a tolerance, every element that does not match
    is re-checked by :func:`_recheck` (without one nothing is, and the verdict is "")."""
    import time

    _require_positive("eps", eps)
    if tolerance is not None:
        _require_positive("tolerance", tolerance)
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
    return _check(require_config(config, "gradcheck"), eps, None).max_rel_error


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
    (a kink of the loss within the step, or rounding ~ machine eps |L| / s at a huge loss). The spread
    counts as at least that rounding (:data:`ROUNDING_ULPS`): at a huge loss the estimates can agree
    exactly by chance, since L(p + k s) then takes only a few distinct values.

    Verdict: "failed" if any element mismatches, else "inconclusive" if any is unresolved, else "passed".
    Costs 2 loss evaluations per element (as :func:`gradcheck`) plus 2 to 10 per re-checked one."""
    return _check(require_config(config, "gradcheck_report"), eps, tolerance)
