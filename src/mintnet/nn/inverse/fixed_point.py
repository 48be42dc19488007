"""The paper's Algorithm 1: fixed-point inversion of a map with a triangular Jacobian."""

from collections.abc import Callable

import torch
from torch import Tensor

from mintnet.nn.inverse.settings import (
    InversionReport,
    OnFail,
    check_inversion_settings,
    default_tol,
    finish,
)

__all__ = ["ValueAndDiagonal", "fixed_point_inverse", "largest_residual", "start_tolerance"]

ValueAndDiagonal = Callable[[Tensor], tuple[Tensor, Tensor]]
"""``x -> (f(x), diag J_f(x))``, both shaped like ``x``."""


def largest_residual(fx: Tensor, z: Tensor) -> Tensor:
    """``max |f(x) - z|`` of each sample: ``(B, ...) -> (B,)``."""
    return (fx - z).abs().flatten(1).amax(dim=1)  # (B,)


def start_tolerance(z: Tensor, x0: Tensor, tol: float | None) -> float:
    """Check that ``x0`` is shaped like ``z``; return ``tol`` or the dtype's default."""
    if x0.shape != z.shape:
        raise ValueError(f"x0 must have the shape of z {tuple(z.shape)}, got {tuple(x0.shape)}")
    return default_tol(z.dtype) if tol is None else tol


@torch.no_grad()
def fixed_point_inverse(
    fn: ValueAndDiagonal,
    z: Tensor,
    x0: Tensor,
    *,
    alpha: float = 1.0,
    max_iter: int = 100,
    tol: float | None = None,
    on_fail: OnFail = "warn",
    name: str = "",
    budget: Tensor | None = None,
) -> tuple[Tensor, InversionReport]:
    r"""Solve :math:`f(x) = z` for a map whose Jacobian is triangular with a positive diagonal.

    .. math:: x_t = x_{t-1} - \alpha \, \mathrm{diag}(J_f(x_{t-1}))^{-1} (f(x_{t-1}) - z)

    At the solution :math:`x^*` the iteration's Jacobian is triangular with every diagonal entry equal
    to :math:`1 - \alpha`, so it converges locally and linearly for :math:`0 < \alpha < 2`
    (Theorem 2 of Song, Meng & Ermon, "MintNet", NeurIPS 2019, arXiv:1907.07945).

    All elements update in parallel. Each sample stops as soon as its largest residual
    :math:`\max |f(x) - z|` is at most ``tol``; only the samples still moving are evaluated, so ``fn``
    must treat samples independently (true of convolutions and eval-mode batch norm).

    Arguments: ``fn`` (:data:`ValueAndDiagonal`); the target ``z`` ``(B, ...)``; the start ``x0``
    shaped like it (MintNet uses ``z / t``); the step size ``alpha`` in ``(0, 2)``; ``max_iter``,
    the most updates any sample gets; ``tol`` on each sample's largest residual (``None``:
    ``DEFAULT_TOL[dtype]``); ``on_fail``, ``"warn"`` (an :class:`InversionWarning`) or
    ``"raise"`` (an :class:`InversionError`) when a sample ends above ``tol``; ``name``, for the
    report; ``budget`` ``(B,)``, each sample's most updates (at most ``max_iter``; ``None``: all
    ``max_iter``). Returns ``x`` shaped like ``z`` and an :class:`InversionReport`.
    """
    check_inversion_settings(alpha, max_iter, tol, on_fail)
    tol = start_tolerance(z, x0, tol)
    batch, x = z.shape[0], x0.clone()
    residual = torch.zeros(batch, dtype=z.dtype, device=z.device)
    active = torch.arange(batch, device=z.device)  # samples still iterating
    x_act, z_act, limit = x, z, None if budget is None else budget.to(z.device)
    iterations, evaluations = 0, 0
    while True:
        fx, diag = fn(x_act)
        evaluations += x_act.shape[0]
        res = largest_residual(fx, z_act)
        moving = ~(res <= tol)  # NaN counts as moving, so a diverged sample is never "done"
        moving = moving if limit is None else moving & (limit > iterations)
        if iterations == max_iter or not bool(moving.any()):  # the one host sync per iteration
            residual[active] = res
            x[active] = x_act
            break
        if not bool(moving.all()):  # retire the converged samples, keep iterating the others
            done = ~moving
            residual[active[done]] = res[done]
            x[active[done]] = x_act[done]
            active, x_act, z_act = active[moving], x_act[moving], z_act[moving]
            fx, diag = fx[moving], diag[moving]
            limit = None if limit is None else limit[moving]
        x_act = x_act - alpha * (fx - z_act) / diag
        iterations += 1
    report = InversionReport(name, iterations, evaluations / max(batch, 1), residual, tol)
    return x, finish(report, on_fail)
