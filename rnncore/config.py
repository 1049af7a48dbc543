"""Run configuration: the one place where every setting's name, type, default, choices and bounds live.

The service builds its request schema and ``GET /api/options`` from :data:`FIELDS`; the page builds its
controls from that endpoint. Nothing else repeats a bound or a choice list.

>>> from rnncore import Config
>>> cfg = Config(activation="sigmoid", seq_len=200)
>>> cfg.validate()            # raises ConfigError(field, message, data) on bad input
>>> cfg.replace(clip="none")  # a modified copy
"""
from __future__ import annotations

import numbers
import textwrap
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

TASK_TARGETS = {
    # task -> allowed target modes, first is the task's default
    "adding": ("last", "every"),
    "copy": ("every",),
    "temporal_order": ("last",),
    "recall": ("last", "every"),
}


@dataclass(frozen=True)
class FieldSpec:
    """Describes one config field. ``kind`` is "choice", "int" or "float"."""

    name: str
    kind: str
    default: Any
    description: str
    choices: tuple | None = None
    minimum: float | None = None
    maximum: float | None = None
    nullable: bool = False
    group: str = "model"  # model | task | training | init: how the page groups its controls
    log_scale: bool = False  # a hint for the page: spans orders of magnitude
    applies_to: dict | None = None  # e.g. {"cell": ["rnn"]}: when the field has an effect

    def applies(self, config) -> bool:
        """Whether this field has an effect on ``config`` (e.g. ``activation`` only for the RNN cell)."""
        return not self.applies_to or all(getattr(config, k) in v for k, v in self.applies_to.items())

    def as_dict(self) -> dict:
        out = {k: v for k, v in asdict(self).items() if v is not None}
        if self.choices is not None:
            out["choices"] = list(self.choices)
        return out


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec("cell", "choice", "rnn", "Recurrent cell: vanilla RNN, LSTM or GRU.",
              choices=("rnn", "lstm", "gru")),
    FieldSpec("activation", "choice", "tanh",
              "Nonlinearity f of the vanilla RNN, h_t = f(x_t W_x + h_{t-1} W_h + b). max|f'|: "
              "sigmoid 1/4, tanh 1, relu 1, linear 1.",
              choices=("sigmoid", "tanh", "relu", "linear"), applies_to={"cell": ["rnn"]}),
    FieldSpec("hidden_size", "int", 64, "Number of hidden units H.", minimum=1, maximum=512),
    FieldSpec("task", "choice", "adding",
              "Synthetic long-term-dependency task: adding (sum two marked numbers), copy (reproduce "
              "10 symbols after a gap), temporal_order (order of two early symbols), recall (name the "
              "first token after a gap).",
              choices=tuple(TASK_TARGETS), group="task"),
    FieldSpec("seq_len", "int", 100,
              "Sequence length T, which sets the dependency length: how far back the gradient must carry "
              "the task's information (adding: 0.9-1 T from its first marked value, temporal order: 0.8-0.9 T, "
              "recall: T - 1, copy: T blanks between the symbols and their recall).",
              minimum=2, maximum=2000, group="task"),
    FieldSpec("num_classes", "int", 4, "Number of token classes in the recall task (chance = 1/num_classes).",
              minimum=2, maximum=16, group="task", applies_to={"task": ["recall"]}),
    FieldSpec("target", "choice", None,
              "Where the loss is: only at the last timestep, or at every timestep. Allowed per task, the "
              "first being its default (left empty: null): "
              + "; ".join(f"{task} {' or '.join(modes)}" for task, modes in TASK_TARGETS.items()) + ".",
              choices=("last", "every"), nullable=True, group="task"),
    FieldSpec("batch_size", "int", 32, "Sequences per training step.", minimum=1, maximum=256,
              group="training"),
    FieldSpec("steps", "int", 500, "Training steps (parameter updates).", minimum=1, maximum=20000,
              group="training"),
    FieldSpec("optimizer", "choice", "adam", "Update rule: plain SGD, SGD with momentum, or Adam.",
              choices=("sgd", "momentum", "adam"), group="training"),
    FieldSpec("learning_rate", "float", 1e-3, "Step size of the optimizer.", minimum=1e-6, maximum=10.0,
              group="training", log_scale=True),
    FieldSpec("momentum", "float", 0.9, "Momentum coefficient (optimizer = momentum).", minimum=0.0,
              maximum=0.999, group="training", applies_to={"optimizer": ["momentum"]}),
    FieldSpec("clip", "choice", "norm",
              "Gradient clipping: none; norm (rescale all gradients together when ||g|| >= threshold); "
              "value (clip each element to [-threshold, threshold]); per_timestep (rescale the "
              "backpropagated delta at each timestep whose norm exceeds threshold).",
              choices=("none", "norm", "value", "per_timestep"), group="training"),
    FieldSpec("clip_threshold", "float", 1.0, "Clipping threshold tau.", minimum=1e-6, maximum=1e6,
              group="training", log_scale=True, applies_to={"clip": ["norm", "value", "per_timestep"]}),
    FieldSpec("truncate", "int", None,
              "Truncated BPTT: the gradient is cut every k timesteps, counted from the end of the sequence "
              "(nothing flows from h_t into h_{t-1} across a cut), so the last step's loss reaches back k "
              "steps and a loss term inside a stretch only to that stretch's start (left empty, null: full "
              "BPTT through all T). At most seq_len.",
              minimum=1, maximum=2000, nullable=True, group="training"),
    FieldSpec("init", "choice", "orthogonal",
              "Initialisation of W_h: orthogonal scaled to spectral_radius; gaussian N(0, init_scale^2); "
              "identity scaled to spectral_radius (IRNN).",
              choices=("orthogonal", "gaussian", "identity"), group="init"),
    FieldSpec("spectral_radius", "float", 1.0,
              "Spectral radius of W_h for orthogonal and identity init. Each step back multiplies the gradient by "
              "diag(f') W_h^T, so it tends to explode when radius * max|f'| > 1 and to vanish below: the edge is "
              "radius 1 for tanh, relu and linear, 4 for sigmoid (max f' = 1/4).",
              minimum=0.0, maximum=5.0, group="init", applies_to={"init": ["orthogonal", "identity"]}),
    FieldSpec("init_scale", "float", 0.1, "Standard deviation of the gaussian init of W_h.", minimum=0.0,
              maximum=2.0, group="init", applies_to={"init": ["gaussian"]}),
    FieldSpec("forget_bias", "float", 1.0, "Initial forget-gate bias of the LSTM (the common +1 trick).",
              minimum=-5.0, maximum=5.0, group="init", applies_to={"cell": ["lstm"]}),
    FieldSpec("dtype", "choice", "float32", "Floating-point precision of training.",
              choices=("float32", "float64"), group="training"),
    FieldSpec("seed", "int", 0, "Random seed: the same config gives the same numbers.", minimum=0,
              maximum=2**31 - 1, group="training"),
)

