"""What the Python API accepts from a notebook: NumPy scalars, the argument types of train/profile/gradcheck/...,
record_every, and the per-field documentation of Config (help(Config), Config? in Jupyter)."""
from __future__ import annotations

import json
import pickle
import pydoc

import numpy as np
import pytest
from fastapi.testclient import TestClient

import rnncore
from app.main import create_app
from app.settings import Settings
from rnncore import (
    Config,
    ConfigError,
    Trainer,
    gradcheck,
    gradcheck_config,
    gradcheck_report,
    profile,
    task_info,
    train,
)
from rnncore.config import FIELDS

INT_FIELDS = [spec for spec in FIELDS if spec.kind == "int"]
FLOAT_FIELDS = [spec for spec in FIELDS if spec.kind == "float"]
SMALL = {"seq_len": 8, "hidden_size": 4, "batch_size": 2, "steps": 5}


def _valid(spec):
    """A valid non-default value for the field (in range, and truncate <= seq_len)."""
    return 3 if spec.name != "truncate" else 2


# --- 1. NumPy scalars --------------------------------------------------------------------------------------

@pytest.mark.parametrize("np_type", [np.int8, np.int32, np.int64, np.uint16, np.uint64])
@pytest.mark.parametrize("spec", INT_FIELDS, ids=lambda s: s.name)
def test_numpy_integers_are_accepted_for_int_fields_as_plain_ints(spec, np_type):
    value = _valid(spec)
    cfg = Config(**{spec.name: np_type(value)})
    assert type(getattr(cfg, spec.name)) is int
    assert cfg.validate() == Config(**{spec.name: value})
    assert hash(cfg) == hash(Config(**{spec.name: value}))
    assert type(cfg.to_dict()[spec.name]) is int
    json.dumps(cfg.to_dict())  # np.int64 is not JSON serialisable: this would raise


@pytest.mark.parametrize("np_type", [np.float16, np.float32, np.float64, np.int64])
@pytest.mark.parametrize("spec", FLOAT_FIELDS, ids=lambda s: s.name)
def test_numpy_numbers_are_accepted_for_float_fields_as_plain_floats(spec, np_type):
    value = np_type(0.5) if np_type is not np.int64 else np_type(1 if spec.minimum <= 1 <= spec.maximum else 0)
    cfg = Config(**{spec.name: value}).validate()
    assert type(getattr(cfg, spec.name)) is float
    assert getattr(cfg, spec.name) == float(value)
    json.dumps(cfg.to_dict())


def test_ints_in_float_fields_become_floats_and_numpy_strings_become_str():
    cfg = Config(learning_rate=1, momentum=0, cell=np.str_("gru"), task=np.array(["copy"])[0])
    assert type(cfg.learning_rate) is float and cfg.learning_rate == 1.0
    assert type(cfg.momentum) is float
    assert type(cfg.cell) is str and type(cfg.task) is str
    assert {type(v) for v in cfg.to_dict().values()} <= {int, float, str, type(None)}
    assert cfg.replace(seed=np.int64(5)).seed.__class__ is int  # replace() normalises too


def test_profile_and_train_take_numpy_integers_and_give_the_same_numbers():
    """The audit's case: profile(Config(seed=np.int64(3))) raised "seed: must be an integer"."""
    plain = profile(Config(seed=3, **SMALL))
    for cfg in (Config(seed=np.int64(3), **SMALL), Config(**{**SMALL, "hidden_size": np.int64(4)}, seed=3)):
        record = profile(cfg)
        assert record.loss == plain.loss and record.grad_norm == plain.grad_norm
    losses = [[r.loss for r in train(Config(**{**SMALL, "seq_len": T}))] for T in np.arange(4, 7)]
    assert losses[0] == [r.loss for r in train(Config(**{**SMALL, "seq_len": 4}))]
    assert task_info(Config(task="recall", num_classes=np.int64(5))).output_size == 5


@pytest.mark.parametrize("value", [True, False, np.bool_(True), 10.0, np.float64(10.0), np.float32(10), 10.5, "10",
                                   [10]], ids=repr)
@pytest.mark.parametrize("spec", INT_FIELDS, ids=lambda s: s.name)
def test_int_fields_reject_bools_floats_even_whole_ones_and_strings(spec, value):
    with pytest.raises(ConfigError) as err:
        Config(**{spec.name: value}).validate()
    assert err.value.field == spec.name
    assert "must be an integer (int or NumPy integer), got " + type(value).__name__ in err.value.message


def test_int_field_message_says_what_was_passed_and_how_to_convert_a_whole_float():
    with pytest.raises(ConfigError, match=r"^seq_len: .*got float 10\.0; convert a whole-number float with int\(\)$"):
        Config(seq_len=10.0).validate()
    with pytest.raises(ConfigError) as err:
        Config(seq_len=10.5).validate()
    assert err.value.message.endswith("got float 10.5")  # no int() hint: 10.5 is not a whole number


@pytest.mark.parametrize("value", [True, np.bool_(False), "0.1", None], ids=repr)
@pytest.mark.parametrize("spec", FLOAT_FIELDS, ids=lambda s: s.name)
def test_float_fields_reject_bools_strings_and_none(spec, value):
    with pytest.raises(ConfigError) as err:
        Config(**{spec.name: value}).validate()
    assert err.value.field == spec.name


