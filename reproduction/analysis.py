"""The trained flow, analysed with :mod:`mintnet.analysis`: samples at two temperatures (paper
Figure 3), inversion error against iterations (Figure 4), a latent interpolation between test
images (Figure 5), and the independent-pixel baseline; recorded in ``analysis/``. Needs the long
run's checkpoint."""

import time
import warnings
from pathlib import Path
from typing import Any

import torch
from omegaconf import OmegaConf

from mintnet.analysis import (
    figure4_work,
    interpolation_grid,
    inversion_accuracy,
    load_flow_from_checkpoint,
    write_csv,
)
from mintnet.analysis.images import load_images
from mintnet.cli.progress import progress_bar
from mintnet.nn.inverse import InverseSettings, InversionReport
from mintnet.train import instantiate, pixel_baseline
from reproduction.plots import grey_grid, png
from reproduction.profiles import Profile
from reproduction.records import ANALYSIS, as_json, machine, write_files

__all__ = ["TEMPERATURES", "record_analysis"]

TEMPERATURES = (1.0, 0.8)
"""Sampling temperatures: the model itself, and the paper's reduced one."""


def _stats(reports: list[InversionReport]) -> dict[str, Any]:
    """The most iterations, the evaluations per sample and the worst residual of an inversion."""
    return {
        "max_iterations": max(r.iterations for r in reports),
        "evaluations_per_sample": sum(r.evaluations for r in reports),
        "worst_residual": max(r.max_residual for r in reports),
        "tol": reports[0].tol,
        "converged": all(r.converged for r in reports),
    }


def record_analysis(
    profile: Profile, folder: Path, records: Path, images: Path, data_root: str
) -> None:
    """Analyse the long run's flow in its job ``folder``: the samples and Figure 5 as image
    panels in ``images``, the numbers (``analysis.json``) and Figure 4's rows
    (``inversion_accuracy.csv``) recorded in ``<records>/analysis``."""
    print("[run] analysis of the trained flow: samples, Figure 4, Figure 5", flush=True)
    started = time.time()
    if not (found := sorted((folder / "checkpoints").glob("epoch_*.ckpt"))):
        raise RuntimeError(
            f"the analysis needs the long density run's checkpoints in {folder}, which are only "
            f"on the machine that trained it: remove {records / 'density'} and train it again"
        )
    ckpt = found[-1]  # the best
    flow = load_flow_from_checkpoint(ckpt).eval()
    settings = InverseSettings(max_iter=profile.sample_max_iter)  # the default solver
    solver = {k: getattr(settings, k) for k in ("method", "alpha", "anderson_memory")}
    record: dict[str, Any] = {"checkpoint": ckpt.name, "solver": solver, "samples": {}}
    samples = []
    for temperature in TEMPERATURES:
        torch.manual_seed(0)
        with warnings.catch_warnings(record=True):
            drawn, reports = flow.sample(profile.n_samples, temperature, settings)
        samples.append(drawn)
        record["samples"][f"{temperature:g}"] = _stats(reports)
    grey_grid(torch.cat(samples), 8, png(images, "samples"))

    train = load_images("fashion_mnist", data_root, "train", range(profile.fig4_images))
    iterations, alphas = list(profile.fig4_iterations), list(profile.fig4_alphas)
    methods = ("fixed_point", "anderson")
    work = figure4_work(flow, iterations, len(alphas) * len(methods))
    with progress_bar("Figure 4", work) as advance:
        rows = inversion_accuracy(flow, train, iterations, alphas, methods, advance)
    figure4 = write_csv(rows, folder / "inversion_accuracy.csv").read_text()
    record["figure4_images"] = profile.fig4_images

    indices = profile.interpolation_indices
    test = load_images("fashion_mnist", data_root, "test", indices)
    with warnings.catch_warnings(record=True):
        grid, reports = interpolation_grid(flow, test, profile.interpolation_steps, settings)
    grey_grid(grid, profile.interpolation_steps, png(images, "interpolation"))
    record["interpolation"] = {"indices": list(indices), **_stats(reports)}
    # the run's own data config, as mintnet-train fitted the baseline
    config = OmegaConf.load(folder / ".hydra" / "config.yaml")
    record["pixel_baseline_bpd"] = pixel_baseline(instantiate(config, "data"))
    record |= {"seconds": time.time() - started, "machine": machine()}
    files = {"analysis.json": as_json(record), "inversion_accuracy.csv": figure4}
    print(f"[record] analysis: {write_files(records / ANALYSIS, files)}", flush=True)
