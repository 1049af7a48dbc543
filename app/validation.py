"""Turn request models into validated engine configs; every failure is a 422 that names the field."""
from __future__ import annotations

import re
from typing import Annotated

from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, BeforeValidator
from pydantic_core import PydanticCustomError

from app.errors import error_item, validation_error
from app.runs import TIMESTEPS, state_values, work, work_formula
from app.schemas import LANE_NAMES
from rnncore import Config
from rnncore.config import FIELDS

PLAIN_INTEGER = re.compile(r"-?[0-9]+")
"""How an integer is written in a query string or header: ASCII digits, an optional leading minus. Python's int()
(and pydantic) also take " 1", "+1", "1_0" and other scripts' digits; a JSON body's integer cannot be written
those ways, so neither can a query's."""


def plain_integer(value):
    """A BeforeValidator for integer query parameters: a string must be :data:`PLAIN_INTEGER` (pydantic would
    take "10.0" as 10, which the JSON body of every other endpoint refuses: a whole-number float for an integer
    field, and "+1", " 1", "1_0" alike)."""
    if isinstance(value, str) and not PLAIN_INTEGER.fullmatch(value):
        if any(c in value for c in ".eE") or not any(c in "0123456789" for c in value):
            raise PydanticCustomError("whole_number", "must be a whole number written without a decimal point or "
                                                      "exponent")
        raise PydanticCustomError("whole_number", "must be a whole number written in plain digits 0-9 with an "
                                                  "optional leading minus (no '+', spaces or '_')")
    return value


PlainInt = Annotated[int, BeforeValidator(plain_integer)]


def to_config(model: BaseModel, loc: tuple) -> Config:
    """Build and cross-check a Config (e.g. truncate <= seq_len, target allowed for the task). A 422's ``ctx``
    is the ConfigError's ``data``: the bounds or allowed values and the other field involved, e.g. ``{"minimum":
    1, "maximum": 100, "integer": true, "nullable": true, "maximum_from": "seq_len", "seq_len": 100}``."""
    return to_configs([model], lambda _: loc)[0]


def to_configs(models: list[BaseModel], loc_of) -> list[Config]:
    """:func:`to_config` for each of ``models`` (``loc_of(i)``: where the i-th is in the request), with one 422
    that names every problem of every lane at once, as pydantic names its own (it used to stop at the first)."""
    configs = [Config(**model.model_dump()) for model in models]
    problems = [(loc_of(i), cfg, problem) for i, cfg in enumerate(configs) for problem in cfg.problems()]
    if problems:
        raise RequestValidationError([error_item((*loc, problem.field), problem.message,
                                                 getattr(cfg, problem.field, None), ctx=problem.data)
                                      for loc, cfg, problem in problems])
    return configs


def ignored_settings(model: BaseModel, cfg: Config) -> list[str]:
    """The fields a request set that have no effect on its lane (e.g. an LSTM's ``activation``, the
    ``momentum`` of Adam): accepted, as the page sends every field, but named so an API user sees them."""
    return [spec.name for spec in FIELDS if spec.name in model.model_fields_set and not spec.applies(cfg)]


def _one_config(configs: list[Config], loc: tuple) -> bool:
    """Whether ``configs`` is one config sent on its own (POST /api/profile's body), not a lanes list: its
    message then names no lane (the page sends any lane's config there, lane B's too)."""
    return len(configs) == 1 and loc[-1:] != ("lanes",)


def _per_lane(values: list[float], configs: list[Config], loc: tuple) -> str:
    """"; lane A: 6.6e+09, lane B: 8.4e+12" for a lanes list (named by letter, as the page names them)."""
    if _one_config(configs, loc):
        return ""
    return "; " + ", ".join(f"lane {LANE_NAMES[i]}: {v:.2g}" for i, v in enumerate(values))


def _reduce(fields: list[str], configs: list[Config], loc: tuple) -> str:
    return ", ".join(fields) + (" or the number of lanes" if len(configs) > 1 else "")


def check_work(configs: list[Config], limit: float, loc: tuple, steps: int | None = None) -> None:
    """422 when the summed cost (app.runs.work_formula; L: the timesteps unrolled) is above the cap. Its
    ``ctx``: the ``work``, the ``limit`` and the fields to ``reduce``, for a client to say it in its own words."""
    costs = [work(cfg, steps) for cfg in configs]
    total = sum(costs)
    if total <= limit:
        return
    fields = ["seq_len", "hidden_size", "batch_size"] + (["steps"] if steps is None else [])
    raise validation_error(
        loc, f"too much work: {total:.3g} > limit {limit:.3g} (work = {work_formula(steps is None)}, {TIMESTEPS}, "
        f"gates = 1 rnn / 4 lstm / 3 gru{_per_lane(costs, configs, loc)}); "
        f"reduce {_reduce(fields, configs, loc)}", None, kind="work_limit",
        ctx={"work": float(total), "limit": float(limit), "reduce": fields})


def check_run_limits(configs: list[Config], settings, loc: tuple) -> None:
    """The limits on one run's lanes together, as POST /api/runs applies them: total work, then memory."""
    check_work(configs, settings.max_work, loc)
    check_memory(configs, settings.max_state_values, loc)


def check_memory(configs: list[Config], limit: float, loc: tuple) -> None:
    """422 when the activations kept for backprop, summed over lanes, are above the cap (memory). Its
    ``ctx``: the ``values``, the ``limit`` and the fields to ``reduce``."""
    values = [state_values(cfg) for cfg in configs]
    total = sum(values)
    if total <= limit:
        return
    fields = ["seq_len", "batch_size", "hidden_size"]
    raise validation_error(
        loc, f"too much memory: {total:.3g} activations > limit {limit:.3g} (L * batch_size * hidden_size "
        f"* gates{'' if _one_config(configs, loc) else ' per lane'}, {TIMESTEPS}, about 16-28 bytes each"
        f"{_per_lane(values, configs, loc)}); reduce {_reduce(fields, configs, loc)}",
        None, kind="memory_limit", ctx={"values": float(total), "limit": float(limit), "reduce": fields})
