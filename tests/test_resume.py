"""Pre-emption at any step: a run stopped by SIGTERM in the middle of an epoch and resumed from
its checkpoint ends with exactly the state of a run that was never stopped.

Every run is ``python -m mintnet.train`` in a subprocess. ``tests.signals.SigtermAtStep`` sends
the signal after a chosen optimizer step, so nothing depends on timing.
"""

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]

TINY_DENSITY = ["model.flow.net.n_layers=2", "model.flow.net.hidden_groups=2"]
BASE = [
    "data.batch_size=32",
    "seed=3",
    "trainer.max_epochs=3",
    "+trainer.limit_train_batches=6",  # 6 steps per epoch: step 8 is in the middle of epoch 1
    "+trainer.limit_val_batches=2",
    "+trainer.enable_model_summary=false",
    "callbacks.progress_bar=null",
    "callbacks.sample_images.every_n_epochs=2",  # sampling draws random numbers too
    "logger=csv",
    "test=false",
    "compare_pixel_baseline=false",
]
STEP_SCHEDULER = [
    *TINY_DENSITY,
    "model.scheduler_interval=step",
    "model.scheduler={_target_: torch.optim.lr_scheduler.StepLR, _partial_: true, step_size: 4, gamma: 0.7}",
]
SETTINGS = {
    "step_scheduler": STEP_SCHEDULER,
    "workers": [*TINY_DENSITY, "data.num_workers=2"],
    "ema": [*TINY_DENSITY, "callbacks=ema"],
    "ddp": [*TINY_DENSITY, "trainer=ddp_cpu"],
    "classifier": [  # random crops on, loaded by worker processes
        "experiment=digits_classification",
        "model.net.n_layers=2",
        "model.net.hidden_groups=2",
        "data.num_workers=2",
    ],
}
CASES = [  # (settings, step after which SIGTERM arrives, extra options of SigtermAtStep)
    pytest.param(
        "step_scheduler", 3, ["+callbacks.sigterm_at.again_while_saving=true"], id="first_epoch"
    ),
    pytest.param("step_scheduler", 8, [], id="later_epoch"),
    pytest.param("workers", 8, [], id="num_workers=2"),
    pytest.param("ema", 8, [], id="ema"),
    pytest.param("ddp", 8, [], id="ddp_cpu"),
    pytest.param("classifier", 8, [], id="classifier"),
]


def train_cli(args: list[str], run_dir: Path, expect: int = 0) -> subprocess.CompletedProcess:
    """``python -m mintnet.train ARGS`` with its output in ``run_dir``; asserts the exit status."""
    run = subprocess.run(
        [sys.executable, "-m", "mintnet.train", *args, f"hydra.run.dir={run_dir}"],
        cwd=run_dir.parent,
        env={**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == expect, run.stdout[-2000:] + run.stderr[-5000:]
    return run


def stop_at(step: int, options: list[str] = ()) -> list[str]:
    return [
        "+callbacks.sigterm_at._target_=tests.signals.SigtermAtStep",
        f"+callbacks.sigterm_at.step={step}",
        *options,
    ]


def tensors(tree: object, prefix: str = "") -> dict[str, torch.Tensor]:
    """Every tensor (and number) in a nested checkpoint entry, keyed by its path."""
    if isinstance(tree, torch.Tensor):
        return {prefix: tree}
    if isinstance(tree, int | float) and not isinstance(tree, bool):
        return {prefix: torch.tensor(float(tree), dtype=torch.float64)}
    if isinstance(tree, dict):
        items = tree.items()
    elif isinstance(tree, list | tuple):
        items = enumerate(tree)
    else:
        return {}
    found: dict[str, torch.Tensor] = {}
    for key, value in items:
        found |= tensors(value, f"{prefix}/{key}")
    return found


def final_state(run_dir: Path) -> dict[str, torch.Tensor]:
    """Weights, optimizer, schedulers and callback states (EMA weights) of ``last.ckpt``."""
    checkpoint = torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)
    kept = ("state_dict", "optimizer_states", "lr_schedulers", "callbacks", "global_step")
    state = {key: checkpoint[key] for key in kept if key in checkpoint}
    # ModelCheckpoint's state names files of its run folder; its scores are the val curve
    state["callbacks"] = {
        name: value
        for name, value in state.get("callbacks", {}).items()
        if not name.startswith("ModelCheckpoint")
    }
    return tensors(state)


def validation_curve(*run_dirs: Path) -> dict[tuple[str, int], float]:
    """``{(metric, epoch): value}`` of every ``val/...`` value in the runs' CSV logs."""
    curve: dict[tuple[str, int], float] = {}
    for run_dir in run_dirs:
        for metrics_csv in run_dir.glob("csv/version_*/metrics.csv"):
            with metrics_csv.open() as f:
                for row in csv.DictReader(f):
                    for key, value in row.items():
                        if key.startswith("val/") and value not in ("", None):
                            curve[key, int(row["epoch"])] = float(value)
    return curve


def assert_same_state(resumed: dict[str, torch.Tensor], whole: dict[str, torch.Tensor]) -> None:
    assert resumed.keys() == whole.keys()
    for key, value in whole.items():
        assert torch.allclose(resumed[key], value, atol=1e-6, rtol=0), key


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory):
    """The run of each setting that is never stopped, trained once per module."""
    runs: dict[str, Path] = {}

    def run(settings: str) -> Path:
        if settings not in runs:
            run_dir = tmp_path_factory.mktemp("whole") / settings
            train_cli(BASE + SETTINGS[settings], run_dir)
            runs[settings] = run_dir
        return runs[settings]

    return run


