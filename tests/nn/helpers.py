"""Helpers for the backbone tests: perturbed parameters and autograd Jacobians."""

import torch
from torch import Tensor


def perturb(module: torch.nn.Module, scale: float) -> torch.nn.Module:
    """Add N(0, scale^2) noise of all signs to every parameter, away from the initialisation."""
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn_like(p))
    return module


def jacobians(fn, x: Tensor) -> Tensor:
    """Per-sample Jacobians of ``fn`` (samples independent), shape ``(B, D_out, D_in)``."""
    b, d_in = x.shape[0], x[0].numel()
    jac = torch.autograd.functional.jacobian(lambda a: fn(a).sum(0), x)  # (*out, B, *in)
    return jac.reshape(-1, b, d_in).permute(1, 0, 2)
