"""``python -m mintnet.results``: the Fashion-MNIST results, from scratch, in one command.

Steps (each skipped when finished, each training resumed from its ``last.ckpt`` when not):

1. check that Fashion-MNIST is installed;
2. the independent-pixel baseline on the test split;
3. density: two architectures trained for the same short time; the one with the lower validation
   bits/dim wins;
4. density: the winner trained for the long budget (epochs sized from its measured speed);
5. the trained flow: samples at two temperatures, the paper's Figure 4 and Figure 5;
6. classification: the MintNet classifier and the ResNet baseline under one recipe;
7. the report: plots and tables from the runs' CSV logs, and the document.

``--quick`` runs the same steps with tiny models and a few batches (a smoke test, minutes).
"""

import argparse
import math
import os
import platform
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mintnet.results.runs import (
    DONE,
    Interrupted,
    Run,
    RunFailed,
    child_env,
    forward_signals,
    read_json,
    read_metrics,
    series,
    write_json,
)
from mintnet.results.timing import EPOCH_TIME, VAL_TIME

__all__ = [
    "FULL",
    "PROFILES",
    "QUICK",
    "Candidate",
    "Pipeline",
    "Profile",
    "main",
]

PAPER_MNIST_ALPHA = 1 / 3.5
"""The fixed-point step size of the paper's MNIST model (its released config's ``newton_lr``)."""


@dataclass(frozen=True)
class Candidate:
    """A density architecture for the short comparison: ``n_layers`` lower/upper pairs, ``K`` at
    the first scale, two squeezes."""

    name: str
    description: str
    n_layers: int
    hidden_groups: int

    def overrides(self) -> list[str]:
        return [
            f"model.net.n_layers={self.n_layers}",
            f"model.net.hidden_groups={self.hidden_groups}",
        ]


@dataclass(frozen=True)
class Profile:
    """Sizes and budgets of one pipeline mode; every run's recipe is derived from these."""

    name: str
    candidates: tuple[Candidate, ...]
    compare_seconds: float  # each candidate's training time
    compare_max_epochs: int  # a cap that the time limit should reach first
    density_seconds: float  # the long run's training budget
    density_max_epochs: int  # a cap on the long run's epochs
    density_batch: int
    compare_batches: int  # training batches per epoch (one validation per epoch)
    density_batches: int
    classify_epochs: int
    classify_batches: int
    classify_batch: int
    mint_classifier: tuple[str, ...]
    resnet: tuple[str, ...]
    mint_description: str
    resnet_description: str
    eval_batches: float = 1.0  # validation and test batches (a fraction, or a count)
    log_every: int = 10  # steps between logged training rows
    callbacks_every: int = 5  # epochs between the callbacks' sample grids and inversion checks
    n_samples: int = 64
    fig4_images: int = 64
    fig4_iterations: tuple[int, ...] = (1, 11, 21, 41, 61, 81, 101, 141, 201)
    fig4_alphas: tuple[float, ...] = (PAPER_MNIST_ALPHA, 1.0)
    sample_max_iter: int = 500
    interpolation_indices: tuple[int, int, int, int] = (3, 15, 32, 17)
    interpolation_steps: int = 8


FULL = Profile(
    name="full",
    candidates=(
        Candidate(
            "deep", "20 pairs as in the paper's MNIST flow, at K = 16 instead of 45", 20, 16
        ),
        Candidate("wide", "6 pairs instead of 20, at the paper's MNIST K = 45", 6, 45),
    ),
    compare_seconds=5 * 60,
    compare_max_epochs=1000,
    density_seconds=50 * 60,
    density_max_epochs=200,
    density_batch=64,
    compare_batches=100,
    density_batches=400,
    classify_epochs=10,
    classify_batches=150,
    classify_batch=128,
    mint_classifier=("model.net.n_layers=4", "model.net.n_squeezes=1"),
    resnet=("model.net.blocks=[4,4]", "model.net.widths=[16,64]"),
    mint_description="4 pairs (8 Mint layers), K = 1, one squeeze, input padded to 16 channels",
    resnet_description="4 + 4 residual blocks at 16 and 64 channels",
)
"""What ``make results`` runs: about 100 minutes on two CPU cores."""

