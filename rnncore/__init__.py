"""rnncore: a small NumPy engine that trains RNNs with exact BPTT and measures ||dL/dh_t|| per timestep.

NumPy only: no web, no plotting. See README.md ("Python API") for a notebook walkthrough.

>>> from rnncore import Config, train, profile, gradcheck, task_info
>>> trainer = train(Config(activation="sigmoid", seq_len=200), record_every=10)
>>> first = next(trainer); first.arrays.log10_grad_norm_per_step   # (T,) exact log10 ||dL/dh_t||
"""
import functools as _functools

from . import fdcheck as _fdcheck
from .config import FIELDS, Config, ConfigError, FieldSpec
from .config import require_config as _require_config
from .fdcheck import GRADCHECK_CAPS, GRADCHECK_TOLERANCE, GradcheckReport, ParamCheck
from .records import StepRecord, TaskInfo, TimestepArrays
from .trainer import Trainer, profile, task_info, train


def _takes_a_config(fn):
    """``fn`` with a TypeError (how to build a Config) when its first argument is not a Config."""
    @_functools.wraps(fn)
    def checked(config, *args, **kwargs):
        return fn(_require_config(config, fn.__name__), *args, **kwargs)
    checked.__module__ = __name__  # pickles as rnncore.<name>, i.e. this wrapper
    return checked


gradcheck = _takes_a_config(_fdcheck.gradcheck)
gradcheck_report = _takes_a_config(_fdcheck.gradcheck_report)
gradcheck_config = _takes_a_config(_fdcheck.gradcheck_config)

__all__ = ["FIELDS", "GRADCHECK_CAPS", "GRADCHECK_TOLERANCE", "Config", "ConfigError", "FieldSpec", "GradcheckReport",
           "ParamCheck", "StepRecord", "TaskInfo", "TimestepArrays", "Trainer", "gradcheck", "gradcheck_config",
           "gradcheck_report", "profile", "task_info", "train"]
__version__ = "0.1.0"
