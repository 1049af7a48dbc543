"""Name lanes by what differs between them: ["sigmoid", "relu"], ["clip 1.0", "no clip"], ["T=50", "T=200"].

Lane A is the reference, as in the lane editor ("B = A but ..."): it names every field in which any
lanes differ, each later lane only the fields in which it differs from A, so four lanes that vary
different settings keep short labels:

>>> lane_labels([{"activation": "sigmoid"}, {"activation": "relu"}])
['sigmoid', 'relu']
>>> lane_labels([{}, {"cell": "lstm"}, {"activation": "relu", "clip": "none"}])
['RNN, tanh, clip 1.0', 'LSTM', 'relu, no clip']

These are the only lane labels: the page takes them from the API (``POST /api/labels``, the run's
``run`` event), with :func:`shared_settings`, what the labels leave out because every lane has it:

>>> shared_settings([{"activation": "sigmoid"}, {"activation": "relu"}])  # doctest: +ELLIPSIS
'RNN, adding, T=100, target last, full BPTT, orthogonal init, radius 1, H=64, norm clip 1.0, Adam, ...'
"""
from __future__ import annotations

from app.schemas import LANE_NAMES
from rnncore.config import FIELD_BY_NAME, Config
from rnncore.tasks import truncation_cuts


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _clip_part(cfg: Config, name_kind: bool) -> str:
    if cfg.clip == "none":
        return "no clip"
    threshold = f"{cfg.clip_threshold:g}"
    threshold += "" if any(c in threshold for c in ".e") else ".0"  # 1 -> "1.0": reads as a threshold
    return f"{cfg.clip.replace('_', '-')} clip {threshold}" if name_kind else f"clip {threshold}"


_FORMAT = {
    "cell": lambda v: v.upper(),
    "activation": str,
    "seq_len": lambda v: f"T={v}",
    "hidden_size": lambda v: f"H={v}",
    "truncate": lambda v: "full BPTT" if v is None else f"TBPTT k={v}",
    "spectral_radius": lambda v: f"radius {_number(v)}",
    "init_scale": lambda v: f"init scale {_number(v)}",
    "learning_rate": lambda v: f"lr {_number(v)}",
    "batch_size": lambda v: f"batch {v}",
    "steps": lambda v: f"{v} step" if v == 1 else f"{v} steps",
    "target": lambda v: f"target {v}",  # the effective mode (:func:`_setting`)
    "seed": lambda v: f"seed {v}",
    "num_classes": lambda v: f"{v} classes",
    "forget_bias": lambda v: f"forget bias {_number(v)}",
    "momentum": lambda v: f"momentum {_number(v)}",
    "init": lambda v: f"{v} init",
    "task": lambda v: v.replace("_", " "),
    "optimizer": lambda v: {"sgd": "SGD", "momentum": "SGD+momentum", "adam": "Adam"}[v],
    "dtype": str,
}
"""Every field but clip/clip_threshold (one part, :func:`_clip_part`): a test holds that none is missing."""


def _setting(cfg: Config, name: str):
    """The value a lane runs with: for ``target``, the effective mode (null is the task's own target, so
    {"target": "last"} and {} on the adding task are the same run)."""
    return cfg.target_mode if name == "target" else getattr(cfg, name)


def lane_labels(lanes: list[dict]) -> list[str]:
    """One short label per lane (partial or full config dicts), naming only the fields that differ:
    lane A all of them, each other lane those in which it differs from A (module docstring)."""
    configs = [Config(**lane) for lane in lanes]
    if len(configs) == 1:
        cfg = configs[0]
        kind = cfg.activation if cfg.cell == "rnn" else cfg.cell.upper()
        return [f"{kind}, T={cfg.seq_len}"]
    specs, reference = FIELD_BY_NAME, configs[0]

    # A field without effect on a lane (an LSTM's activation, the threshold of "no clip") is not part of
    # that lane's settings: it neither makes lanes differ nor appears in the lane's label.
    # A target that only follows the task (copy: every, adding: last, none chosen) is named by the task.
    differing = [name for name, spec in specs.items()
                 if len({repr(_setting(cfg, name)) for cfg in configs if spec.applies(cfg)}) > 1
                 and (name != "target" or any(cfg.target is not None for cfg in configs))]

    def differs_from_reference(cfg: Config, name: str) -> bool:
        return specs[name].applies(cfg) and (not specs[name].applies(reference)
                                             or repr(_setting(cfg, name)) != repr(_setting(reference, name)))

    # "clip 1.0" alone means norm clipping (as in every preset): any other kind is named, also beside
    # "no clip" (["per-timestep clip 1.0", "no clip"], not ["clip 1.0", "no clip"])
    clip_kinds = {cfg.clip for cfg in configs if cfg.clip != "none"}
    name_clip_kind = bool(clip_kinds) and clip_kinds != {"norm"}

    def parts(cfg: Config, names: list[str]) -> str:
        out = []
        for name in (n for n in names if specs[n].applies(cfg)):
            if name == "clip_threshold" and "clip" in names:
                continue  # already in the clip part
            if name in ("clip", "clip_threshold"):
                out.append(_clip_part(cfg, name_clip_kind))
            elif name == "truncate" and cfg.truncate is not None and not truncation_cuts(cfg):
                out.append(f"TBPTT k={cfg.truncate} (= full BPTT)")  # k >= T: no cut falls inside the sequence
            else:
                out.append(_FORMAT[name](_setting(cfg, name)))
        return ", ".join(out)

    labels = [parts(reference, differing)]
    for cfg in configs[1:]:
        own = [n for n in differing if differs_from_reference(cfg, n)]
        labels.append(parts(cfg, own) or parts(cfg, differing))  # a lane equal to A on all: its full label
    if not differing or len(set(labels)) < len(labels):
        labels = [f"lane {LANE_NAMES[i]}" + (f" ({label})" if label else "") for i, label in enumerate(labels)]
    return labels


SHARED_ORDER = ("cell", "activation", "task", "num_classes", "seq_len", "target", "truncate", "init", "spectral_radius",
                "init_scale", "forget_bias", "hidden_size", "clip", "optimizer", "momentum", "learning_rate",
                "batch_size", "steps", "dtype")
"""The settings :func:`shared_settings` names, in the order that matters for the gradient's flow (the seed
left out: lanes differ in it only to repeat a run)."""


def shared_settings(lanes: list[dict]) -> str:
    """The settings every lane has, in :data:`SHARED_ORDER`: what the lane labels leave out (norm clipping,
    on by default, among them). A field counts when it has an effect on every lane and one value in all."""
    configs = [Config(**lane) for lane in lanes]
    out = []
    for name in SHARED_ORDER:
        if not all(FIELD_BY_NAME[name].applies(cfg) for cfg in configs):
            continue
        if name == "clip":  # with its threshold, and its kind named: "norm clip 1.0", "no clip"
            if len({(cfg.clip, cfg.clip_threshold if cfg.clip != "none" else None) for cfg in configs}) == 1:
                out.append(_clip_part(configs[0], True))
        elif len({repr(_setting(cfg, name)) for cfg in configs}) == 1:
            out.append(_FORMAT[name](_setting(configs[0], name)))
    return ", ".join(out)