QUICK = Profile(
    name="quick",
    candidates=(
        Candidate("deep", "6 pairs, K = 2", 6, 2),
        Candidate("wide", "3 pairs, K = 8", 3, 8),
    ),
    compare_seconds=60,
    compare_max_epochs=1,
    density_seconds=10,
    density_max_epochs=1,
    density_batch=16,
    compare_batches=2,
    density_batches=2,
    classify_epochs=1,
    classify_batches=2,
    classify_batch=16,
    mint_classifier=("model.net.n_layers=2", "model.net.n_squeezes=1"),
    resnet=("model.net.blocks=[1,1]", "model.net.widths=[8,16]"),
    mint_description="2 pairs, K = 1, one squeeze",
    resnet_description="1 + 1 residual blocks at 8 and 16 channels",
    eval_batches=2,
    log_every=1,
    callbacks_every=1,
    n_samples=16,
    fig4_images=8,
    fig4_iterations=(1, 5, 10),
    sample_max_iter=200,
    interpolation_indices=(0, 1, 2, 3),
    interpolation_steps=4,
)
"""``--quick``: the same steps with tiny models and two batches per epoch."""

PROFILES = {"full": FULL, "quick": QUICK}


def _hms(seconds: float) -> str:
    """Lightning's ``max_time`` format, ``DD:HH:MM:SS``."""
    s = max(1, math.ceil(seconds))
    return f"{s // 86400:02d}:{s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


