r"""Safeguarded inversion: per-sample damping with backtracking, and Anderson acceleration.

Both solve :math:`f(x) = z` for a map whose Jacobian is triangular with a positive diagonal, with
the step of the paper's Algorithm 1,

.. math:: g_a(x) = x + a\, s(x), \qquad s(x) = \mathrm{diag}(J_f(x))^{-1} (z - f(x)),

and accept a candidate for a sample only where it lowers that sample's largest residual
:math:`\rho(x) = \max |f(x) - z|` (``damped``) or keeps it below ``SLACK`` times the smallest the
sample has reached (``anderson``, its fall-back steps included); each sample returns the best point
it reached. Strict descent is what breaks the cycles of the plain iteration, but on a trained flow
the diagonal step is no descent direction of :math:`\rho` where the off-diagonal coupling is
strong: there the damped solver stalls at its starting residual, and Anderson acceleration needs
the slack (docs/concepts.md).

* ``damped`` (``memory = 0``): the candidate is :math:`g_a(x)`. Where it is rejected the sample's
  step size halves; after each accepted step it doubles again, up to ``alpha``.
* ``anderson`` (``memory = m``): the candidate is the Anderson (type II) extrapolation of the
  damped map over the sample's last ``m + 1`` accepted points :math:`x_j` with
  :math:`F_j = a\, s(x_j)`,

  .. math::
      \gamma = \arg\min_\gamma \Big\| F_k + \sum_j \gamma_j (F_j - F_k) \Big\|_2, \qquad
      x_{k+1} = x_k + F_k + \sum_j \gamma_j \big((x_j - x_k) + (F_j - F_k)\big).

  Where the extrapolation is rejected the sample's history is dropped and its next candidate is
  the damped step (fall-back), which backtracks as above.

Every candidate costs one evaluation of ``f`` and its diagonal; as in Algorithm 1 the one host
synchronisation per iteration is the check whether any sample is still above ``tol``.
"""

import torch
from torch import Tensor

from mintnet.nn.inverse.fixed_point import ValueAndDiagonal, largest_residual, start_tolerance
from mintnet.nn.inverse.settings import (
    InversionReport,
    OnFail,
    check_inversion_settings,
    finish,
)

__all__ = ["safeguarded_inverse"]

SHRINK, GROW = 0.5, 2.0
SLACK = 100.0
"""Under ``anderson`` a candidate is rejected where its residual exceeds ``SLACK`` times the sample's
best so far: 1 stalls on trained flows, and 10 rejected often enough to leave images far above tol
(docs/concepts.md). Under ``damped`` a candidate must lower the residual."""
"""Factors applied to a sample's step size after a rejected and an accepted damped step."""


class _Damped:
    r"""No history: every candidate is the damped step :math:`x + a\,s(x)`."""

    def keep(self, rows: Tensor) -> None:
        pass

    def candidate(self, x: Tensor, s: Tensor, step: Tensor) -> tuple[Tensor, Tensor]:
        moved = x + step.view((-1,) + (1,) * (x.dim() - 1)) * s
        return moved, torch.zeros(len(x), dtype=torch.bool, device=x.device)

    def update(self, accept: Tensor, used: Tensor, x: Tensor, s: Tensor) -> None:
        pass


