"""Accuracy of the inverse against the number of iterations (paper Figure 4), for each solver."""

import csv
import math
import warnings
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from torch import Tensor

from mintnet.nn.image_flow import ImageFlow
from mintnet.nn.inverse import InverseSettings, InversionWarning, invert
from mintnet.nn.invertible import FlowSequential
from mintnet.nn.mint_layer import MintLayer

__all__ = [
    "EXACT_ITERATIONS_TOL",
    "STACK_ELEMENTS",
    "error_floor",
    "figure4_work",
    "inversion_accuracy",
    "inversion_errors",
    "inversion_errors_at",
    "plot_inversion_accuracy",
    "write_csv",
]

EXACT_ITERATIONS_TOL = 1e-300
"""A tolerance no float32/float64 residual meets unless it is exactly 0 (when further iterations
change nothing), so every layer runs exactly ``max_iter`` iterations."""

STACK_ELEMENTS = 2**18
"""Most elements of the widest hidden activation (copies x B x C x H x W x K) in one stack of
:func:`inversion_errors_at`; more iteration counts are done in several stacks, at least one copy
each. Larger stacks leave the caches: with all 35 counts of the digits flow in one stack the pass
took more CPU time than one inversion per count (docs/performance.md)."""

Progress = Callable[[int], None]
"""Told the units of work done (:func:`figure4_work`) as they finish."""


@torch.no_grad()
def inversion_errors(
    flow: ImageFlow,
    v: Tensor,
    z: Tensor,
    alpha: float,
    iterations: int,
    method: str = "fixed_point",
) -> Tensor:
    r"""Per-image normalised L2 error of inverting ``z = f(v)`` with exactly ``iterations`` updates
    per Mint layer of ``method`` (``mintnet.nn.inverse.METHODS``) and step size ``alpha``:

    .. math:: e = \lVert \hat v - v \rVert_2 / D, \qquad D = C H W

    Returns shape ``(B,)``, in float64; non-converged layers are expected, so their warnings are
    silenced. Anderson's float64 refinement is off: it would add updates past ``iterations``.
    """
    settings = InverseSettings(
        alpha, iterations, EXACT_ITERATIONS_TOL, "warn", method, refine_in_float64=False
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InversionWarning)
        v_hat, _ = flow.net.inverse_with_report(z, settings)
    return (v_hat - v).double().flatten(1).norm(dim=1) / v[0].numel()


