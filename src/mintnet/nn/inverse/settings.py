"""What an inversion is asked to do: the solver, its knobs and the tolerance it aims for."""

from dataclasses import dataclass
from typing import Literal

import torch

__all__ = [
    "DEFAULT_TOL",
    "METHODS",
    "InverseSettings",
    "Method",
    "OnFail",
    "check_inversion_settings",
    "default_tol",
]

OnFail = Literal["warn", "raise"]
Method = Literal["fixed_point", "damped", "anderson"]
METHODS: tuple[str, ...] = ("fixed_point", "damped", "anderson")
"""``fixed_point``: the paper's Algorithm 1, iterate for iterate. ``damped``: the same step with a
per-sample step size that backtracks where the residual would grow. ``anderson`` (the default):
Anderson acceleration of the damped map, falling back to the damped step where it does not help;
chosen by the solver benchmark (docs/performance.md)."""

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


def check_inversion_settings(
    alpha: float,
    max_iter: int,
    tol: float | None,
    on_fail: str,
    method: str = "fixed_point",
    anderson_memory: int = 10,
    refine_in_float64: bool = False,
) -> None:
    """Raise ``ValueError`` naming the first setting outside its valid range."""
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
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
    if int(anderson_memory) != anderson_memory or anderson_memory < 1:
        raise ValueError(f"anderson_memory must be a positive integer, got {anderson_memory}")
    if not isinstance(refine_in_float64, bool):
        raise ValueError(f"refine_in_float64 must be true or false, got {refine_in_float64!r}")


@dataclass(frozen=True)
class InverseSettings:
    """How a layer is inverted, validated on construction.

    Attributes:
        alpha: step size in ``(0, 2)``; 1 gives the fastest local rate ``|1 - alpha| = 0``. For
            ``damped`` and ``anderson`` it is the first step size of every sample. The paper's
            own runs use ``method="fixed_point"`` with ``1 / newton_lr`` (1/3.5 on MNIST).
        max_iter: the most updates per layer (the paper uses a fixed 100).
        tol: tolerance on each sample's largest residual ``max |f(x) - z|``; ``None`` picks
            ``DEFAULT_TOL`` for the dtype.
        on_fail: ``"warn"`` or ``"raise"`` when the tolerance is not met.
        method: the solver, one of :data:`METHODS`; ``"fixed_point"`` is the paper's Algorithm 1.
        anderson_memory: how many earlier iterates Anderson acceleration combines (``m``).
        refine_in_float64: under ``anderson`` with a float32 (or half) layer, solve the samples
            left above ``tol`` again in float64 from the same start, and keep the result where
            its residual, evaluated in the layer's dtype, is lower (:mod:`mintnet.nn.inverse.refine`).
    """

    alpha: float = 1.0
    max_iter: int = 100
    tol: float | None = None
    on_fail: OnFail = "warn"
    method: Method = "anderson"
    anderson_memory: int = 5
    refine_in_float64: bool = True

    @property
    def memory(self) -> int:
        """Earlier points the safeguarded solver combines: ``anderson_memory`` under
        ``anderson``, 0 (plain damped steps) otherwise."""
        return self.anderson_memory if self.method == "anderson" else 0

    def __post_init__(self) -> None:
        check_inversion_settings(
            self.alpha,
            self.max_iter,
            self.tol,
            self.on_fail,
            self.method,
            self.anderson_memory,
            self.refine_in_float64,
        )
