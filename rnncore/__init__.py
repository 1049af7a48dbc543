"""rnncore: a small NumPy engine that trains RNNs with exact BPTT and measures ||dL/dh_t|| per timestep.

NumPy only: no web, no plotting. See README.md ("Python API") for a notebook walkthrough.

>>> from rnncore import Config, train, profile, gradcheck, task_info
>>> trainer = train(Config(activation="sigmoid", seq_len=200), record_every=10)
>>> first = next(trainer); first.arrays.log10_grad_norm_per_step   # (T,) exact log10 ||dL/dh_t||
"""
from .config import FIELDS, Config, ConfigError, FieldSpec
from .fdcheck import (
    GRADCHECK_CAPS,
    GRADCHECK_TOLERANCE,
    GradcheckReport,
    ParamCheck,
    gradcheck,
    gradcheck_config,
    gradcheck_report,
)
from .records import StepRecord, TaskInfo, TimestepArrays
from .trainer import Trainer, profile, task_info, train

__all__ = ["FIELDS", "GRADCHECK_CAPS", "GRADCHECK_TOLERANCE", "Config", "ConfigError", "FieldSpec", "GradcheckReport",
           "ParamCheck", "StepRecord", "TaskInfo", "TimestepArrays", "Trainer", "gradcheck", "gradcheck_config",
           "gradcheck_report", "profile", "task_info", "train"]
__version__ = "0.1.0"