@torch.no_grad()
def inversion_errors_at(
    flow: ImageFlow,
    v: Tensor,
    z: Tensor,
    alpha: float,
    iterations: Sequence[int],
    method: str = "fixed_point",
    progress: Progress | None = None,
) -> Tensor:
    r""":func:`inversion_errors` for every ``T`` in ``iterations`` in one pass through the layers.

    Every ``T`` inverts layer :math:`\ell` from its own target (the inverse of layer
    :math:`\ell + 1` after ``T`` iterations), so the curves are not prefixes of one run. Instead the
    batch is repeated once per ``T`` (``(n_T B, C, H, W)``, up to :data:`STACK_ELEMENTS` per stack)
    and each Mint layer's solver runs once per stack, copy ``k`` stopping after exactly ``T_k``
    updates (its ``budget``): the same iterates as one inversion per ``T``. Returns ``(n_T, B)``
    float64.
    """
    steps, batch, dims = [int(t) for t in iterations], v.shape[0], v[0].numel()
    width = max(
        (m.hidden_groups for m in flow.net.modules() if isinstance(m, MintLayer)), default=1
    )
    per_stack = max(1, STACK_ELEMENTS // (batch * dims * width))
    errors = []
    for start in range(0, len(steps), per_stack):
        chunk = steps[start : start + per_stack]
        budget = torch.tensor(chunk, device=v.device).repeat_interleave(batch)
        settings = InverseSettings(alpha, max(chunk), EXACT_ITERATIONS_TOL, "warn", method)
        tick = None if progress is None else partial(progress, sum(chunk))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", InversionWarning)
            v_hat = _invert_with_budget(
                flow.net, z.repeat(len(chunk), 1, 1, 1), budget, settings, tick
            )
        diff = (v_hat - v.repeat(len(chunk), 1, 1, 1)).double().flatten(1)
        errors.append((diff.norm(dim=1) / dims).view(len(chunk), batch))
    return torch.cat(errors)


def _invert_with_budget(
    net: FlowSequential,
    y: Tensor,
    budget: Tensor,
    s: InverseSettings,
    tick: Callable[[], None] | None,
) -> Tensor:
    """``net``'s inverse as :meth:`FlowSequential.inverse_with_report` with settings ``s``, each
    Mint layer's sample ``i`` stopped after ``budget[i]`` updates (no float64 refinement)."""
    for layer in reversed(net.layers):
        if isinstance(layer, FlowSequential):
            y = _invert_with_budget(layer, y, budget, s, tick)
        elif isinstance(layer, MintLayer):
            w = layer.masked_weights()
            fn, x0 = partial(layer.value_and_diagonal, w=w), y / w.t  # as MintLayer's inverse
            y, _ = invert(fn, y, x0, s, layer.name, budget=budget)
            if tick is not None:
                tick()
        else:
            y = layer.inverse(y)
    return y


def figure4_work(flow: ImageFlow, iterations: Sequence[int], curves: int = 1) -> int:
    """The units of work :func:`inversion_accuracy` reports to its ``progress``: Mint layers x
    ``sum(iterations)`` per curve (one curve per method and ``alpha``)."""
    mint_layers = sum(isinstance(m, MintLayer) for m in flow.net.modules())
    return curves * mint_layers * sum(int(t) for t in iterations)


@torch.no_grad()
def inversion_accuracy(
    flow: ImageFlow,
    images: Tensor,
    iterations: Sequence[int],
    alphas: Sequence[float],
    methods: Sequence[str] = ("fixed_point",),
    progress: Progress | None = None,
) -> list[dict[str, Any]]:
    r"""The paper's Figure 4: inversion error of real images against iterations per Mint layer.

    For images ``x`` ``(B, C, H, W)`` in ``[0, 1]``: ``v`` = :meth:`ImageFlow.centre_logits`, ``z = f(v)``, then
    for every method, ``alpha`` and ``T`` the whole network is inverted with exactly ``T`` iterations per
    layer (no early stop) and :func:`inversion_errors` measured, all ``T`` of a method and ``alpha``
    in one pass (:func:`inversion_errors_at`; ``progress`` is told :func:`figure4_work`'s units as
    they finish). Over the ``B`` images it reports

    .. math:: \bar e = \exp\big(\mathrm{mean}_b \log e_b\big), \qquad
        s = \mathrm{std}_b \log_{10} e_b

    Returns:
        One row per ``(method, alpha, T)``, in that order: ``method``, ``alpha``, ``iterations``,
        ``geo_mean_error``
        (``\bar e``, errors floored at :func:`error_floor`; ``inf`` if any image diverged),
        ``log10_std`` (``s``), ``band_low`` / ``band_high`` (``\bar e \cdot 10^{\mp s}``),
        ``max_error``, ``n_images``, ``n_nonfinite``.
    """
    if not iterations or min(iterations) < 1 or any(int(t) != t for t in iterations):
        raise ValueError(f"iterations must be positive integers, got {list(iterations)}")
    if not alphas:
        raise ValueError("alphas must hold at least one step size in (0, 2), got none")
    ref = next(flow.parameters())
    v = flow.centre_logits(images.to(device=ref.device, dtype=ref.dtype))
    z, _ = flow.net(v)
    rows = []
    for method in methods:
        for alpha in alphas:
            errors = inversion_errors_at(flow, v, z, float(alpha), iterations, method, progress)
            for steps, row_errors in zip(iterations, errors, strict=True):
                stats = _log_stats(row_errors, error_floor(v.dtype, v[0].numel()))
                rows.append(
                    {"method": method, "alpha": float(alpha), "iterations": int(steps), **stats}
                )
    return rows


def error_floor(dtype: torch.dtype, num_dims: int) -> float:
    """``eps(dtype) / D``: the error of a one-ulp miss in one unit-scale element. Smaller errors
    (including exact reconstructions, error 0) count as this in the log-space statistics, so an
    exact image cannot drag the geometric mean to zero."""
    return torch.finfo(dtype).eps / num_dims


def _log_stats(errors: Tensor, floor: float) -> dict[str, Any]:
    n_nonfinite = int((~errors.isfinite()).sum())
    log10 = errors.clamp_min(floor).log10()
    if n_nonfinite:
        mean, std = math.inf, math.nan
    else:
        mean = 10 ** float(log10.mean())
        std = float(log10.std(correction=0))  # population std: 0 for a single image
    return {
        "geo_mean_error": mean,
        "log10_std": std,
        "band_low": mean / 10**std if n_nonfinite == 0 else math.nan,
        "band_high": mean * 10**std if n_nonfinite == 0 else math.nan,
        "max_error": float(errors.max()) if n_nonfinite == 0 else math.inf,
        "n_images": int(errors.numel()),
        "n_nonfinite": n_nonfinite,
    }


def write_csv(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write dict rows as CSV (columns in first-seen key order; parents created); returns the path."""
    if not rows:
        raise ValueError(f"no rows to write to {str(path)!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(key for row in rows for key in row))
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def plot_inversion_accuracy(
    rows: Sequence[dict[str, Any]], path: str | Path, title: str = "Inversion accuracy"
) -> Path:
    """Plot :func:`inversion_accuracy` rows as the paper's Figure 4 and save to ``path`` (PNG/PDF).

    x: iterations per Mint layer; y (log scale): normalised L2 reconstruction error, one line per
    ``alpha`` with its +-1 log-space standard-deviation band. Uses matplotlib's Agg canvas directly,
    so no global backend is changed.
    """
    if not rows:
        raise ValueError(f"no rows to plot into {str(path)!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig = Figure(figsize=(6.0, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for method, alpha in dict.fromkeys(_curve_key(row) for row in rows):
        curve = sorted(
            (r for r in rows if _curve_key(r) == (method, alpha)), key=lambda r: r["iterations"]
        )
        steps = [r["iterations"] for r in curve]
        (line,) = ax.plot(steps, [r["geo_mean_error"] for r in curve], marker=".")
        line.set_label(
            f"alpha = {alpha:g}" if method == "fixed_point" else f"{method}, alpha = {alpha:g}"
        )
        low = [r["band_low"] for r in curve]
        high = [r["band_high"] for r in curve]
        ax.fill_between(steps, low, high, color=line.get_color(), alpha=0.2, linewidth=0)
    ax.set_yscale("log")
    ax.set_xlabel("iterations per Mint layer")
    ax.set_ylabel("normalised L2 reconstruction error")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    return path


def _curve_key(row: dict[str, Any]) -> tuple[str, float]:
    return row.get("method", "fixed_point"), row["alpha"]
