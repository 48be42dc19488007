"""W&B as the dashboard: one run per run folder across resumes, best values in the summary,
offline by default and online by one environment variable, offline runs uploaded by mintnet-sync."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mintnet import dashboard
from mintnet.cli import sync
from mintnet.config import ConfigError
from mintnet.train import build
from tests.test_resume import BASE, stop_at, train_cli
from tests.wandb_records import read_records


def run_ids(run_dir) -> list[str]:
    ids = []
    for run_file in sorted(run_dir.glob("wandb/offline-run-*/run-*.wandb")):
        ids += [
            r.run.run_id for r in read_records(run_file) if r.WhichOneof("record_type") == "run"
        ]
    return ids


@pytest.mark.slow
def test_a_resumed_run_continues_the_same_wandb_run(tmp_path, wandb_offline):
    args = [a for a in BASE if not a.startswith("logger=")] + ["logger=wandb"]
    stopped, resumed = tmp_path / "stopped", tmp_path / "resumed"
    train_cli(args + stop_at(8), stopped, expect=143)
    checkpoint = stopped / "checkpoints" / "last.ckpt"
    (first,) = run_ids(stopped)
    saved = torch.load(checkpoint, weights_only=True)["mintnet"]["wandb_id"]
    assert saved == first == (stopped / "wandb" / "run_id").read_text().strip()

    train_cli(args + [f"ckpt_path={checkpoint}"], resumed)  # another folder: the id is the ckpt's
    assert run_ids(resumed) == [first]


def test_a_requeued_run_in_the_same_folder_keeps_its_id(tmp_path):
    fresh = dashboard.choose_run_id(tmp_path)
    assert len(fresh) == 8 and fresh.isalnum()
    (tmp_path / dashboard.RUN_ID_FILE).parent.mkdir()
    (tmp_path / dashboard.RUN_ID_FILE).write_text("abc12345\n")
    assert dashboard.choose_run_id(tmp_path) == "abc12345"
    assert dashboard.choose_run_id(tmp_path, ckpt_path=str(tmp_path / "none.ckpt")) == "abc12345"


@pytest.mark.parametrize(("mode", "offline"), [(None, True), ("offline", True), ("online", False)])
def test_wandb_is_offline_unless_wandb_mode_says_otherwise(
    compose_cfg, monkeypatch, mode, offline
):
    if mode is None:
        monkeypatch.delenv("WANDB_MODE", raising=False)
    else:
        monkeypatch.setenv("WANDB_MODE", mode)
    cfg = compose_cfg(["logger=wandb", "logger.wandb.entity=my-team"])
    assert cfg.logger.wandb.offline is offline
    assert cfg.logger.wandb.entity == "my-team" and cfg.logger.wandb.resume == "allow"


def test_uploading_checkpoints_needs_online_logging(compose_cfg, wandb_offline):
    cfg = compose_cfg(["logger=wandb", "logger.wandb.log_model=true"])
    with pytest.raises(
        ConfigError, match="logger.wandb.log_model=True: .*log_model=True and offline=True"
    ):
        build(cfg)


def offline_run(parent, name: str):
    folder = parent / "wandb" / name
    folder.mkdir(parents=True)
    return folder


def test_mintnet_sync_finds_every_offline_run_oldest_first(tmp_path, monkeypatch, capsys):
    logs = tmp_path / "logs"
    single = offline_run(
        logs / "train" / "2026-11-30_10-00-00", "offline-run-20261130_100001-aaaa1111"
    )
    jobs = [
        offline_run(
            logs / "train" / "multirun_x" / str(job), f"offline-run-20261130_11000{job}-b{job}"
        )
        for job in range(2)
    ]
    resumed = offline_run(logs / "train" / "later", "offline-run-20261130_120000-aaaa1111")
    assert dashboard.offline_runs([logs]) == [single, *jobs, resumed]

    sync.main([str(logs), "--dry-run"])
    assert "4 offline run(s); --dry-run: nothing uploaded" in capsys.readouterr().out

    calls = []
    monkeypatch.setattr(
        subprocess,
        "run",
        lambda command, check: calls.append(command) or subprocess.CompletedProcess(command, 0),
    )
    with pytest.raises(SystemExit) as done:
        sync.main([str(logs / "train" / "multirun_x"), "--", "--include-offline"])
    assert done.value.code == 0
    assert calls == [[sys.executable, "-m", "wandb", "sync", "--include-offline", *map(str, jobs)]]


def test_mintnet_sync_says_when_there_is_nothing_to_upload(tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        sync.main([str(tmp_path)])
    assert done.value.code == 1
    assert f"no offline W&B runs under {tmp_path}" in capsys.readouterr().err


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in (p for p in Path("/proc").iterdir() if p.name.isdigit()):
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")
def test_the_wandb_service_survives_the_time_limit_warning_sent_to_the_whole_job(
    tmp_path, wandb_offline
):
    """Slurm sends USR2 to every process of a job; W&B's service processes, started by
    :func:`dashboard.open_runs`, must not end on it, or the run's last steps are lost."""
    from pytorch_lightning.loggers import WandbLogger

    logger = WandbLogger(save_dir=str(tmp_path), offline=True, project="t")
    dashboard.open_runs([logger])
    service = [p for p in _descendants(os.getpid()) if Path(f"/proc/{p}").exists()]
    assert service, "W&B started no service process"
    for pid in service:
        os.kill(pid, signal.SIGUSR2)
    time.sleep(1.0)
    assert all(Path(f"/proc/{pid}").exists() for pid in service)
    logger.log_metrics({"val/bpd": 1.0}, step=1)
    dashboard.finish_run(0)
    assert (tmp_path / "wandb").is_dir()


def test_a_wandb_service_already_gone_does_not_hide_how_the_run_ended(monkeypatch, caplog):
    class GoneRun:
        pass

    class GoneWandb:
        run = GoneRun()

        @staticmethod
        def finish(exit_code: int) -> None:
            raise ConnectionResetError("Connection lost")

    monkeypatch.setitem(sys.modules, "wandb", GoneWandb)
    dashboard.finish_run(143)  # no exception: the stop's own report follows
    assert "W&B could not finish the run (ConnectionResetError: Connection lost)" in caplog.text
