"""Inversion of maps with a triangular Jacobian, through one entry point, :func:`invert`.

:func:`invert` takes the map, the target, a start and one :class:`InverseSettings`, and runs the
solver the settings name, each in a file of its own:

* ``fixed_point``: Algorithm 1 of Song, Meng & Ermon, "MintNet", NeurIPS 2019
  (arXiv:1907.07945), iterate for iterate (:mod:`~mintnet.nn.inverse.fixed_point`);
* ``anderson`` (the default) and its fall-back ``damped``: the safeguarded solvers
  (:mod:`~mintnet.nn.inverse.anderson`), whose float32 solves are finished in float64 where they
  stop above ``tol`` (:mod:`~mintnet.nn.inverse.refine`).

It then warns or raises, as the settings ask, where a sample ended above ``tol``
(:mod:`~mintnet.nn.inverse.report`).
"""

from torch import Tensor

from mintnet.nn.inverse.anderson import anderson_solve
from mintnet.nn.inverse.fixed_point import ValueAndDiagonal, fixed_point_solve
from mintnet.nn.inverse.refine import PreciseMap, can_refine, refine_in_float64
from mintnet.nn.inverse.report import (
    InversionError,
    InversionReport,
    InversionWarning,
    finish,
    unconverged,
)
from mintnet.nn.inverse.settings import (
    DEFAULT_TOL,
    METHODS,
    InverseSettings,
    OnFail,
    check_inversion_settings,
    default_tol,
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
    "unconverged",
]


def invert(
    fn: ValueAndDiagonal,
    z: Tensor,
    x0: Tensor,
    settings: InverseSettings,
    name: str = "",
    precise: PreciseMap | None = None,
    budget: Tensor | None = None,
) -> tuple[Tensor, InversionReport]:
    """Solve ``fn(x)[0] = z`` from ``x0`` with the solver and knobs of ``settings``.

    Arguments:
        fn: the map and its Jacobian diagonal (:data:`ValueAndDiagonal`).
        z: the target ``(B, ...)``; ``x0``: the start, shaped like it (MintNet uses ``z / t``).
        settings: the solver, its knobs, the tolerance (``None``: :func:`default_tol` of
            ``z``'s dtype) and what to do when a sample ends above it.
        name: the map's name in the report and its messages (e.g. ``"6.lower"``).
        precise: builds ``fn`` in float64, for :func:`refine_in_float64`; ``None``: no refinement.
        budget: ``(B,)``, each sample's most updates (at most ``max_iter``; ``None``: all).

    Returns:
        ``x`` shaped like ``z`` and an :class:`InversionReport`.
    """
    if x0.shape != z.shape:
        raise ValueError(f"x0 must have the shape of z {tuple(z.shape)}, got {tuple(x0.shape)}")
    tol = default_tol(z.dtype) if settings.tol is None else settings.tol
    if settings.method == "fixed_point":
        x, report = fixed_point_solve(fn, z, x0, settings, tol, name, budget)
    else:
        x, report = anderson_solve(fn, z, x0, settings, tol, name, budget)
        if precise is not None and can_refine(z, report, settings):
            x, report = refine_in_float64(fn, precise, z, x0, x, report, settings)
    return x, finish(report, settings.on_fail)


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
    """The paper's Algorithm 1 by its knobs: :func:`invert` with
    ``InverseSettings(alpha, max_iter, tol, on_fail, method="fixed_point")``."""
    settings = InverseSettings(alpha, max_iter, tol, on_fail, method="fixed_point")
    return invert(fn, z, x0, settings, name, budget=budget)