FIELD_BY_NAME = {spec.name: spec for spec in FIELDS}


class ConfigError(ValueError):
    """A config value is out of range; ``field`` names it, ``message`` says what is allowed and ``data`` states
    the same facts as plain data (numbers, strings, lists, None), for a program to word them itself (the
    service sends it as the ``ctx`` of its 422). Every key is optional; those that apply:

    - ``minimum``, ``maximum``: the inclusive bounds of a number field; ``integer``: True for an int field
      (whole numbers only), False for a float field;
    - ``allowed``: the list of values a choice field takes;
    - ``nullable``: whether None is allowed (what it means is the field's: full BPTT, the task's default);
    - ``maximum_from`` / ``allowed_from``: in a cross-field rule, the other field whose value set ``maximum``
      / ``allowed``; that field's value is then given under its own name too;
    - ``known``: the field names there are (an unknown field).

    E.g. ``Config(seq_len=100, truncate=500).validate()`` raises ``ConfigError("truncate", "must be in [1,
    seq_len=100] or null (full BPTT)", data)`` with data ``{"minimum": 1, "maximum": 100, "integer": True,
    "nullable": True, "maximum_from": "seq_len", "seq_len": 100}``; ``Config(task="copy", target="last")``
    one for ``target`` with ``{"allowed": ["every"], "allowed_from": "task", "task": "copy", "nullable": True}``.
    """

    def __init__(self, field: str, message: str, data: Mapping[str, Any] | None = None):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
        self.data: dict[str, Any] = dict(data or {})


