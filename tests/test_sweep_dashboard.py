"""The study dashboard (``pip install mintnet[dashboard]``): optuna-dashboard serves a study's
SQLite file on 127.0.0.1 and its HTTP API lists the trials."""

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import optuna
import pytest

pytest.importorskip("optuna_dashboard")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_the_dashboard_serves_the_study_and_its_trials(tmp_path):
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = optuna.create_study(study_name="density", storage=storage)
    study.optimize(lambda t: (t.suggest_float("model.optimizer.lr", 1e-4, 3e-3) - 1e-3) ** 2, 3)
    trial = study.ask()  # a pruned one, as the sweeper records them
    trial.report(5.0, step=0)
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)

    program = shutil.which("optuna-dashboard", path=str(Path(sys.executable).parent))
    port = free_port()
    server = subprocess.Popen(
        [program, storage, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                studies = get(f"http://127.0.0.1:{port}/api/studies")["study_summaries"]
                break
            except OSError:
                assert server.poll() is None, "optuna-dashboard ended"
                assert time.monotonic() < deadline, "optuna-dashboard did not answer"
                time.sleep(0.3)
        (summary,) = studies
        assert summary["study_name"] == "density"
        trials = get(f"http://127.0.0.1:{port}/api/studies/{summary['study_id']}")["trials"]
        assert [t["state"] for t in trials] == ["Complete"] * 3 + ["Pruned"]
        assert {p["name"] for t in trials[:3] for p in t["params"]} == {"model.optimizer.lr"}
    finally:
        server.terminate()
        server.wait(timeout=30)
