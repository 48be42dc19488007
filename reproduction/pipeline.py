"""The steps of the results pipeline (each skipped when finished, each training resumed from its
``last.ckpt`` when not; the independent runs of steps 3 and 6 up to ``jobs`` at a time), run by ``python -m reproduction`` (:mod:`reproduction.command`):

1. check that Fashion-MNIST is installed;
2. the independent-pixel baseline on the test split;
3. density: two architectures trained for the same short time; the one with the lower validation
   bits/dim wins;
4. density: the winner trained for the long budget (epochs sized from its measured speed);
5. the trained flow: samples at two temperatures, the paper's Figure 4 and Figure 5;
6. classification: the MintNet classifier and the ResNet baseline under one recipe, over several
   seeds, at a longer budget, and MintNet's ablations (:mod:`reproduction.classification`);
7. the report: plots and tables from the runs' CSV logs, and the document
   (:mod:`reproduction.report`).
"""

import math
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from mintnet.callbacks.wall_clock import EPOCH_TIME, VAL_TIME
from reproduction.classification import ClassifierRun, classifier_runs
from reproduction.processes import child_env, execute
from reproduction.profiles import Candidate, Profile
from reproduction.runs import DONE, Run, RunFailed, read_json, read_metrics, series, write_json

__all__ = ["PARTS", "Pipeline"]

PARTS = ("all", "density", "classification")
"""What ``--part`` may name: every step, steps 2-5 or step 6."""


def _hms(seconds: float) -> str:
    """Lightning's ``max_time`` format, ``DD:HH:MM:SS``."""
    s = max(1, math.ceil(seconds))
    return f"{s // 86400:02d}:{s // 3600 % 24:02d}:{s // 60 % 60:02d}:{s % 60:02d}"


class Pipeline:
    """The runs of one profile under ``out``, and the steps that make them; ``jobs``: how many
    independent training runs of a step may run at once (each with one thread)."""

    def __init__(
        self,
        profile: Profile,
        out: Path,
        data_root: str,
        log: Callable[[str], None] = print,
        download: bool = False,
        jobs: int = 1,
    ) -> None:
        self.profile, self.out, self.data_root, self.log = profile, out, data_root, log
        self.download, self.jobs = download, jobs

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

    def classify_runs(self) -> list[ClassifierRun]:
        """MintNet and ResNet with one data, optimiser, schedule and budget (the paper's Adam),
        over the profile's seeds, at the longer budget, and MintNet's ablations, in training
        order (:func:`reproduction.classification.classifier_runs`)."""
        return classifier_runs(self.profile, self.data_root, self._trainer_common())

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

        import mintnet
        from mintnet.train import instantiate, pixel_baseline

        overrides = ["experiment=fashion_mnist_density", f"paths.data_dir={self.data_root}"]
        conf = Path(mintnet.__file__).resolve().parent / "conf"  # the package's configs
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

        from reproduction.analysis import analyse_flow

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

    def run_all(self, part: str = "all") -> None:
        """Every step but the report, in order; ``part`` limits them to ``"density"`` (steps 2-5)
        or ``"classification"`` (step 6), which share no run and may run as two processes."""
        if part not in PARTS:
            raise ValueError(f"part must be one of {', '.join(PARTS)}; got {part!r}")
        if part in ("all", "density"):
            self.run_density()
        if part in ("all", "classification"):
            self.run_classification()

    def run_density(self) -> None:
        """Steps 2 to 5: the pixel baseline, the comparison, the long run and its analysis."""
        p = self.profile
        n = len(p.candidates)
        self.log("== step 2/7: independent-pixel baseline")
        self.pixel_baseline()
        self.log(
            f"== step 3/7: density, {n} architectures for {p.compare_seconds / 60:g} min each"
        )
        execute([self.compare_run(c) for c in p.candidates], self.out, self.log, self.jobs)
        plan = self.plan()
        self.log(f"== step 4/7: density, {plan['winner']} for {plan['epochs']} epochs")
        density = self.density_run(plan)
        execute([density], self.out, self.log)  # alone: its epochs were sized for one run
        self.log("== step 5/7: samples, Figure 4 and Figure 5 of the trained flow")
        self.analysis(density)

    def run_classification(self) -> None:
        """Step 6: both classifiers over the seeds, the long runs and the ablations."""
        p = self.profile
        runs = [c.run for c in self.classify_runs()]
        seeds = ", ".join(map(str, p.classify_seeds))
        self.log(
            f"== step 6/7: classification, MintNet and ResNet under one recipe: {len(runs)} runs"
            f" (both models with seeds {seeds}; both with seed {p.classify_seeds[0]} at"
            f" {p.classify_long_factor}x the epochs; {len(p.classify_ablations)} MintNet"
            f" ablation(s)), at most {self.jobs} at a time"
        )
        execute(runs, self.out, self.log, self.jobs)


def _median(values: Sequence[float]) -> float:
    values = sorted(values)
    if not values:
        return 0.0
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
