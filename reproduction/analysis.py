"""The trained flow of the results pipeline, analysed with :mod:`mintnet.analysis`: sample grids
(paper Figure 3) at two temperatures, inversion error against iterations (Figure 4) and the
tolerance stop on the same images (the paper's iteration and Anderson acceleration), and a latent interpolation between test images (Figure 5)."""

import math
import time
import warnings
from pathlib import Path
from typing import Any

import torch

from mintnet.analysis import (
    interpolation_grid,
    inversion_accuracy,
    load_flow_from_checkpoint,
    save_image_grid,
    summarize_reports,
    write_csv,
)
from mintnet.analysis.images import load_images
from mintnet.nn.image_flow import ImageFlow
from mintnet.nn.inverse import InverseSettings, InversionReport, InversionWarning, unconverged
from reproduction.profiles import Profile

__all__ = [
    "TEMPERATURES",
    "analyse_flow",
    "best_checkpoint",
    "load_saved_images",
    "tolerance_stop",
]

TEMPERATURES = (1.0, 0.8)
"""Sampling temperatures: the model itself, and the paper's reduced one."""


def best_checkpoint(run_folder: Path) -> Path:
    """The run's best checkpoint (``checkpoints/epoch_*.ckpt``; the newest if several), else
    ``last.ckpt``."""
    candidates = sorted((run_folder / "checkpoints").glob("epoch_*.ckpt"))
    if candidates:
        return candidates[-1]
    last = run_folder / "checkpoints" / "last.ckpt"
    if not last.is_file():
        raise FileNotFoundError(f"no checkpoint in {run_folder / 'checkpoints'}")
    return last


def _save_images(images: torch.Tensor, path: Path) -> None:
    """Images in [0, 1] as uint8 ``(N, C, H, W)``, for the report to tile at its own scale."""
    torch.save((images.clamp(0, 1) * 255).round().to(torch.uint8).cpu(), path)


def load_saved_images(path: Path) -> torch.Tensor:
    """What :func:`_save_images` wrote, back in [0, 1]."""
    return torch.load(path, weights_only=True).float() / 255


def _stats(reports: list[InversionReport]) -> dict[str, Any]:
    return {
        "summary": summarize_reports(reports),
        "max_iterations": max(r.iterations for r in reports),
        "evaluations_per_sample": sum(r.evaluations for r in reports),
        "mean_evaluations_per_layer": sum(r.evaluations for r in reports) / len(reports),
        "worst_residual": max(r.max_residual for r in reports),
        "tol": reports[0].tol,
        "layers": len(reports),
        "converged": all(r.converged for r in reports),
        "unconverged": unconverged(reports),
    }


@torch.no_grad()
def tolerance_stop(
    flow: ImageFlow,
    images: torch.Tensor,
    alpha: float,
    max_iter: int,
    method: str = "fixed_point",
) -> dict[str, Any]:
    """Invert ``z = f(v)`` of real images with the tolerance stop (the default float32 tolerance):
    the iterations it took and the normalised L2 error ``||v_hat - v|| / D`` (geometric mean over
    the images, as in Figure 4)."""
    v = flow.centre_logits(images)
    z, _ = flow.net(v)
    settings = InverseSettings(alpha, max_iter, None, "warn", method)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InversionWarning)
        v_hat, reports = flow.net.inverse_with_report(z, settings)
    errors = (v_hat - v).double().flatten(1).norm(dim=1) / v[0].numel()
    finite = bool(errors.isfinite().all())
    floor = torch.finfo(v.dtype).eps / v[0].numel()
    geo = math.exp(float(errors.clamp_min(floor).log().mean())) if finite else math.inf
    return {
        "method": method,
        "alpha": alpha,
        "max_iter": max_iter,
        "geo_mean_error": geo,
        **_stats(reports),
    }


def analyse_flow(
    run_folder: Path, folder: Path, data_root: str, profile: Profile
) -> dict[str, Any]:
    """Write ``samples_T<t>.png``, ``inversion_accuracy.csv``, ``interpolation.png`` into
    ``folder``; return the numbers (inversion statistics of each) for ``done.json``."""
    started = time.time()
    folder.mkdir(parents=True, exist_ok=True)
    ckpt = best_checkpoint(run_folder)
    flow = load_flow_from_checkpoint(ckpt).eval()
    alphas = list(profile.fig4_alphas)
    settings = InverseSettings(max_iter=profile.sample_max_iter)  # the default solver
    solver = {k: getattr(settings, k) for k in ("method", "alpha", "anderson_memory")}
    record: dict[str, Any] = {"checkpoint": str(ckpt), "solver": solver, "samples": {}}

    for temperature in TEMPERATURES:
        torch.manual_seed(0)
        with warnings.catch_warnings(record=True):
            images, reports = flow.sample(profile.n_samples, temperature, settings)
        images = images.nan_to_num(0.0)
        path = save_image_grid(images, folder / f"samples_T{temperature:g}.png", 8)
        _save_images(images, folder / f"samples_T{temperature:g}.pt")
        record["samples"][f"{temperature:g}"] = {"path": str(path), **_stats(reports)}

    train = load_images("fashion_mnist", data_root, "train", range(profile.fig4_images))
    methods = ("fixed_point", "anderson")
    rows = inversion_accuracy(flow, train, list(profile.fig4_iterations), alphas, methods)
    record["figure4_csv"] = str(write_csv(rows, folder / "inversion_accuracy.csv"))
    record["figure4_images"] = profile.fig4_images
    record["tolerance_stop"] = [
        tolerance_stop(flow, train, alpha, profile.sample_max_iter) for alpha in alphas
    ] + [tolerance_stop(flow, train, settings.alpha, profile.sample_max_iter, settings.method)]

    test = load_images("fashion_mnist", data_root, "test", profile.interpolation_indices)
    with warnings.catch_warnings(record=True):
        grid, reports = interpolation_grid(flow, test, profile.interpolation_steps, settings)
    steps = profile.interpolation_steps
    grid = grid.nan_to_num(0.0)
    path = save_image_grid(grid, folder / "interpolation.png", steps)
    _save_images(grid, folder / "interpolation.pt")
    record["interpolation"] = {
        "path": str(path),
        "indices": list(profile.interpolation_indices),
        **_stats(reports),
    }
    record["seconds"] = time.time() - started
    return record
