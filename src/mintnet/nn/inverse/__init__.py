"""Inversion of maps with a triangular Jacobian: the paper's Algorithm 1 and safeguarded solvers.

:func:`invert` runs the solver an :class:`InverseSettings` names; :func:`fixed_point_inverse` is
Algorithm 1 of Song, Meng & Ermon, "MintNet", NeurIPS 2019 (arXiv:1907.07945), iterate for
iterate; :func:`safeguarded_inverse` the damped and Anderson-accelerated solvers, and
:func:`~mintnet.nn.inverse.refine.refine_in_float64` their float64 second pass.
"""

from torch import Tensor

from mintnet.nn.inverse.fixed_point import ValueAndDiagonal, fixed_point_inverse
from mintnet.nn.inverse.refine import PreciseMap, can_refine, refine_in_float64
from mintnet.nn.inverse.safeguarded import safeguarded_inverse, safeguarded_solve
from mintnet.nn.inverse.settings import (
    DEFAULT_TOL,
    METHODS,
    InverseSettings,
    InversionError,
    InversionReport,
    InversionWarning,
    check_inversion_settings,
    default_tol,
    finish,
)

__all__ = [
    "DEFAULT_TOL",
    "METHODS",
    "PreciseMap",
    "InversionError",
    "InversionReport",
    "InversionWarning",
    "InverseSettings",
    "ValueAndDiagonal",
    "check_inversion_settings",
    "default_tol",
    "fixed_point_inverse",
    "invert",
    "refine_in_float64",
    "safeguarded_inverse",
    "unconverged",
]


def invert(
    fn: ValueAndDiagonal,
    z: Tensor,
    x0: Tensor,
    settings: InverseSettings,
    name: str = "",
    precise: PreciseMap | None = None,
) -> tuple[Tensor, InversionReport]:
    """Solve ``fn(x)[0] = z`` from ``x0`` with the solver and knobs of ``settings``; ``precise``
    builds ``fn`` in float64, for :func:`~mintnet.nn.inverse.refine.refine_in_float64`."""
    if settings.method == "fixed_point":
        knobs = dict(max_iter=settings.max_iter, tol=settings.tol, on_fail=settings.on_fail)
        return fixed_point_inverse(fn, z, x0, alpha=settings.alpha, name=name, **knobs)
    memory = settings.anderson_memory if settings.method == "anderson" else 0
    x, report = safeguarded_solve(
        fn, z, x0, settings.alpha, settings.max_iter, settings.tol, memory, name
    )
    if precise is not None and can_refine(z, report, settings):
        x, report = refine_in_float64(fn, precise, z, x0, x, report, settings)
    return x, finish(report, settings.on_fail)


def unconverged(reports: list[InversionReport]) -> list[tuple[str, list[int]]]:
    """``(layer name, sample indices)`` for each report with samples above its tolerance."""
    return [(r.name, r.unconverged_samples) for r in reports if not r.converged]
