r"""Float64 refinement: the samples a low-precision solve leaves above its tolerance are solved
again in float64 and rounded back.

Near the solution of a strongly coupled layer a float32 Anderson solve works on residuals a few
ulps above the noise of evaluating the layer in float32 (docs/concepts.md). Its least-squares
extrapolation then fits that noise and wanders instead of converging, while the same solve in
float64 converges. So a sample that ends
above ``tol`` is solved again from its start :math:`x_0` with a float64 copy of the map, to the
float64 tolerance, and the float64 solution :math:`x^*_{64}` is rounded to the layer's dtype. The
rounded point is kept where its residual, evaluated with the layer itself,

.. math:: \rho = \max \lvert f(\mathrm{round}(x^*_{64})) - z \rvert,

is below the one the low-precision solve reached; the report's residuals are those of the points
returned, so a sample is only called converged on the layer's own evaluation.
"""

from collections.abc import Callable
from dataclasses import replace

import torch
from torch import Tensor

from mintnet.nn.inverse.anderson import anderson_solve
from mintnet.nn.inverse.fixed_point import ValueAndDiagonal, largest_residual
from mintnet.nn.inverse.report import InversionReport
from mintnet.nn.inverse.settings import InverseSettings, default_tol

__all__ = ["PreciseMap", "can_refine", "refine_in_float64"]

PreciseMap = Callable[[], ValueAndDiagonal]
"""Builds the float64 version of a map (e.g. from a float64 copy of a layer), only when needed."""


def can_refine(z: Tensor, report: InversionReport, settings: InverseSettings) -> bool:
    """Whether :func:`refine_in_float64` applies: Anderson asked to refine, samples above tol, a
    dtype below float64, and a device with float64 (not Apple's MPS)."""
    return (
        settings.method == "anderson"
        and settings.refine_in_float64
        and z.dtype != torch.float64
        and z.device.type != "mps"
        and not report.converged
    )


@torch.no_grad()
def refine_in_float64(
    fn: ValueAndDiagonal,
    precise: PreciseMap,
    z: Tensor,
    x0: Tensor,
    x: Tensor,
    report: InversionReport,
    settings: InverseSettings,
) -> tuple[Tensor, InversionReport]:
    """Solve the samples of ``report`` above its tolerance again in float64 (module docstring).

    Arguments: the map ``fn`` in ``z``'s dtype and its float64 version's builder ``precise``; the
    target ``z`` and start ``x0`` ``(B, ...)``; the low-precision solution ``x`` and its
    ``report``; the ``settings`` of that solve (step size, memory and ``max_iter`` are reused).
    Returns ``x`` with the improved samples replaced and the report with their residuals; its
    ``evaluations`` add the float64 ones and the final check, ``refined`` counts the samples.
    """
    above = torch.tensor(report.unconverged_samples, dtype=torch.long, device=z.device)
    x64, solved = anderson_solve(
        precise(),
        z[above].double(),
        x0[above].double(),
        settings,
        default_tol(torch.float64),
        report.name,
    )
    rounded = x64.to(x.dtype)
    residual = largest_residual(fn(rounded)[0], z[above])
    better = residual < report.residual[above]
    x, residuals = x.clone(), report.residual.clone()
    x[above[better]], residuals[above[better]] = rounded[better], residual[better]
    extra = (solved.evaluations + 1) * len(above) / len(z)
    return x, replace(
        report,
        iterations=report.iterations + solved.iterations,
        evaluations=report.evaluations + extra,
        residual=residuals,
        refined=len(above),
    )
