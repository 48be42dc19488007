r"""Anderson acceleration with its safeguard, and the damped solver that is its fall-back.

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
  damped map over the sample's last ``m`` differences of accepted points,
  :math:`\Delta x_j = x_{j+1} - x_j` and :math:`\Delta F_j = F_{j+1} - F_j` with
  :math:`F_j = a\, s(x_j)`,

  .. math::
      \gamma = \arg\min_\gamma \big\| F_k - \Delta F\, \gamma \big\|_2, \qquad
      x_{k+1} = x_k + F_k - (\Delta X + \Delta F)\, \gamma.

  Where the extrapolation is rejected the sample's history is dropped and its next candidate is
  the damped step (fall-back), which backtracks as above. The differences and their Gram matrix
  are kept from one iteration to the next, so an iteration costs ``O(m n)`` per sample besides
  the evaluation of ``f``.

Every candidate costs one evaluation of ``f`` and its diagonal; as in Algorithm 1 the one host
synchronisation per iteration is the check whether any sample is still above ``tol``.
"""

import torch
from torch import Tensor

from mintnet.nn.inverse.fixed_point import ValueAndDiagonal, largest_residual
from mintnet.nn.inverse.report import InversionReport
from mintnet.nn.inverse.settings import InverseSettings

__all__ = ["anderson_solve"]

SHRINK, GROW = 0.5, 2.0
"""Factors applied to a sample's step size after a rejected and an accepted damped step."""
SLACK = 100.0
"""Under ``anderson`` a candidate is rejected where its residual exceeds ``SLACK`` times the sample's
best so far: 1 stalls on trained flows, and 10 rejected often enough to leave images far above tol
(docs/concepts.md). Under ``damped`` a candidate must lower the residual."""
RIDGE = 1e-12
"""Tikhonov term of Anderson's least-squares problem, relative to the trace of its Gram matrix
(larger values, up to 1e-3, changed nothing measured on the Fashion-MNIST flow)."""


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
    r"""Anderson's memory of each sample, as consecutive differences of its accepted points:
    ``dx[j] = x_{j+1} - x_j`` and ``ds[j] = s(x_{j+1}) - s(x_j)``, ring buffers ``(A, memory, n)``,
    with the Gram matrix of the ``ds`` kept up to date in float64 ``(A, memory, memory)``, so an
    iteration costs three products of ``memory x n`` per sample.

    With :math:`F = a\,s` the least-squares problem of the module docstring is
    :math:`\gamma = \arg\min \lVert s_k - \Delta S\,\gamma \rVert_2` (independent of ``a``)
    and the candidate :math:`x_k + a\,s_k - (\Delta X + a\,\Delta S)\,\gamma`."""

    def __init__(self, x: Tensor, s: Tensor, memory: int) -> None:
        rows, n = x.shape[0], x[0].numel()
        self.dx = x.new_zeros(rows, memory, n)
        self.ds = torch.zeros_like(self.dx)
        self.gram = x.new_zeros(rows, memory, memory, dtype=torch.float64)
        self.x, self.s = x.flatten(1).clone(), s.flatten(1).clone()  # the last accepted point
        self.ptr = torch.zeros(rows, dtype=torch.long, device=x.device)  # the next slot
        self.count = torch.zeros_like(self.ptr)  # differences kept

    def keep(self, rows: Tensor) -> None:
        self.dx, self.ds, self.gram, self.x, self.s, self.ptr, self.count = (
            t[rows] for t in (self.dx, self.ds, self.gram, self.x, self.s, self.ptr, self.count)
        )

    def candidate(self, x: Tensor, s: Tensor, step: Tensor) -> tuple[Tensor, Tensor]:
        """The Anderson point of each sample ``(A, ...)`` and whether it had a history to use."""
        memory = self.dx.shape[1]
        s_k = s.flatten(1)
        valid = torch.arange(memory, device=x.device) < self.count[:, None]  # (A, memory)
        rhs = (self.ds.double() @ s_k.double()[..., None]).squeeze(-1)  # (A, memory)
        scale = (
            self.gram.diagonal(dim1=1, dim2=2).sum(dim=1) * RIDGE + torch.finfo(torch.float64).tiny
        )
        pairs = (valid[:, :, None] & valid[:, None, :]).double()
        gram = self.gram * pairs + torch.diag_embed(scale[:, None] + (~valid).double())
        gamma = torch.linalg.solve(gram, (rhs * valid)[..., None]).to(x.dtype)  # (A, memory, 1)
        a = step[:, None]
        correction = (self.dx.transpose(1, 2) @ gamma).squeeze(-1) + a * (
            self.ds.transpose(1, 2) @ gamma
        ).squeeze(-1)
        moved = x.flatten(1) + a * s_k - correction
        return moved.view_as(x), self.count >= 1

    def update(self, accept: Tensor, used: Tensor, x: Tensor, s: Tensor) -> None:
        """Add the differences to the accepted points; drop the history where an extrapolation
        was rejected. Masked writes, not indexing by the accepted rows: no host synchronisation."""
        rows, slot, memory = torch.arange(len(accept), device=x.device), self.ptr, self.dx.shape[1]
        take = accept[:, None]
        x_new, s_new = x.flatten(1), s.flatten(1)
        ds = s_new - self.s
        self.dx[rows, slot] = torch.where(take, x_new - self.x, self.dx[rows, slot])
        self.ds[rows, slot] = torch.where(take, ds, self.ds[rows, slot])
        self.x, self.s = torch.where(take, x_new, self.x), torch.where(take, s_new, self.s)
        products = (self.ds.double() @ ds.double()[..., None]).squeeze(-1)  # (A, memory)
        products = torch.where(take, products, self.gram[rows, slot])
        self.gram[rows, slot], self.gram[rows, :, slot] = products, products
        dropped = used & ~accept  # a rejected extrapolation: the next point starts a new history
        self.ptr = torch.where(accept, (slot + 1) % memory, torch.where(dropped, 0, slot))
        grown = (self.count + 1).clamp_max(memory)
        self.count = torch.where(accept, grown, torch.where(dropped, 0, self.count))


@torch.no_grad()
def anderson_solve(
    fn: ValueAndDiagonal,
    z: Tensor,
    x0: Tensor,
    settings: InverseSettings,
    tol: float,
    name: str = "",
    budget: Tensor | None = None,
) -> tuple[Tensor, InversionReport]:
    """Solve ``f(x) = z`` by Anderson acceleration over ``settings.memory`` earlier points, or by
    damped steps with backtracking where that is 0 (``method="damped"``); module docstring.

    Arguments and returns are those of :func:`~mintnet.nn.inverse.fixed_point.fixed_point_solve`;
    ``alpha`` is each sample's first step size, and ``max_iter`` caps the candidates (one
    evaluation each).
    """
    alpha, max_iter, memory = settings.alpha, settings.max_iter, settings.memory
    method = "anderson" if memory else "damped"
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
    limit = torch.full_like(active, max_iter) if budget is None else budget.to(z.device)
    while True:
        moving = ~(best <= tol) & (limit > iterations)
        if iterations == max_iter or not bool(moving.any()):  # the one host sync per iteration
            x_out[active], res_out[active] = best_x, best
            break
        if not bool(moving.all()):  # retire the converged samples
            done = ~moving
            x_out[active[done]], res_out[active[done]] = best_x[done], best[done]
            active, x, z_act, res, s, step, best, best_x, limit = (
                t[moving] for t in (active, x, z_act, res, s, step, best, best_x, limit)
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
    return x_out, report
