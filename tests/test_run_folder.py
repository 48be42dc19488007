"""A run folder a person can live with: mistakes on the command line end in one line before any
folder or W&B run exists; a resumed run stays in its own folder; ``train.log`` tells the run's
story; Ctrl-C keeps the exact state; checkpoints honour the umask; ``make clean`` keeps runs."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from mintnet.checkpoint import save_file
from tests.test_resume import BASE, ROOT, stop_at

TINY_RUN = [  # BASE with the text progress bar, the test and the baseline
    *(a for a in BASE[:-2] if a != "callbacks.progress_bar=null"),
    "trainer.max_epochs=1",
]


def mintnet(module: str, args: list[str], cwd: Path, expect: int) -> subprocess.CompletedProcess:
    run = subprocess.run(
        [sys.executable, "-m", module, *args],
        cwd=cwd,
        env={
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "OMP_NUM_THREADS": "1",
            "WANDB_MODE": "offline",
        },
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == expect, run.stdout[-2000:] + run.stderr[-3000:]
    return run


@pytest.mark.parametrize(
    ("module", "args", "message"),
    [
        ("mintnet.train", ["ckpt_path=missing.ckpt"], "checkpoint missing.ckpt does not exist"),
        ("mintnet.train", ["ckpt_path=broken.ckpt"], "checkpoint broken.ckpt cannot be read"),
        ("mintnet.eval", [], "ckpt_path is required"),
        ("mintnet.eval", ["ckpt_path=missing.ckpt"], "checkpoint missing.ckpt does not exist"),
        pytest.param(
            "mintnet.train",
            ["trainer=gpu"],
            "no CUDA GPU is visible on this machine",
            marks=pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is here"),
        ),
    ],
)
def test_a_bad_launch_is_one_line_and_leaves_nothing_behind(tmp_path, module, args, message):
    (tmp_path / "broken.ckpt").write_bytes(b"PK\x03\x04 not a whole zip")
    run = mintnet(module, args, tmp_path, expect=1)
    program = "mintnet-eval" if module.endswith("eval") else "mintnet-train"
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith(f"{program}: error: ") and message in lines[-1], run.stderr
    assert "Traceback" not in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.ckpt"]  # no logs/, no wandb/


@pytest.mark.slow
def test_a_run_resumed_from_its_last_checkpoint_continues_in_its_own_folder(tmp_path):
    first = tmp_path / "first"
    mintnet("mintnet.train", [*TINY_RUN, f"hydra.run.dir={first}"], tmp_path, expect=0)
    last = first / "checkpoints" / "last.ckpt"
    again = [*TINY_RUN, "trainer.max_epochs=2", f"ckpt_path={last}"]
    run = mintnet("mintnet.train", again, tmp_path, expect=0)
    assert f"continuing in the run's own folder {first}" in run.stderr
    assert f"run folder:      {first}" in run.stdout
    assert not (tmp_path / "logs").exists()  # no second, timestamped folder
    assert torch.load(last, weights_only=True)["epoch"] == 1
    log = (first / "train.log").read_text()
    for line in ("epoch 1/1 done", "epoch 2/2 done", "test bits/dim", "continuing from"):
        assert line in log, line
    assert "steps/s" not in run.stdout or "e-0" not in run.stdout  # no rate from a wrong origin


@pytest.mark.slow
def test_ctrl_c_stops_after_the_step_with_the_exact_state(tmp_path):
    run_dir = tmp_path / "run"
    args = [*BASE, *stop_at(3, ["+callbacks.sigterm_at.name=SIGINT"]), f"hydra.run.dir={run_dir}"]
    run = mintnet("mintnet.train", args, tmp_path, expect=143)
    assert "stopped by SIGINT; checkpoint" in run.stderr
    assert f"hydra.run.dir={run_dir}" in run.stderr
    # sent after step 3's callbacks ran: the run stops at the end of the next step, 4
    assert torch.load(run_dir / "checkpoints" / "last.ckpt", weights_only=True)["global_step"] == 4
    assert "stopped by SIGINT" in (run_dir / "train.log").read_text()


@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o002, 0o664), (0o077, 0o600)])
def test_checkpoints_get_the_permissions_of_the_umask(tmp_path, umask, mode):
    before = os.umask(umask)
    try:
        path = save_file({"x": torch.zeros(1)}, tmp_path / "a.ckpt")
    finally:
        os.umask(before)
    assert path.stat().st_mode & 0o777 == mode


def test_make_clean_keeps_the_runs():
    dry = subprocess.run(
        ["make", "-n", "clean"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "rm -rf" in dry.stdout and " logs" not in dry.stdout
    dry = subprocess.run(
        ["make", "-n", "clean-logs"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert "rm -rf logs" in dry.stdout and "read -r" in dry.stdout  # only after asking