def _allowed(spec: FieldSpec) -> dict[str, Any]:
    """What ``spec`` allows, as :class:`ConfigError` ``data``."""
    if spec.kind == "choice":
        return {"allowed": list(spec.choices), "nullable": spec.nullable}
    return {"minimum": spec.minimum, "maximum": spec.maximum, "integer": spec.kind == "int",
            "nullable": spec.nullable}


def _plain(kind: str, value: Any) -> Any:
    """``value`` as a plain Python scalar when it is a NumPy (or other :mod:`numbers`) scalar of the field's
    kind: an integer for an int field -> int; a real number for a float field -> float; a str subclass
    (np.str_) for a choice field -> str. Anything else is returned unchanged for :meth:`Config.validate` to
    reject: bools (np.bool_ is not a number), floats for int fields even when integral, strings for numbers."""
    if type(value) in _PLAIN.get(kind, ()) or isinstance(value, bool):
        return value
    if kind == "int":
        return int(value) if isinstance(value, numbers.Integral) else value
    if kind == "float":
        if isinstance(value, numbers.Real):
            try:
                return float(value)
            except (OverflowError, ValueError):  # an int beyond float range: validate() reports the range
                return value
        return value
    return str(value) if isinstance(value, str) else value


@dataclass(frozen=True)
class Config:
    cell: str = "rnn"
    activation: str = "tanh"
    hidden_size: int = 64
    task: str = "adding"
    seq_len: int = 100
    num_classes: int = 4
    target: str | None = None
    batch_size: int = 32
    steps: int = 500
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    momentum: float = 0.9
    clip: str = "norm"
    clip_threshold: float = 1.0
    truncate: int | None = None
    init: str = "orthogonal"
    spectral_radius: float = 1.0
    init_scale: float = 0.1
    forget_bias: float = 1.0
    dtype: str = "float32"
    seed: int = 0

    def __post_init__(self):
        """Plain scalars only (see the class docstring); no checks, those are :meth:`validate`'s."""
        for name, kind in _KINDS:
            value = getattr(self, name)
            plain = _plain(kind, value)
            if plain is not value:
                object.__setattr__(self, name, plain)

    @property
    def target_mode(self) -> str:
        """The effective target mode: the user's choice or the task's default."""
        return self.target or TASK_TARGETS[self.task][0]

    def replace(self, **changes) -> Config:
        return replace(self, **changes)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> Config:
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise ConfigError(sorted(unknown)[0], f"unknown field; known: {', '.join(FIELD_BY_NAME)}",
                              {"known": list(FIELD_BY_NAME)})
        return cls(**data)

    def validate(self) -> Config:
        """Check every field against :data:`FIELDS` and the cross-field rules; return self, or raise the first
        of :meth:`problems` (a ConfigError)."""
        problems = self.problems()
        if problems:
            raise problems[0]
        return self

    def problems(self) -> list[ConfigError]:
        """Every problem at once, as ConfigErrors in :data:`FIELDS` order, then the cross-field rules (a rule
        whose fields have a problem of their own is not checked): [] for a valid config."""
        found = [problem for spec in FIELDS if (problem := _field_problem(spec, getattr(self, spec.name)))]
        bad = {problem.field for problem in found}
        if not bad & {"task", "target"} and self.target is not None and self.target not in TASK_TARGETS[self.task]:
            allowed = TASK_TARGETS[self.task]
            found.append(ConfigError("target", f"task {self.task} allows target in {{{', '.join(allowed)}}}",
                                     {"allowed": list(allowed), "allowed_from": "task", "task": self.task,
                                      "nullable": FIELD_BY_NAME["target"].nullable}))
        if not bad & {"truncate", "seq_len"} and self.truncate is not None and self.truncate > self.seq_len:
            found.append(ConfigError("truncate", f"must be in [1, seq_len={self.seq_len}] or null (full BPTT)",
                                     {**_allowed(FIELD_BY_NAME["truncate"]), "maximum": self.seq_len,
                                      "maximum_from": "seq_len", "seq_len": self.seq_len}))
        return found


