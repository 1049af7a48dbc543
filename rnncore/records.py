"""What the training generator yields: one :class:`StepRecord` per training step.

Scalars are recorded every step. The per-timestep arrays (length L, the sequence length
:func:`rnncore.tasks.sequence_length`: seq_len, or seq_len + 20 for ``copy``, whose 10 symbols and 10 answer
steps surround the T blanks; index t = 0..L-1, where t = L-1 is the last timestep) are filled only on steps
where the caller asked for them (``record_every``) and are ``None`` otherwise.

Magnitudes that span hundreds of orders of magnitude are reported as log10 and computed exactly on that
scale (a rescaled copy plus an exponent while propagating), so a true 1e-600 is reported as -600.0,
never as 0 or -inf. ``-inf`` appears only where the true value is exactly zero (e.g. timesteps that
truncated BPTT does not reach), or where the forward pass itself, in the run's dtype, made a derivative 0: a
unit saturated beyond what the dtype resolves (tanh at |a| > ~52 or a sigmoid gate at a > ~104 in float32,
whose f'(a) underflows) passes exactly no gradient in the network being trained, so its delta_t and what it
feeds are 0 there. That happens only at huge pre-activations, i.e. in runs on their way to diverging. The
service sends -inf as JSON ``null``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class TimestepArrays:
    """Per-timestep diagnostics of one forward/backward pass, each of shape (L,) (L: the sequence length, above)."""

    log10_grad_norm_per_step: np.ndarray
    """log10 ||dL/dh_t||_F over batch and units: the total gradient reaching hidden state t."""
    log10_weight_grad_per_step: np.ndarray
    """log10 ||h_{t-1}^T delta_t||_F: timestep t's contribution to the recurrent weight gradient."""
    log10_input_weight_grad_per_step: np.ndarray
    """log10 ||x_t^T delta_t||_F: timestep t's contribution to the input weight gradient dL/dW_x, which the
    same delta_t carries, so it decays back in time like the recurrent one."""
    log10_input_grad_per_step: np.ndarray
    """log10 ||dL/dx_t||_F: how much input position t matters (saliency)."""
    log10_bound_per_step: np.ndarray | None
    """Upper bound on log10 ||dL/dh_t|| from ||diag(f') W_h^T|| <= gamma sigma_max (Pascanu et al. 2013): with
    the loss at the last step, log10 ||dL/dh_{T-1}|| + (T-1-t) log10(gamma * sigma_max); with a term at every
    step, log10 of sum_{k >= t} ||dL_k/dh_k|| (gamma sigma_max)^(k-t) (:func:`rnncore.trainer.pascanu_bound`).
    Vanilla RNN only (None for LSTM/GRU: a step back through them is not a product of diag(f') W_h)."""
    dtype_underflow_steps: int = 0
    """How many leading timesteps have a true ||dL/dh_t|| below the run dtype's smallest normal number
    (where a plain, unrescaled backward pass in that dtype would flush to zero)."""
    log10_cell_grad_norm_per_step: np.ndarray | None = None
    """LSTM only: log10 ||dL/dc_t||."""
    gate_mean_per_step: np.ndarray | None = None
    """LSTM: mean forget gate f_t; GRU: mean update gate z_t; None for the vanilla RNN."""
    input_saliency: np.ndarray | None = None
    """log10 ||dL/dx_t|| for the first example of the batch only (shape (T,)): what one sequence uses."""


@dataclass
class StepRecord:
    step: int  # 0-based index of the training step
    loss: float
    metric: float  # the task metric (TaskInfo.metric_name), on this step's batch
    grad_norm: float  # global ||g|| over all parameters, before clipping
    grad_norm_clipped: float  # after clipping (== grad_norm when clipping did not fire)
    clipped: bool
    sigma_max: float  # largest singular value of W_h (of the recurrent block for LSTM/GRU)
    # max |eigenvalue| of W_h on the array steps where it was computed (at most once per trainer.spectral_every
    # steps, always step 0 and the last); None on the others
    spectral_radius: float | None
    gamma: float | None  # max |f'| of the activation: 1/4 sigmoid, 1 otherwise; None for LSTM/GRU (no bound)
    arrays: TimestepArrays | None = None


@dataclass
class TaskInfo:
    """Facts about a task for a given config, for plotting baselines."""

    name: str
    input_size: int
    output_size: int
    loss_name: str  # "mse" | "cross_entropy"
    metric_name: str  # "mse" | "accuracy"
    chance_loss: float  # the loss of the best memoryless predictor
    chance_metric: float  # the metric of chance / the best memoryless predictor
    target_mode: str  # "last" | "every"
    extra: dict = field(default_factory=dict)