class Pipeline:
    """The runs of one profile under ``out``, and the steps that make them."""

    def __init__(
        self,
        profile: Profile,
        out: Path,
        data_root: str,
        log: Callable[[str], None] = print,
        download: bool = False,
    ) -> None:
        self.profile, self.out, self.data_root, self.log = profile, out, data_root, log
        self.download = download

    # -- the recipes ---------------------------------------------------------------------------

    def _trainer_common(self) -> list[str]:
        p = self.profile
        return [
            f"++trainer.limit_val_batches={p.eval_batches}",
            f"++trainer.limit_test_batches={p.eval_batches}",
            f"trainer.log_every_n_steps={p.log_every}",
        ]

    def _density_common(self, batches: int, callbacks: bool) -> list[str]:
        p = self.profile
        if callbacks:  # sample grids and the inversion check, every few epochs
            every = [
                f"callbacks.sample_images.every_n_epochs={p.callbacks_every}",
                f"callbacks.inversion_error.every_n_epochs={p.callbacks_every}",
            ]
        else:  # they would take from a run's training time
            every = ["callbacks.sample_images=null", "callbacks.inversion_error=null"]
        return [
            "experiment=fashion_mnist_density",
            f"paths.data_dir={self.data_root}",
            f"data.batch_size={p.density_batch}",
            "data.num_workers=0",
            f"trainer.limit_train_batches={batches}",
            *self._trainer_common(),
            *every,
        ]

    def compare_run(self, candidate: Candidate) -> Run:
        """A candidate trained for ``compare_seconds`` at a constant learning rate."""
        p = self.profile
        overrides = [
            *self._density_common(p.compare_batches, callbacks=False),
            *candidate.overrides(),
            "model.scheduler=null",
            f"trainer.max_epochs={p.compare_max_epochs}",
            f"++trainer.max_time={_hms(p.compare_seconds)}",
        ]
        return Run(f"density_compare_{candidate.name}", tuple(overrides))

    def density_run(self, plan: dict[str, Any]) -> Run:
        """The chosen architecture for ``plan["epochs"]`` epochs of cosine annealing."""
        candidate = next(c for c in self.profile.candidates if c.name == plan["winner"])
        overrides = [
            *self._density_common(self.profile.density_batches, callbacks=True),
            *candidate.overrides(),
            f"trainer.max_epochs={plan['epochs']}",
            f"++trainer.max_time={_hms(2 * self.profile.density_seconds)}",  # a safety stop
        ]
        return Run("density", tuple(overrides))

    def classify_runs(self) -> tuple[Run, Run]:
        """MintNet and ResNet with one data, optimiser, schedule and budget (the paper's Adam)."""
        p = self.profile
        common = [
            "data=fashion_mnist",
            f"paths.data_dir={self.data_root}",
            "task_name=fashion_mnist_classification",
            f"data.batch_size={p.classify_batch}",
            "data.num_workers=0",
            "data.augment=[random_crop,hflip]",
            "data.crop_padding=2",
            "model.optimizer.lr=0.001",
            "model.scheduler={_target_:torch.optim.lr_scheduler.CosineAnnealingLR,_partial_:true,"
            f"T_max:{p.classify_epochs},eta_min:0.0}}",
            f"trainer.max_epochs={p.classify_epochs}",
            f"++trainer.limit_train_batches={p.classify_batches}",
            *self._trainer_common(),
        ]
        return (
            Run("classify_mintnet", ("model=mintnet_classifier", *common, *p.mint_classifier)),
            Run("classify_resnet", ("model=resnet_classifier", *common, *p.resnet)),
        )

    # -- the steps -----------------------------------------------------------------------------

    def check_data(self) -> None:
        """Raise :class:`~mintnet.data.errors.DatasetNotFoundError` unless Fashion-MNIST is found
        (after fetching it into ``<data root>/FashionMNIST/raw`` with ``download``)."""
        from mintnet.data import FashionMNISTDataModule

        FashionMNISTDataModule(root=self.data_root, download=self.download).prepare_data()

    def pixel_baseline(self) -> dict[str, Any]:
        """Test bits/dim of per-pixel histograms fitted on the training split, as the train CLI
        computes it, on the split of the density runs."""
        path = self.out / "pixel_baseline.json"
        record = read_json(path)
        if record is not None:
            self.log(f"[skip] independent-pixel baseline: {record['test/pixel_baseline_bpd']:.4f}")
            return record
        from hydra import compose, initialize_config_dir

        from mintnet.train import instantiate, pixel_baseline

        conf = Path(__file__).resolve().parents[1] / "conf"  # the package's configs
        overrides = ["experiment=fashion_mnist_density", f"paths.data_dir={self.data_root}"]
        with initialize_config_dir(str(conf), version_base="1.3"):
            cfg = compose("train", overrides=[*overrides, "data.batch_size=1000"])
        datamodule = instantiate(cfg, "data")
        datamodule.setup()
        started = time.time()
        bpd = pixel_baseline(datamodule)
        record = {
            "test/pixel_baseline_bpd": bpd,
            "split": {k: len(v) for k, v in datamodule.datasets.items()},
            "seconds": time.time() - started,
        }
        write_json(path, record)
        self.log(f"[done] independent-pixel baseline: {bpd:.4f} bits/dim ({path})")
        return record

    def plan(self) -> dict[str, Any]:
        """The comparison's winner and the long run's epochs, fixed in ``plan.json`` once made."""
        path = self.out / "plan.json"
        plan = read_json(path)
        if plan is not None:
            self.log(f"[skip] plan: {plan['winner']} for {plan['epochs']} epochs ({path})")
            return plan
        p = self.profile
        scores = {}
        for candidate in p.candidates:
            rows = read_metrics(self.compare_run(candidate).folder(self.out))
            val = [v for _, v in series(rows, "val/bpd")]
            epoch = _median([v for _, v in series(rows, EPOCH_TIME, "epoch")])
            val_seconds = _median([v for _, v in series(rows, VAL_TIME, "epoch")])
            if not val or not epoch:
                raise RunFailed(f"{candidate.name}: no val/bpd or epoch times in its log")
            scores[candidate.name] = {
                "best_val_bpd": min(val),
                "seconds_per_step": (epoch - val_seconds) / p.compare_batches,
                "val_seconds": val_seconds,
            }
        winner = min(scores, key=lambda name: scores[name]["best_val_bpd"])
        speed = scores[winner]
        epoch_seconds = speed["seconds_per_step"] * p.density_batches + speed["val_seconds"]
        epochs = max(1, min(p.density_max_epochs, int(p.density_seconds // epoch_seconds)))
        plan = {
            "winner": winner,
            "scores": scores,
            "budget_seconds": p.density_seconds,
            "estimated_epoch_seconds": epoch_seconds,
            "epochs": epochs,
        }
        write_json(path, plan)
        self.log(
            f"[plan] {winner} wins (best val bits/dim "
            + ", ".join(f"{k} {v['best_val_bpd']:.4f}" for k, v in scores.items())
            + f"); long run: {epochs} epochs of about {epoch_seconds:.0f} s ({path})"
        )
        return plan

    def analysis(self, density: Run) -> dict[str, Any]:
        import torch

        from mintnet.results.analysis import analyse_flow

        folder = density.folder(self.out) / "analysis"
        record = read_json(folder / DONE)
        if record is not None:
            self.log(f"[skip] analysis: finished ({folder / DONE})")
            return record
        self.log(f"[run] analysis of the trained flow; files in {folder}")
        torch.set_num_threads(int(child_env()["OMP_NUM_THREADS"]))  # as many as a training run
        record = analyse_flow(density.folder(self.out), folder, self.data_root, self.profile)
        write_json(folder / DONE, record)
        self.log(f"[done] analysis in {record['seconds'] / 60:.1f} min")
        return record

    def run_all(self) -> None:
        """Every step but the report, in order."""
        p = self.profile
        n = len(p.candidates)
        self.log("== step 2/7: independent-pixel baseline")
        self.pixel_baseline()
        self.log(
            f"== step 3/7: density, {n} architectures for {p.compare_seconds / 60:g} min each"
        )
        for candidate in p.candidates:
            self.compare_run(candidate).execute(self.out, self.log)
        plan = self.plan()
        self.log(f"== step 4/7: density, {plan['winner']} for {plan['epochs']} epochs")
        density = self.density_run(plan)
        density.execute(self.out, self.log)
        self.log("== step 5/7: samples, Figure 4 and Figure 5 of the trained flow")
        self.analysis(density)
        self.log("== step 6/7: classification, MintNet and ResNet under one recipe")
        for run in self.classify_runs():
            run.execute(self.out, self.log)


def _median(values: Sequence[float]) -> float:
    values = sorted(values)
    if not values:
        return 0.0
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2


def machine() -> dict[str, Any]:
    """What the runs ran on."""
    import torch

    from mintnet.resolvers import available_cpus

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpus_available": available_cpus(),
        "threads": os.environ.get("OMP_NUM_THREADS", "1"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m mintnet.results",
        description="Train, measure and plot the Fashion-MNIST results, and write the document. "
        "Interrupt it at any time: run it again to skip what is finished and resume the rest.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny models, a few batches each")
    parser.add_argument(
        "--data-root",
        default=os.environ.get("MINTNET_DATA_DIR", "data"),
        help="holds FashionMNIST/raw (default: $MINTNET_DATA_DIR or data; Debian's "
        "/usr/share/datasets/fashion-mnist is tried after it)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="runs folder (default: results/fashion_mnist, --quick: results/quick)",
    )
    parser.add_argument(
        "--doc",
        type=Path,
        help="document to write (default: docs/results.md, --quick: <out>/results.md)",
    )
    parser.add_argument(
        "--download", action="store_true", help="fetch Fashion-MNIST if missing (needs network)"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="only regenerate plots, tables and document"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the pipeline; returns the exit code (0, 1 failed, 2 no data, 128 + signal stopped)."""
    args = _parser().parse_args(argv)
    profile = QUICK if args.quick else FULL
    out = args.out or Path("results") / ("quick" if args.quick else "fashion_mnist")
    doc = args.doc or (out / "results.md" if args.quick else Path("docs/results.md"))
    log = _printer()
    log(f"mintnet results ({profile.name}): runs in {out}, document {doc}")
    pipeline = Pipeline(profile, out, args.data_root, log, args.download)
    log("== step 1/7: Fashion-MNIST files")
    from mintnet.data.errors import DatasetNotFoundError

    try:
        pipeline.check_data()
    except DatasetNotFoundError as error:
        print(f"mintnet-results: error: {error}", file=sys.stderr)
        print(
            "mintnet-results: install it with `apt-get install -y dataset-fashion-mnist`, or, where "
            "there is network, run again with --download (make results ARGS=--download), which "
            f"fetches it into {args.data_root}/FashionMNIST/raw as data.download=true does",
            file=sys.stderr,
        )
        return 2
    if not (out / "machine.json").is_file():
        write_json(out / "machine.json", machine())
    if not args.report_only:
        with forward_signals():
            try:
                pipeline.run_all()
            except Interrupted as stop:
                log(f"mintnet-results: {stop}; run the same command again to resume")
                return 128 + stop.signum
            except RunFailed as error:
                print(f"mintnet-results: error: {error}", file=sys.stderr)
                return 1
    log("== step 7/7: plots, tables and the document")
    from mintnet.results.report import write_report

    try:
        written = write_report(pipeline, doc)
    except FileNotFoundError as error:
        print(f"mintnet-results: error: {error}", file=sys.stderr)
        return 1
    for path in written:
        log(f"wrote {path}")
    return 0


def _printer() -> Callable[[str], None]:
    def log(message: str) -> None:
        print(message, flush=True)

    return log


if __name__ == "__main__":
    raise SystemExit(main())
