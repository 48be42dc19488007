"""The results pipeline, ``python -m reproduction``: the quick mode end to end on a tiny
Fashion-MNIST-format folder (interrupted once, then finished), its document's numbers against the
runs' metric files, and the pieces that make it resumable."""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

import mintnet.data.mnist
from reproduction import runs
from reproduction.command import main
from reproduction.pipeline import Pipeline
from reproduction.profiles import QUICK
from reproduction.report import write_report
from reproduction.runs import Run, read_metrics
from tests.data.formats import write_mnist

ROOT = Path(__file__).resolve().parents[1]
RUN_NAMES = [
    "density_compare_deep",
    "density_compare_wide",
    "density",
    "classify_mintnet",
    "classify_resnet",
]
IMAGES = [
    "density_comparison",
    "learning_curve",
    "samples",
    "inversion_accuracy",
    "interpolation",
    "classification",
]


# -- the pieces ----------------------------------------------------------------------------------


def test_a_run_resumes_from_its_last_checkpoint(tmp_path):
    run = Run("x", ("experiment=digits_density",))
    assert not any(a.startswith("ckpt_path=") for a in run.command(tmp_path))
    last = tmp_path / "runs" / "x" / "checkpoints" / "last.ckpt"
    last.parent.mkdir(parents=True)
    last.write_bytes(b"")
    argv = run.command(tmp_path)
    assert argv[-1] == f"ckpt_path={last}"
    assert f"hydra.run.dir={tmp_path / 'runs' / 'x'}" in argv and "logger=csv" in argv


def test_a_finished_run_is_not_run_again(tmp_path, monkeypatch):
    run = Run("x", ("experiment=digits_density",))
    runs.write_json(run.folder(tmp_path) / runs.DONE, {"name": "x", "test": {"test/bpd": 1.0}})
    monkeypatch.setattr(runs, "_run_child", lambda argv: pytest.fail("started a finished run"))
    said = []
    assert run.execute(tmp_path, said.append)["test"] == {"test/bpd": 1.0}
    assert said == [f"[skip] x: finished ({run.folder(tmp_path) / runs.DONE})"]


