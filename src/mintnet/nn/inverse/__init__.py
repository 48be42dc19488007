"""Inversion of maps with a triangular Jacobian: the paper's Algorithm 1 and safeguarded solvers.

:func:`invert` runs the solver an :class:`InverseSettings` names; :func:`fixed_point_inverse` is
Algorithm 1 of Song, Meng & Ermon, "MintNet", NeurIPS 2019 (arXiv:1907.07945), iterate for
iterate; :func:`safeguarded_inverse` the damped and Anderson-accelerated solvers.
"""

from torch import Tensor

from mintnet.nn.inverse.fixed_point import ValueAndDiagonal, fixed_point_inverse
from mintnet.nn.inverse.safeguarded import safeguarded_inverse
from mintnet.nn.inverse.settings import (
    DEFAULT_TOL,
    METHODS,
    InverseSettings,
    InversionError,
    InversionReport,
    InversionWarning,
    check_inversion_settings,
    default_tol,
)

__all__ = [
    "DEFAULT_TOL",
    "METHODS",
    "InversionError",
    "InversionReport",
    "InversionWarning",
    "InverseSettings",
    "check_inversion_settings",
    "default_tol",
    "fixed_point_inverse",
    "invert",
    "safeguarded_inverse",
    "unconverged",
]


def invert(
    fn: ValueAndDiagonal, z: Tensor, x0: Tensor, settings: InverseSettings, name: str = ""
) -> tuple[Tensor, InversionReport]:
    """Solve ``fn(x)[0] = z`` from ``x0`` with the solver and knobs of ``settings``."""
    knobs = dict(max_iter=settings.max_iter, tol=settings.tol, on_fail=settings.on_fail, name=name)
    if settings.method == "fixed_point":
        return fixed_point_inverse(fn, z, x0, alpha=settings.alpha, **knobs)
    memory = settings.anderson_memory if settings.method == "anderson" else 0
    return safeguarded_inverse(fn, z, x0, alpha=settings.alpha, memory=memory, **knobs)


def unconverged(reports: list[InversionReport]) -> list[tuple[str, list[int]]]:
    """``(layer name, sample indices)`` for each report with samples above its tolerance."""
    return [(r.name, r.unconverged_samples) for r in reports if not r.converged]