@pytest.mark.slow
@pytest.mark.parametrize(("settings", "step", "options"), CASES)
def test_sigterm_mid_epoch_then_resume_equals_the_uninterrupted_run(
    uninterrupted, tmp_path, settings, step, options
):
    whole = uninterrupted(settings)
    stopped = tmp_path / "stopped"
    run = train_cli(BASE + SETTINGS[settings] + stop_at(step, options), stopped, expect=143)
    checkpoint = stopped / "checkpoints" / "last.ckpt"
    assert f"resume with ckpt_path={checkpoint}" in run.stderr
    if options:  # the second signal reached the process while the file was being written
        assert "second SIGTERM sent while writing" in run.stderr
    saved = torch.load(checkpoint, weights_only=True)
    assert saved["global_step"] % 6 != 0, "the checkpoint must be from the middle of an epoch"

    resumed = tmp_path / "resumed"
    train_cli(BASE + SETTINGS[settings] + [f"ckpt_path={checkpoint}"], resumed)

    assert_same_state(final_state(resumed), final_state(whole))
    curve, whole_curve = validation_curve(stopped, resumed), validation_curve(whole)
    assert curve.keys() == whole_curve.keys() and len(curve) >= 3
    for key, value in whole_curve.items():
        assert curve[key] == pytest.approx(value, abs=1e-6), key


@pytest.mark.slow
def test_without_the_data_loader_position_a_mid_epoch_checkpoint_resumes_with_a_warning(
    uninterrupted, tmp_path
):
    """A checkpoint written mid-epoch without the loader's state (as older versions wrote them)
    still resumes, says that the epoch's data order restarts, and then ends elsewhere: the
    saved position is what makes the resumed run exact."""
    whole = uninterrupted("step_scheduler")
    stopped = tmp_path / "stopped"
    train_cli(BASE + STEP_SCHEDULER + stop_at(8), stopped, expect=143)
    checkpoint = torch.load(stopped / "checkpoints" / "last.ckpt", weights_only=True)
    assert checkpoint["loops"]["fit_loop"]["state_dict"].pop("combined_loader")
    old = tmp_path / "old.ckpt"
    torch.save(checkpoint, old)

    resumed = tmp_path / "resumed"
    run = train_cli(BASE + STEP_SCHEDULER + [f"ckpt_path={old}"], resumed)
    assert "the data order of this epoch restarts from its first batch" in run.stderr
    state, whole_state = final_state(resumed), final_state(whole)
    assert state["/global_step"] == whole_state["/global_step"]
    differs = [k for k in whole_state if not torch.allclose(state[k], whole_state[k], atol=1e-6)]
    assert any(key.startswith("/state_dict/") for key in differs)


@pytest.mark.slow
def test_the_same_command_again_continues_in_its_own_folder(uninterrupted, tmp_path):
    """``ckpt_path=auto`` (the default) on the command line: a run stopped mid-epoch and started
    again with the same command and ``hydra.run.dir`` continues from its own ``last.ckpt``, and
    ends as the run that was never stopped."""
    whole = uninterrupted("step_scheduler")
    run_dir = tmp_path / "run"
    command = BASE + STEP_SCHEDULER + stop_at(8) + ["ckpt_path=auto"]
    first = train_cli(command, run_dir, expect=143)
    checkpoint = run_dir / "checkpoints" / "last.ckpt"
    assert f"continue in this folder with hydra.run.dir={run_dir}" in first.stderr
    assert "continuing from" not in first.stderr  # a new folder starts afresh
    again = train_cli(command, run_dir)
    assert f"continuing from {checkpoint}" in again.stderr
    assert_same_state(final_state(run_dir), final_state(whole))
