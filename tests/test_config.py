import pytest

from rnncore.config import FIELDS, Config, ConfigError


def test_defaults_match_field_specs_and_validate():
    cfg = Config().validate()
    for spec in FIELDS:
        assert getattr(cfg, spec.name) == spec.default, spec.name


@pytest.mark.parametrize(("field", "value"), [("seq_len", 1), ("seq_len", 2001), ("hidden_size", 0),
                                               ("activation", "swish"), ("learning_rate", 0.0), ("steps", 1.5)])
def test_out_of_range_names_the_field(field, value):
    with pytest.raises(ConfigError) as err:
        Config(**{field: value}).validate()
    assert err.value.field == field


def test_target_must_suit_the_task():
    with pytest.raises(ConfigError, match="target"):
        Config(task="copy", target="last").validate()
    assert Config(task="copy").target_mode == "every"
    assert Config(task="adding", target="every").validate().target_mode == "every"