def test_numpy_values_out_of_range_are_still_rejected():
    with pytest.raises(ConfigError, match="hidden_size: must be in"):
        Config(hidden_size=np.int64(0)).validate()
    with pytest.raises(ConfigError, match="seed: must be in"):
        Config(seed=np.uint64(2**64 - 1)).validate()
    with pytest.raises(ConfigError, match="learning_rate: must be in"):
        Config(learning_rate=np.float64("nan")).validate()
    with pytest.raises(ConfigError, match="learning_rate: must be in"):
        Config(learning_rate=10**400).validate()  # too large for float(): kept as int, out of range


# --- the JSON API stays strict --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def client():
    with TestClient(create_app(Settings())) as c:
        yield c


@pytest.mark.parametrize("value", [True, 10.5, 10.0, "10"], ids=repr)
@pytest.mark.parametrize("path", ["/api/profile", "/api/gradcheck"])
def test_api_int_fields_stay_strict(client, path, value):
    response = client.post(path, json={"seq_len": value})
    assert response.status_code == 422, response.text
    assert response.json()["message"].startswith("seq_len: Input should be a valid integer"), response.text


@pytest.mark.parametrize("value", [True, "0.01"], ids=repr)
def test_api_float_fields_stay_strict(client, value):
    response = client.post("/api/runs", json={"lanes": [{"learning_rate": value}]})
    assert response.status_code == 422, response.text
    assert response.json()["message"].startswith("lanes[0].learning_rate: ")


# --- 2. arguments that are not a Config ----------------------------------------------------------------------

ENTRY_POINTS = [train, profile, gradcheck, gradcheck_report, gradcheck_config, task_info, Trainer]


@pytest.mark.parametrize("fn", ENTRY_POINTS, ids=lambda f: f.__name__)
def test_a_dict_instead_of_a_config_is_a_type_error_saying_how_to_build_one(fn):
    with pytest.raises(TypeError, match=r"expects an rnncore\.Config, got dict; .*Config\(\*\*d\)"):
        fn({"seq_len": 10})


@pytest.mark.parametrize("fn", ENTRY_POINTS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("value", [None, "adding", 10])
def test_other_non_configs_are_type_errors(fn, value):
    with pytest.raises(TypeError, match=rf"expects an rnncore\.Config, got {type(value).__name__}; "):
        fn(value)


def test_the_message_names_the_function_called():
    for fn, name in [(train, "train"), (profile, "profile"), (gradcheck, "gradcheck"), (task_info, "task_info"),
                     (gradcheck_report, "gradcheck_report")]:
        with pytest.raises(TypeError, match=rf"^{name}\(\) expects"):
            fn({})


def test_gradcheck_functions_are_the_fdcheck_ones_and_check_their_argument_there():
    assert gradcheck is rnncore.fdcheck.gradcheck and gradcheck_report is rnncore.fdcheck.gradcheck_report
    assert pickle.loads(pickle.dumps(gradcheck_report)) is gradcheck_report  # e.g. for a process pool
    for name in ("gradcheck", "gradcheck_report", "gradcheck_config"):
        with pytest.raises(TypeError, match=rf"^{name}\(\) expects an rnncore.Config, got dict"):
            getattr(rnncore.fdcheck, name)({"seq_len": 4})
    small = Config(seq_len=4, hidden_size=2, batch_size=1, dtype="float64")
    assert gradcheck_report(small, tolerance=1e-6).verdict == "passed"


# --- 3. record_every --------------------------------------------------------------------------------------

@pytest.mark.parametrize("value", [2.5, 2.0, np.float64(2.0), True, "2", None], ids=repr)
def test_record_every_must_be_an_integer(value):
    with pytest.raises(TypeError, match=r"^record_every must be a positive integer .*got " + type(value).__name__):
        train(Config(**SMALL), record_every=value)


@pytest.mark.parametrize("value", [0, -1, np.int64(0)], ids=repr)
def test_record_every_must_be_positive(value):
    with pytest.raises(ValueError, match=r"^record_every must be a positive integer \(>= 1\), got "):
        train(Config(**SMALL), record_every=value)


def test_record_every_takes_numpy_integers():
    trainer = train(Config(**SMALL), record_every=np.int64(2))
    assert type(trainer.record_every) is int
    assert [r.step for r in trainer if r.arrays is not None] == [0, 2, 4]


# --- 4. help(Config) documents every field ----------------------------------------------------------------

def _words(text: str) -> str:
    """Whitespace-normalised, without pydoc's " |  " margin."""
    return " ".join(" ".join(line.removeprefix(" |") for line in text.splitlines()).split())


def test_help_config_lists_every_field_with_type_default_range_and_description():
    shown = _words(pydoc.render_doc(Config, renderer=pydoc.plaintext))
    for spec in FIELDS:
        if spec.kind == "choice":
            allowed = "{" + ", ".join(repr(c) for c in spec.choices) + "}"
        else:
            allowed = f"{spec.kind} in [{spec.minimum}, {spec.maximum}]"
        header = f"{spec.name} : {allowed}{' or None' if spec.nullable else ''}, default {spec.default!r}"
        assert header in shown, header
        assert _words(spec.description) in shown, spec.name
    assert "even whole-number ones like 10.0" in shown  # the decision about integral floats is documented


def test_config_doc_is_built_from_fields():
    assert Config.__doc__ == rnncore.config._config_doc()
    assert "Used only when cell is lstm." in _words(Config.__doc__)  # forget_bias's applies_to
