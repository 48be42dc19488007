"""The trained flow of the results pipeline, analysed with :mod:`mintnet.analysis`: sample grids
(paper Figure 3) at two temperatures, inversion error against iterations (Figure 4) and the
tolerance stop on the same images (the paper's iteration and Anderson acceleration), a latent
interpolation between test images (Figure 5), and the independent-pixel baseline."""

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
    "pixel_baseline",
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


def pixel_baseline(data_root: str) -> dict[str, Any]:
    """Test bits/dim of per-pixel histograms fitted on the training split of the density runs,
    as ``mintnet-train`` computes it, and the split's sizes."""
    from hydra import compose, initialize_config_dir

    import mintnet
    from mintnet.train import instantiate, pixel_baseline

    conf = Path(mintnet.__file__).resolve().parent / "conf"
    overrides = ["experiment=fashion_mnist_density", f"paths.data_dir={data_root}"]
    with initialize_config_dir(str(conf), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, "data.batch_size=1000"])
    datamodule = instantiate(cfg, "data")
    datamodule.setup()
    return {
        "pixel_baseline_bpd": pixel_baseline(datamodule),
        "split": {k: len(v) for k, v in datamodule.datasets.items()},
    }


def analyse_flow(
    run_folder: Path, images_dir: Path, data_root: str, profile: Profile
) -> tuple[dict[str, Any], str]:
    """Samples (:data:`TEMPERATURES`) and Figure 5 as image panels in ``images_dir``; Figure 4's
    rows and the numbers. Returns ``analysis.json``'s content and ``inversion_accuracy.csv``."""
    from reproduction.plots import IMAGE_PREFIX, image_panel

    started = time.time()
    folder = run_folder / "analysis"
    folder.mkdir(parents=True, exist_ok=True)
    ckpt = best_checkpoint(run_folder)
    flow = load_flow_from_checkpoint(ckpt).eval()
    alphas = list(profile.fig4_alphas)
    settings = InverseSettings(max_iter=profile.sample_max_iter)  # the default solver
    solver = {k: getattr(settings, k) for k in ("method", "alpha", "anderson_memory")}
    record: dict[str, Any] = {"checkpoint": ckpt.name, "solver": solver, "samples": {}}
    panels = []
    for temperature in TEMPERATURES:
        torch.manual_seed(0)
        with warnings.catch_warnings(record=True):
            images, reports = flow.sample(profile.n_samples, temperature, settings)
        panels.append((f"T = {temperature:.1f}", images.nan_to_num(0.0)))
        record["samples"][f"{temperature:g}"] = _stats(reports)
    image_panel(panels, 8, images_dir / f"{IMAGE_PREFIX}samples.png")

    train = load_images("fashion_mnist", data_root, "train", range(profile.fig4_images))
    methods = ("fixed_point", "anderson")
    rows = inversion_accuracy(flow, train, list(profile.fig4_iterations), alphas, methods)
    figure4 = write_csv(rows, folder / "inversion_accuracy.csv").read_text()
    record["figure4_images"] = profile.fig4_images
    record["tolerance_stop"] = [
        tolerance_stop(flow, train, alpha, profile.sample_max_iter) for alpha in alphas
    ] + [tolerance_stop(flow, train, settings.alpha, profile.sample_max_iter, settings.method)]

    test = load_images("fashion_mnist", data_root, "test", profile.interpolation_indices)
    with warnings.catch_warnings(record=True):
        grid, reports = interpolation_grid(flow, test, profile.interpolation_steps, settings)
    indices = ", ".join(map(str, profile.interpolation_indices))
    panel = [(f"test images {indices}", grid.nan_to_num(0.0))]
    image_panel(
        panel, profile.interpolation_steps, images_dir / f"{IMAGE_PREFIX}interpolation.png"
    )
    record["interpolation"] = {"indices": list(profile.interpolation_indices), **_stats(reports)}
    record |= pixel_baseline(data_root)
    record["seconds"] = time.time() - started
    return record, figure4