class _History:
    """The last ``memory + 1`` accepted points of each sample and their steps, as ring buffers
    ``(A, memory + 1, n)``; ``ptr`` is each sample's current slot and ``count`` how many are kept."""

    def __init__(self, x: Tensor, s: Tensor, memory: int) -> None:
        rows, slots = x.shape[0], memory + 1
        self.x = x.new_zeros(rows, slots, x[0].numel())
        self.s = torch.zeros_like(self.x)
        self.x[:, 0], self.s[:, 0] = x.flatten(1), s.flatten(1)
        self.ptr = torch.zeros(rows, dtype=torch.long, device=x.device)
        self.count = torch.ones_like(self.ptr)

    def keep(self, rows: Tensor) -> None:
        self.x, self.s, self.ptr, self.count = (
            t[rows] for t in (self.x, self.s, self.ptr, self.count)
        )

    def candidate(self, x: Tensor, s: Tensor, step: Tensor) -> tuple[Tensor, Tensor]:
        """The Anderson point of each sample ``(A, ...)`` and whether it had a history to use."""
        slots = self.x.shape[1]
        a = step[:, None]
        x_k, f_k = x.flatten(1), a * s.flatten(1)  # (A, n)
        age = (self.ptr[:, None] - torch.arange(slots, device=x.device)) % slots  # (A, slots)
        valid = ((age >= 1) & (age < self.count[:, None]))[..., None]
        dx = (self.x - x_k[:, None]) * valid  # (A, slots, n)
        df = (a[..., None] * self.s - f_k[:, None]) * valid
        d64 = df.double()
        gram = d64 @ d64.transpose(1, 2)  # (A, slots, slots)
        scale = gram.diagonal(dim1=1, dim2=2).sum(dim=1) * 1e-12 + torch.finfo(torch.float64).tiny
        ridge = scale[:, None] + (~valid[..., 0]).double()  # unused slots get gamma = 0
        gram = gram + torch.diag_embed(ridge)
        gamma = torch.linalg.solve(gram, -(d64 @ f_k.double()[..., None]))  # (A, slots, 1)
        moved = x_k + f_k + ((dx + df) * gamma.to(x.dtype)).sum(dim=1)
        return moved.view_as(x), self.count >= 2

    def update(self, accept: Tensor, used: Tensor, x: Tensor, s: Tensor) -> None:
        """Store accepted points in a new slot; drop the history where an extrapolation failed."""
        slots, rows = self.x.shape[1], torch.arange(self.x.shape[0], device=x.device)
        self.ptr = torch.where(accept, (self.ptr + 1) % slots, self.ptr)
        keep = ~accept[:, None]
        self.x[rows, self.ptr] = torch.where(keep, self.x[rows, self.ptr], x.flatten(1))
        self.s[rows, self.ptr] = torch.where(keep, self.s[rows, self.ptr], s.flatten(1))
        grown = (self.count + 1).clamp_max(slots)
        self.count = torch.where(accept, grown, torch.where(used, 1, self.count))


@torch.no_grad()
def safeguarded_inverse(
    fn: ValueAndDiagonal,
    z: Tensor,
    x0: Tensor,
    *,
    alpha: float = 1.0,
    max_iter: int = 100,
    tol: float | None = None,
    on_fail: OnFail = "warn",
    memory: int = 0,
    name: str = "",
) -> tuple[Tensor, InversionReport]:
    """Solve ``f(x) = z`` by damped steps with backtracking (``memory = 0``) or by Anderson
    acceleration over ``memory`` earlier points (module docstring for the equations).

    Arguments and returns are those of :func:`~mintnet.nn.inverse.fixed_point_inverse`; ``alpha``
    is each sample's first step size, and ``max_iter`` caps the candidates (one evaluation each).
    """
    method = "anderson" if memory else "damped"
    check_inversion_settings(alpha, max_iter, tol, on_fail, method, max(memory, 1))
    tol = start_tolerance(z, x0, tol)
    batch, expand = z.shape[0], (-1,) + (1,) * (z.dim() - 1)
    x_out, res_out = x0.clone(), torch.zeros(batch, dtype=z.dtype, device=z.device)
    active = torch.arange(batch, device=z.device)
    x, z_act = x0.clone(), z
    fx, diag = fn(x)
    res, s = largest_residual(fx, z), (z - fx) / diag
    step = torch.full((batch,), float(alpha), dtype=z.dtype, device=z.device)
    history = _History(x, s, memory) if memory else _Damped()
    best, best_x = res.clone(), x.clone()
    iterations, evaluations = 0, batch
    while True:
        moving = ~(best <= tol)
        if iterations == max_iter or not bool(moving.any()):  # the one host sync per iteration
            x_out[active], res_out[active] = best_x, best
            break
        if not bool(moving.all()):  # retire the converged samples
            done = ~moving
            x_out[active[done]], res_out[active[done]] = best_x[done], best[done]
            active, x, z_act, res, s, step, best, best_x = (
                t[moving] for t in (active, x, z_act, res, s, step, best, best_x)
            )
            history.keep(moving)
        candidate, used = history.candidate(x, s, step)
        f_c, d_c = fn(candidate)
        evaluations += x.shape[0]
        res_c = largest_residual(f_c, z_act)
        accept = res_c < (SLACK if memory else 1.0) * best  # a NaN is never accepted
        s_c = (z_act - f_c) / d_c
        x = torch.where(accept.view(expand), candidate, x)
        s = torch.where(accept.view(expand), s_c, s)
        res = torch.where(accept, res_c, res)
        best_x, best = torch.where((res < best).view(expand), x, best_x), res.minimum(best)
        step = torch.where(accept, (step * GROW).clamp_max(alpha), step * (1 - ~used * SHRINK))
        history.update(accept, used, x, s)
        iterations += 1
    report = InversionReport(name, iterations, evaluations / max(batch, 1), res_out, tol, method)
    return x_out, finish(report, on_fail)
