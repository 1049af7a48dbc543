"""rnncore: a small NumPy engine that trains RNNs with exact BPTT and measures ||dL/dh_t|| per timestep.

NumPy only: no web, no plotting. See README.md ("Python API") for a notebook walkthrough.
"""
from .config import FIELDS, Config, ConfigError, FieldSpec
from .records import StepRecord, TaskInfo, TimestepArrays

__all__ = ["FIELDS", "Config", "ConfigError", "FieldSpec", "StepRecord", "TaskInfo", "TimestepArrays"]
__version__ = "0.1.0"