def _write_csv(path: Path, rows: list[dict[str, float]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = sorted({k for row in rows for k in row})
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def test_a_resumed_attempt_replaces_the_steps_it_repeats(tmp_path):
    elapsed = "time/elapsed_s"
    _write_csv(
        tmp_path / "csv" / "version_0" / "metrics.csv",
        [{"step": s, elapsed: s, "train/loss": 10 - s} for s in range(5)],
    )
    _write_csv(  # resumed from a checkpoint at step 3; then the test metrics
        tmp_path / "csv" / "version_1" / "metrics.csv",
        [{"step": 3, "model/params": 7}]
        + [{"step": s, elapsed: s, "train/loss": 20 - s} for s in (3, 4, 5)]
        + [{"step": 6, "test/bpd": 1.5}],
    )
    rows = read_metrics(tmp_path)
    assert [r["train/loss"] for r in rows if "train/loss" in r] == [10, 9, 8, 17, 16, 15]
    assert rows[-1] == {"step": 6, "test/bpd": 1.5}


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mintnet.data.mnist, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "none")
    code = main(["--quick", "--data-root", str(tmp_path), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "fashion_mnist: dataset files not found" in err
    assert "apt-get install -y dataset-fashion-mnist" in err
    assert "--download" in err and "data.download=true" in err
    assert not (tmp_path / "out" / "runs").exists()


# -- the quick pipeline, end to end --------------------------------------------------------------


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The quick pipeline on a tiny IDX folder: SIGTERM once the first training has finished,
    then the same command again to the end."""
    base = tmp_path_factory.mktemp("results")
    write_mnist(base / "data" / "FashionMNIST" / "raw", n_train=200, n_test=40)
    out, doc = base / "out", base / "doc" / "results.md"
    argv = [sys.executable, "-m", "reproduction", "--quick", "--data-root", str(base / "data")]
    argv += ["--out", str(out), "--doc", str(doc)]
    first_marker = out / "runs" / RUN_NAMES[0] / "done.json"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # run from elsewhere, as `make results` is not

    started = time.monotonic()
    first = subprocess.Popen(
        argv, cwd=base, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    while not first_marker.exists():
        assert first.poll() is None, first.communicate()[0].decode()[-3000:]
        assert time.monotonic() - started < 180, "the first run did not finish in 3 minutes"
        time.sleep(0.2)
    first.send_signal(signal.SIGTERM)
    first_output = first.communicate(timeout=180)[0].decode()
    folder = out / "runs" / RUN_NAMES[0]
    before = {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}

    second = subprocess.run(argv, cwd=base, env=env, capture_output=True, text=True, timeout=300)
    return {
        "out": out,
        "doc": doc,
        "first_code": first.returncode,
        "first_output": first_output,
        "second": second,
        "first_files_before": before,
        "first_files_after": {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()},
    }


@pytest.mark.slow
def test_an_interrupted_pipeline_finishes_without_redoing_finished_runs(quick):
    assert quick["first_code"] == 128 + signal.SIGTERM, quick["first_output"][-3000:]
    assert "stopped by SIGTERM; run the same command again to resume" in quick["first_output"]
    second = quick["second"]
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert f"[skip] {RUN_NAMES[0]}: finished" in second.stdout
    assert f"[run] {RUN_NAMES[0]}" not in second.stdout
    assert quick["first_files_after"] == quick["first_files_before"]  # not one file touched
    for name in RUN_NAMES:
        assert (quick["out"] / "runs" / name / "done.json").is_file()


def _csv_rows(folder: Path) -> list[dict[str, str]]:
    """Every row of a run's CSV logs, read without the pipeline's code."""
    rows = []
    for path in sorted(folder.glob("csv/version_*/metrics.csv")):
        with path.open(newline="") as file:
            rows += list(csv.DictReader(file))
    return rows


def _logged(folder: Path, key: str) -> list[float]:
    return [float(row[key]) for row in _csv_rows(folder) if row.get(key)]


def _table_row(doc: str, first_cell: str) -> list[str]:
    """The cells of the Markdown table row whose first cell is ``first_cell``."""
    for line in doc.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0].strip("*") == first_cell:
            return cells
    raise AssertionError(f"no table row {first_cell!r}")


@pytest.mark.slow
def test_the_tables_hold_the_numbers_of_the_runs_metric_files(quick):
    doc, runs_dir = quick["doc"].read_text(), quick["out"] / "runs"
    density = runs_dir / "density"
    test_bpd = _logged(density, "test/bpd")[-1]
    assert _table_row(doc, "test bits/dim")[1] == f"{test_bpd:.4f}"
    assert _table_row(doc, "MintNet flow, test bits/dim")[1] == f"{test_bpd:.4f}"
    assert (
        _table_row(doc, "best validation bits/dim")[1] == f"{min(_logged(density, 'val/bpd')):.4f}"
    )
    baseline = json.loads((quick["out"] / "pixel_baseline.json").read_text())
    expected = f"{baseline['test/pixel_baseline_bpd']:.4f}"
    assert _table_row(doc, "independent-pixel baseline, test bits/dim")[1] == expected

    for name in ("deep", "wide"):  # the comparison: best validation and test bits/dim
        folder = runs_dir / f"density_compare_{name}"
        cells = _table_row(doc, name)
        assert cells[-2] == f"{min(_logged(folder, 'val/bpd')):.4f}"
        assert cells[-1] == f"{_logged(folder, 'test/bpd')[-1]:.4f}"
    plan = json.loads((quick["out"] / "plan.json").read_text())
    assert f"**{plan['winner']}**" in doc

    for model, name in (("MintNet", "classify_mintnet"), ("ResNet", "classify_resnet")):
        folder = runs_dir / name
        cells = _table_row(doc, model)
        assert cells[3] == f"{100 * _logged(folder, 'test/acc')[-1]:.2f}%"
        assert cells[4] == f"{100 * max(_logged(folder, 'val/acc')):.2f}%"
        epoch_seconds = _logged(folder, "time/epoch_s")
        assert cells[5] == f"{sorted(epoch_seconds)[len(epoch_seconds) // 2]:.0f} s"
    assert re.search(r"\*\*The paper's claim (holds|does not hold) here:\*\*", doc)


@pytest.mark.slow
def test_plots_and_images_are_written_small_and_linked(quick):
    doc = quick["doc"].read_text()
    for name in IMAGES:
        path = quick["doc"].parent / "images" / f"fashion_mnist_{name}.png"
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 100
        assert path.stat().st_size < 150_000
        assert f"](images/fashion_mnist_{name}.png)" in doc
    analysis = quick["out"] / "runs" / "density" / "analysis"
    with (analysis / "inversion_accuracy.csv").open() as file:
        rows = list(csv.DictReader(file))
    assert {int(r["iterations"]) for r in rows} == set(QUICK.fig4_iterations)
    assert "python -m reproduction --quick" in doc and "Quick mode" in doc


@pytest.mark.slow
def test_the_report_alone_is_rebuilt_from_the_logs(quick, monkeypatch):
    monkeypatch.chdir(quick["out"].parent)  # where the pipeline ran
    before = quick["doc"].read_text()
    pipeline = Pipeline(QUICK, quick["out"], "unused")
    assert write_report(pipeline, quick["doc"])[-1] == quick["doc"]
    assert quick["doc"].read_text() == before
