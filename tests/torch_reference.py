"""Shared pieces of the PyTorch references the engine's gradients are checked against (float64).

torch is imported inside the functions: the test modules skip themselves with
``pytest.importorskip("torch")`` before anything here runs."""
import numpy as np


def as_t(a):
    """A float64 torch tensor of an array (a copy, so autograd never touches the engine's parameters)."""
    import torch

    return torch.tensor(np.asarray(a), dtype=torch.float64)


def readout_loss(model, batch, states, W_o, c):
    """The engine's loss in torch: y_t = h_t W_o + c at every timestep (target "every") or the last one,
    then MSE summed over outputs and averaged over rows, or the mean softmax cross-entropy.

    states: list of (B, H) tensors, one per timestep; W_o (H, O), c (O,)."""
    import torch

    every = model.config.target_mode == "every"
    y = ((torch.stack(states) if every else states[-1]) @ W_o + c).reshape(-1, W_o.shape[-1])
    if model.info.loss_name == "mse":
        return ((y - as_t(batch.targets).reshape(y.shape)) ** 2).sum() / y.shape[0]
    return torch.nn.functional.cross_entropy(y, torch.tensor(batch.targets.reshape(-1)), reduction="mean")
