"""What a training run produced: its metrics and files (:class:`RunResult`), the lines a person
reads at its end (:func:`summary`), and the value a sweeper optimises (:func:`objective`)."""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

__all__ = ["RunResult", "objective", "result_of", "summary"]


@dataclass
class RunResult:
    """What a training run produced."""

    metrics: dict[str, float]
    output_dir: Path
    checkpoint: Path | None = None
    samples: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def result_of(trainer: pl.Trainer, metrics: dict[str, float]) -> RunResult:
    """The run of ``trainer``: ``metrics``, its folder, best checkpoint and last sample grid, and
    the monitored metric's best value as the checkpoint callback knows it (restored with a resumed
    run, even one that had no epoch left to validate) as ``extra["best_model_score"]``."""
    callback = trainer.checkpoint_callback
    best = callback.best_model_path if callback else ""
    score = callback.best_model_score if callback else None
    samples = sorted(Path(trainer.default_root_dir).glob("samples/*.png"))
    return RunResult(
        metrics,
        Path(trainer.default_root_dir),
        Path(best) if best else None,
        samples[-1] if samples else None,
        {"best_model_score": None if score is None else float(score)},
    )


def summary(result: RunResult) -> str:
    """What a person wants to read at the end of a run."""
    metrics = result.metrics
    lines = [f"run folder:      {result.output_dir}"]
    if result.checkpoint:
        lines.append(f"best checkpoint: {result.checkpoint}")
    if result.samples:
        lines.append(f"sample grid:     {result.samples}")
    if "test/bpd" in metrics:
        lines.append(f"test bits/dim: {metrics['test/bpd']:.4f}")
    if "test/pixel_baseline_bpd" in metrics:
        base = metrics["test/pixel_baseline_bpd"]
        verdict = "beats" if metrics.get("test/bpd", float("inf")) < base else "does NOT beat"
        lines.append(f"independent-pixel baseline: {base:.4f} bits/dim (the model {verdict} it)")
    if "test/acc" in metrics:
        lines.append(f"test accuracy: {metrics['test/acc']:.4f}")
    return "\n".join(lines)


def objective(cfg: DictConfig, result: RunResult) -> float | None:
    """The value returned to Hydra's sweeper: ``monitor.objective`` (by default the best value
    of the monitored metric during the run, e.g. ``val/bpd_best``), else the monitored metric."""
    metric = OmegaConf.select(cfg, "monitor.objective", default=None) or cfg.monitor.metric
    value = result.metrics.get(metric, result.metrics.get(cfg.monitor.metric))
    value = result.extra.get("best_model_score") if value is None else value
    return None if value is None else float(value)
