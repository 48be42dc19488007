"""The trained flow, analysed with :mod:`mintnet.analysis`: samples at two temperatures (paper
Figure 3), inversion error against iterations (Figure 4), a latent interpolation between test
images (Figure 5), and the independent-pixel baseline. Needs the long run's checkpoint."""

import time
import warnings
from pathlib import Path
from typing import Any

import torch

from mintnet.analysis import (
    interpolation_grid,
    inversion_accuracy,
    load_flow_from_checkpoint,
    write_csv,
)
from mintnet.analysis.images import load_images
from mintnet.nn.inverse import InverseSettings, InversionReport
from reproduction.plots import IMAGE_PREFIX, image_panel
from reproduction.profiles import Profile

__all__ = ["TEMPERATURES", "analyse_flow", "pixel_baseline"]

TEMPERATURES = (1.0, 0.8)
"""Sampling temperatures: the model itself, and the paper's reduced one."""


def _stats(reports: list[InversionReport]) -> dict[str, Any]:
    return {
        "max_iterations": max(r.iterations for r in reports),
        "evaluations_per_sample": sum(r.evaluations for r in reports),
        "worst_residual": max(r.max_residual for r in reports),
        "tol": reports[0].tol,
        "converged": all(r.converged for r in reports),
    }


def pixel_baseline(data_root: str) -> dict[str, Any]:
    """Test bits/dim of per-pixel histograms fitted on the density runs' training split, as
    ``mintnet-train`` computes it."""
    from hydra import compose, initialize_config_dir

    import mintnet
    from mintnet.train import instantiate, pixel_baseline

    conf = Path(mintnet.__file__).resolve().parent / "conf"
    overrides = ["experiment=fashion_mnist_density", f"paths.data_dir={data_root}"]
    with initialize_config_dir(str(conf), version_base="1.3"):
        cfg = compose("train", overrides=[*overrides, "data.batch_size=1000"])
    datamodule = instantiate(cfg, "data")
    datamodule.setup()
    return {"pixel_baseline_bpd": pixel_baseline(datamodule)}


def analyse_flow(
    run_folder: Path, images_dir: Path, data_root: str, profile: Profile
) -> tuple[dict[str, Any], str]:
    """Samples and Figure 5 as image panels in ``images_dir``; returns the numbers
    (``analysis.json``) and Figure 4's rows (``inversion_accuracy.csv``)."""
    started = time.time()
    ckpt = sorted((run_folder / "checkpoints").glob("epoch_*.ckpt"))[-1]  # the best
    flow = load_flow_from_checkpoint(ckpt).eval()
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
    iterations, alphas = list(profile.fig4_iterations), list(profile.fig4_alphas)
    rows = inversion_accuracy(flow, train, iterations, alphas, ("fixed_point", "anderson"))
    figure4 = write_csv(rows, run_folder / "inversion_accuracy.csv").read_text()
    record["figure4_images"] = profile.fig4_images

    indices = profile.interpolation_indices
    test = load_images("fashion_mnist", data_root, "test", indices)
    with warnings.catch_warnings(record=True):
        grid, reports = interpolation_grid(flow, test, profile.interpolation_steps, settings)
    panel = [(f"test images {', '.join(map(str, indices))}", grid.nan_to_num(0.0))]
    path = images_dir / f"{IMAGE_PREFIX}interpolation.png"
    image_panel(panel, profile.interpolation_steps, path)
    record["interpolation"] = {"indices": list(indices), **_stats(reports)}
    record |= pixel_baseline(data_root)
    record["seconds"] = time.time() - started
    return record, figure4
