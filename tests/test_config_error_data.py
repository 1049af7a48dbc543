"""rnncore's ConfigError carries what its message says as plain data (``data``), so that a program (the
service's 422 ``ctx``, the page) need not parse the English: the bounds, the allowed values, and for a
cross-field rule the other field and its value."""
from __future__ import annotations

import json

import pytest

from rnncore import Config, ConfigError
from rnncore.config import FIELD_BY_NAME, TASK_TARGETS


def _error(config: Config) -> ConfigError:
    with pytest.raises(ConfigError) as err:
        config.validate()
    return err.value


def test_cross_field_rules_carry_their_facts_as_data():
    truncate = _error(Config(seq_len=100, truncate=500))
    assert truncate.field == "truncate"
    assert truncate.message == "must be in [1, seq_len=100] or null (full BPTT)"  # the message as it was
    assert truncate.data == {"minimum": 1, "maximum": 100, "integer": True, "nullable": True,
                             "maximum_from": "seq_len", "seq_len": 100}
    target = _error(Config(task="copy", target="last"))
    assert target.field == "target" and target.message == "task copy allows target in {every}"
    assert target.data == {"allowed": ["every"], "allowed_from": "task", "task": "copy", "nullable": True}
    assert _error(Config(task="temporal_order", target="every")).data["allowed"] == list(TASK_TARGETS["temporal_order"])


def test_single_field_errors_carry_the_fields_bounds_and_all_data_is_plain():
    seq_len = FIELD_BY_NAME["seq_len"]
    assert _error(Config(seq_len=1)).data == {"minimum": seq_len.minimum, "maximum": seq_len.maximum,
                                              "integer": True, "nullable": False}
    assert _error(Config(cell="cnn")).data == {"allowed": ["rnn", "lstm", "gru"], "nullable": False}
    assert _error(Config(learning_rate=True)).data["integer"] is False
    with pytest.raises(ConfigError) as err:
        Config.from_dict({"seq_lne": 10})
    assert err.value.data == {"known": list(FIELD_BY_NAME)}
    # JSON as it is (no NumPy scalars, no tuples turned into something else); a message alone gives {}
    for error in (_error(Config(seq_len=100, truncate=500)), _error(Config(task="copy", target="last"))):
        assert json.loads(json.dumps(error.data)) == error.data
    assert ConfigError("seed", "must be in range").data == {}
