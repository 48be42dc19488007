"""Fixed-point inversion of a map with a triangular Jacobian (the paper's Algorithm 1)."""

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from mintnet.errors import MintNetError

__all__ = [
    "DEFAULT_TOL",
    "InversionError",
    "InversionReport",
    "InversionWarning",
    "InverseSettings",
    "check_inversion_settings",
    "default_tol",
    "fixed_point_inverse",
]

ValueAndDiagonal = Callable[[Tensor], tuple[Tensor, Tensor]]
OnFail = Literal["warn", "raise"]

DEFAULT_TOL: dict[torch.dtype, float] = {
    torch.float64: 1e-10,
    torch.float32: 1e-5,
    torch.float16: 1e-2,
    torch.bfloat16: 1e-2,
}
"""Residual tolerance used when none is given: a few hundred ulps of a unit-scale value."""


def default_tol(dtype: torch.dtype) -> float:
    """The tolerance on ``max |f(x) - z|`` used when the caller gives none."""
    return DEFAULT_TOL.get(dtype, 1e-5)


class InversionWarning(UserWarning):
    """The fixed-point iteration stopped above its tolerance."""


class InversionError(MintNetError, RuntimeError):
    """The fixed-point iteration stopped above its tolerance and the caller asked to fail."""


@dataclass(frozen=True)
class InversionReport:
    """What one inversion did.

    Attributes:
        name: which map was inverted (e.g. ``"layers.3.lower"``), for messages.
        iterations: fixed-point updates made (the largest over the batch).
        evaluations: evaluations of ``f`` and its diagonal, summed over samples and divided by the
            batch size (per-sample early stop makes this smaller than ``iterations + 1``).
        residual: ``max |f(x) - z|`` of each sample at the returned ``x``, shape ``(B,)``.
        tol: the tolerance the iteration aimed for.
    """

    name: str
    iterations: int
    evaluations: float
    residual: Tensor
    tol: float

    @property
    def max_residual(self) -> float:
        return float(self.residual.max()) if self.residual.numel() else 0.0

    @property
    def converged(self) -> bool:
        return self.max_residual <= self.tol

    def __str__(self) -> str:
        state = "converged" if self.converged else "NOT converged"
        return (
            f"{self.name or 'inverse'}: {state} after {self.iterations} iterations, "
            f"largest residual {self.max_residual:.3g} (tol {self.tol:.3g})"
        )


def check_inversion_settings(alpha: float, max_iter: int, tol: float | None, on_fail: str) -> None:
    """Raise ``ValueError`` naming the first setting outside its valid range."""
    if not 0.0 < alpha < 2.0:
        raise ValueError(
            f"alpha={alpha} is outside (0, 2), where Algorithm 1 converges locally (Theorem 2)"
        )
    if int(max_iter) != max_iter or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter}")
    if tol is not None and not tol > 0:
        raise ValueError(f"tol must be > 0 (or None for the dtype's default), got {tol}")
    if on_fail not in ("warn", "raise"):
        raise ValueError(f"on_fail must be 'warn' or 'raise', got {on_fail!r}")


@dataclass(frozen=True)
class InverseSettings:
    """The knobs of :func:`fixed_point_inverse`, validated on construction.

    Attributes:
        alpha: step size in ``(0, 2)``; 1 gives the fastest local rate ``|1 - alpha| = 0``.
        max_iter: the most fixed-point updates per layer (the paper uses a fixed 100).
        tol: tolerance on each sample's largest residual ``max |f(x) - z|``; ``None`` picks
            ``DEFAULT_TOL`` for the dtype.
        on_fail: ``"warn"`` or ``"raise"`` when the tolerance is not met.
    """

    alpha: float = 1.0
    max_iter: int = 100
    tol: float | None = None
    on_fail: OnFail = "warn"

    def __post_init__(self) -> None:
        check_inversion_settings(self.alpha, self.max_iter, self.tol, self.on_fail)


def _largest_residual(fx: Tensor, z: Tensor) -> Tensor:
    return (fx - z).abs().flatten(1).amax(dim=1)  # (B,)


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
) -> tuple[Tensor, InversionReport]:
    r"""Solve :math:`f(x) = z` for a map whose Jacobian is triangular with a positive diagonal.

    .. math:: x_t = x_{t-1} - \alpha \, \mathrm{diag}(J_f(x_{t-1}))^{-1} (f(x_{t-1}) - z)

    At the solution :math:`x^*` the iteration's Jacobian is triangular with every diagonal entry equal
    to :math:`1 - \alpha`, so it converges locally and linearly for :math:`0 < \alpha < 2`
    (Theorem 2 of Song, Meng & Ermon, "MintNet", NeurIPS 2019, arXiv:1907.07945).

    All elements update in parallel. Each sample stops as soon as its largest residual
    :math:`\max |f(x) - z|` is at most ``tol``; only the samples still moving are evaluated, so ``fn``
    must treat samples independently (true of convolutions and eval-mode batch norm).

    Arguments:
        fn: ``x -> (f(x), diag J_f(x))``, both shaped like ``x``.
        z: the target, shape ``(B, ...)``.
        x0: the starting point, shaped like ``z`` (MintNet uses ``z / t``).
        alpha: step size in ``(0, 2)``.
        max_iter: the most updates any sample gets.
        tol: the tolerance on each sample's largest residual; ``None`` takes ``DEFAULT_TOL[dtype]``.
        on_fail: ``"warn"`` (an :class:`InversionWarning`) or ``"raise"`` (an
            :class:`InversionError`) when a sample ends above ``tol``.
        name: what is being inverted, for the report and messages.

    Returns:
        ``x`` shaped like ``z``, and an :class:`InversionReport`.
    """
    check_inversion_settings(alpha, max_iter, tol, on_fail)
    if x0.shape != z.shape:
        raise ValueError(f"x0 must have the shape of z {tuple(z.shape)}, got {tuple(x0.shape)}")
    tol = default_tol(z.dtype) if tol is None else tol
    batch = z.shape[0]
    x = x0.clone()
    residual = torch.zeros(batch, dtype=z.dtype, device=z.device)
    active = torch.arange(batch, device=z.device)  # samples still iterating
    x_act, z_act = x, z
    iterations, evaluations = 0, 0
    while True:
        fx, diag = fn(x_act)
        evaluations += x_act.shape[0]
        res = _largest_residual(fx, z_act)
        moving = ~(res <= tol)  # NaN counts as moving, so a diverged sample is never "done"
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
        x_act = x_act - alpha * (fx - z_act) / diag
        iterations += 1
    report = InversionReport(name, iterations, evaluations / max(batch, 1), residual, tol)
    if not report.converged:
        message = f"{report}; try more iterations (max_iter) or a step size alpha nearer 1"
        if on_fail == "raise":
            raise InversionError(message)
        warnings.warn(message, InversionWarning, stacklevel=2)
    return x, report