def _field_problem(spec: FieldSpec, value: Any) -> ConfigError | None:
    """What is wrong with one field's value on its own (type, bounds, choices), or None."""
    if value is None:
        return None if spec.nullable else ConfigError(spec.name, "must not be null", _allowed(spec))
    if spec.kind == "choice":
        return None if value in spec.choices else \
            ConfigError(spec.name, f"must be one of {', '.join(spec.choices)}", _allowed(spec))
    if spec.kind == "int" and (isinstance(value, bool) or not isinstance(value, int)):
        hint = "; convert a whole-number float with int()" if isinstance(value, float) and value.is_integer() else ""
        return ConfigError(spec.name, f"must be an integer (int or NumPy integer), got {_described(value)}" + hint,
                           _allowed(spec))
    if spec.kind == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return ConfigError(spec.name, f"must be a number (int, float or NumPy number), got {_described(value)}",
                           _allowed(spec))
    if not (spec.minimum <= value <= spec.maximum):
        return ConfigError(spec.name, f"must be in [{spec.minimum}, {spec.maximum}], got {value}", _allowed(spec))
    return None


_KINDS = tuple((spec.name, spec.kind) for spec in FIELDS)
_PLAIN = {"int": (int, type(None)), "float": (float, type(None)), "choice": (str, type(None))}  # kept as they are


def _described(value: Any) -> str:
    """e.g. "bool True", "float64 10.0", "str '10'": what was passed, for error messages."""
    return f"{type(value).__name__} {repr(value) if isinstance(value, str) else value}"


def require_config(config: Any, caller: str) -> Config:
    """``config`` if it is a :class:`Config`, else a TypeError that says how to build one."""
    if isinstance(config, Config):
        return config
    if isinstance(config, Mapping):
        hint = "build one from a dict with Config(**d) (or Config.from_dict(d), which names an unknown key)"
    else:
        hint = "build one with Config(field=value, ...)"
    raise TypeError(f"{caller}() expects an rnncore.Config, got {type(config).__name__}; {hint}")


def _range(spec: FieldSpec) -> str:
    if spec.kind == "choice":
        text = "{" + ", ".join(repr(c) for c in spec.choices) + "}"
    else:
        text = f"{spec.kind} in [{spec.minimum}, {spec.maximum}]"
    return text + (" or None" if spec.nullable else "")


def _config_doc() -> str:
    """The Config docstring, built from :data:`FIELDS` (the single source of every field's contract)."""
    rules = ("Cross-field rules (checked by validate()): ``target`` must be one the task allows ("
             + "; ".join(f"{task}: {', '.join(targets)}" for task, targets in TASK_TARGETS.items())
             + "), ``truncate`` must be <= ``seq_len``.")
    lines = [
        "Run configuration: a frozen (hashable) dataclass; every field has a default.",
        "",
        ">>> cfg = Config(activation=\"sigmoid\", seq_len=200)",
        ">>> cfg.validate()              # raises ConfigError(field, message, data); train, profile, ... call it",
        ">>> cfg.replace(clip=\"none\")    # a modified copy",
        ">>> d = cfg.to_dict()               # a plain dict of every field",
        ">>> Config(**d) == Config.from_dict(d) == cfg   # from_dict names an unknown key",
        "True",
        "",
        "Values in Python (the JSON API is stricter: only JSON numbers of the field's kind):",
        "",
        "- int fields take an int or a NumPy integer (np.int64(3), the items of np.arange(...)). Floats are",
        "  rejected, even whole-number ones like 10.0 or np.float64(10.0) (convert with int()); bools too.",
        "- float fields take an int, a float or a NumPy integer/floating scalar; bools are rejected.",
        "- choice fields take one of the listed strings (np.str_ too); null in a description means None.",
        "- The constructor converts NumPy scalars to plain int/float/str, and ints in float fields to float,",
        "  so a Config compares, hashes and serialises (to_dict(), json.dumps) as plain values. It does not",
        "  check anything: types, ranges and the cross-field rules are checked by validate().",
        "",
        *textwrap.wrap(rules, 104),
        "",
        "Fields",
        "------",
    ]
    for spec in FIELDS:
        lines.append(f"{spec.name} : {_range(spec)}, default {spec.default!r}")
        text = spec.description
        if spec.applies_to:
            text += " Used only when " + " and ".join(
                f"{key} is {' or '.join(map(str, values))}" for key, values in spec.applies_to.items()) + "."
        lines.extend(textwrap.wrap(text, 100, initial_indent="    ", subsequent_indent="    "))
    return "\n".join(lines) + "\n"


Config.__doc__ = _config_doc()
