"""What an inversion did: its report, and the warning or error when it stopped above tol."""

import warnings
from dataclasses import dataclass

from torch import Tensor

from mintnet.errors import MintNetError

__all__ = ["InversionError", "InversionReport", "InversionWarning", "finish", "unconverged"]


class InversionWarning(UserWarning):
    """The inversion stopped above its tolerance."""


class InversionError(MintNetError, RuntimeError):
    """The inversion stopped above its tolerance and the caller asked to fail."""


@dataclass(frozen=True)
class InversionReport:
    """What one inversion did.

    Attributes:
        name: which map was inverted (e.g. ``"layers.3.lower"``), for messages.
        iterations: updates made (the largest over the batch).
        evaluations: evaluations of ``f`` and its diagonal, summed over samples and divided by the
            batch size (per-sample early stop makes this smaller than ``iterations + 1``).
        residual: ``max |f(x) - z|`` of each sample at the returned ``x``, shape ``(B,)``.
        tol: the tolerance the iteration aimed for.
        method: the solver that ran (one of :data:`METHODS`).
        refined: how many samples were solved again in float64 (``refine_in_float64``).
    """

    name: str
    iterations: int
    evaluations: float
    residual: Tensor
    tol: float
    method: str = "fixed_point"
    refined: int = 0

    @property
    def max_residual(self) -> float:
        return float(self.residual.max()) if self.residual.numel() else 0.0

    @property
    def converged(self) -> bool:
        return self.max_residual <= self.tol

    @property
    def unconverged_samples(self) -> list[int]:
        """Indices of the samples whose residual is above ``tol`` (NaN included)."""
        return (~(self.residual <= self.tol)).nonzero().flatten().tolist()

    def __str__(self) -> str:
        state = "converged" if self.converged else "NOT converged"
        text = (
            f"{self.name or 'inverse'}: {state} after {self.iterations} iterations, "
            f"largest residual {self.max_residual:.3g} (tol {self.tol:.3g})"
        )
        if self.refined:
            text += f", {self.refined} samples solved again in float64"
        if not self.converged:
            text += f", samples above tol: {self.unconverged_samples}"
        return text


def finish(report: InversionReport, on_fail: str) -> InversionReport:
    """Warn or raise (``on_fail``) when ``report`` did not reach its tolerance; return it."""
    if not report.converged:
        message = f"{report}; try more iterations (max_iter) or another method"
        if on_fail == "raise":
            raise InversionError(message)
        warnings.warn(message, InversionWarning, stacklevel=3)
    return report


def unconverged(reports: list[InversionReport]) -> list[tuple[str, list[int]]]:
    """``(layer name, sample indices)`` for each report with samples above its tolerance."""
    return [(r.name, r.unconverged_samples) for r in reports if not r.converged]
