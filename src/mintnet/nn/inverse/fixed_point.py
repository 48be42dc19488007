"""The paper's Algorithm 1: fixed-point inversion of a map with a triangular Jacobian."""

from collections.abc import Callable

import torch
from torch import Tensor

from mintnet.nn.inverse.report import InversionReport
from mintnet.nn.inverse.settings import InverseSettings

__all__ = ["ValueAndDiagonal", "fixed_point_solve", "largest_residual"]

ValueAndDiagonal = Callable[[Tensor], tuple[Tensor, Tensor]]
"""``x -> (f(x), diag J_f(x))``, both shaped like ``x``."""


def largest_residual(fx: Tensor, z: Tensor) -> Tensor:
    """``max |f(x) - z|`` of each sample: ``(B, ...) -> (B,)``."""
    return (fx - z).abs().flatten(1).amax(dim=1)  # (B,)


@torch.no_grad()
def fixed_point_solve(
    fn: ValueAndDiagonal,
    z: Tensor,
    x0: Tensor,
    settings: InverseSettings,
    tol: float,
    name: str = "",
    budget: Tensor | None = None,
) -> tuple[Tensor, InversionReport]:
    r"""Solve :math:`f(x) = z` for a map whose Jacobian is triangular with a positive diagonal.

    .. math:: x_t = x_{t-1} - \alpha \, \mathrm{diag}(J_f(x_{t-1}))^{-1} (f(x_{t-1}) - z)

    At the solution :math:`x^*` the iteration's Jacobian is triangular with every diagonal entry equal
    to :math:`1 - \alpha`, so it converges locally and linearly for :math:`0 < \alpha < 2`
    (Theorem 2 of Song, Meng & Ermon, "MintNet", NeurIPS 2019, arXiv:1907.07945).

    All elements update in parallel; each sample stops once :math:`\max |f(x) - z| \le` ``tol``,
    and only moving samples are evaluated, so ``fn`` must treat samples independently.

    ``settings`` gives ``alpha`` and ``max_iter``; ``budget`` ``(B,)`` caps each sample's updates
    below ``max_iter``. Returns ``x`` and an :class:`InversionReport`, neither warning nor raising.
    """
    alpha, max_iter = settings.alpha, settings.max_iter
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
    return x, InversionReport(name, iterations, evaluations / max(batch, 1), residual, tol)
