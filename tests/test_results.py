"""The results pipeline, ``python -m reproduction``: the quick mode end to end on a tiny
Fashion-MNIST-format folder (interrupted in its first step, then interrupted again while two
classifiers train at once with ``--jobs 2``, then finished), its document's numbers against the
runs' metric files, and the pieces that make it resumable."""

import csv
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

import mintnet.data.mnist
from reproduction import processes, runs
from reproduction.budget import busy_seconds, most_at_once
from reproduction.command import main
from reproduction.pipeline import Pipeline
from reproduction.profiles import FULL, QUICK
from reproduction.report import write_report
from reproduction.runs import Run, RunFailed, read_metrics
from tests.data.formats import write_mnist

ROOT = Path(__file__).resolve().parents[1]
RUN_NAMES = [
    "density_compare_deep",
    "density_compare_wide",
    "density",
    "classify_mintnet_seed0",
    "classify_resnet_seed0",
    "classify_mintnet_seed1",
    "classify_resnet_seed1",
    "classify_mintnet_long",
    "classify_resnet_long",
    "classify_mintnet_ablation_no_weight_decay",
]
"""Every run of the quick pipeline, in the order it trains them."""
FULL_CLASSIFY_NAMES = [
    "classify_mintnet_seed0",
    "classify_resnet_seed0",
    "classify_mintnet_seed1",
    "classify_resnet_seed1",
    "classify_mintnet_seed2",
    "classify_resnet_seed2",
    "classify_mintnet_long",
    "classify_resnet_long",
    "classify_mintnet_ablation_lr3e-3",
    "classify_mintnet_ablation_no_weight_decay",
    "classify_mintnet_ablation_k2",
]
SEED0 = ("classify_mintnet_seed0", "classify_resnet_seed0")
"""The two runs that train at once with ``--jobs 2`` when step 6 starts."""
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
    monkeypatch.setattr(processes, "_spawn", lambda *args: pytest.fail("started a finished run"))
    said = []
    assert processes.execute([run], tmp_path, said.append)[0]["test"] == {"test/bpd": 1.0}
    assert said == [f"[skip] x: finished ({run.folder(tmp_path) / runs.DONE})"]


def test_a_failed_run_stops_the_others_of_its_step_and_is_named(tmp_path, monkeypatch):
    """Two stand-in training processes at once: one fails after a second, the other (which would
    run for a minute) is stopped with SIGTERM, the third is never started."""
    scripts = {
        "slow": "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))\n"
        "time.sleep(60)",
        "bad": "import time; time.sleep(1); raise SystemExit(3)",
    }
    spawn = processes._spawn

    def stand_in(argv, piped):
        name = Path(next(a for a in argv if a.startswith("hydra.run.dir="))).name
        return spawn([sys.executable, "-c", scripts[name]], piped)

    monkeypatch.setattr(processes, "_spawn", stand_in)
    said, started = [], time.monotonic()
    step = [Run("slow", ()), Run("bad", ()), Run("never", ())]
    with pytest.raises(RunFailed, match=r"^bad: the training process exited with code 3"):
        processes.execute(step, tmp_path, said.append, jobs=2)
    assert time.monotonic() - started < 30
    assert any(line.startswith("[stopped] slow") for line in said), said
    assert not any("never" in line for line in said)
    for name in ("slow", "bad"):  # each attempt's start and end are kept
        assert len(runs.attempts(tmp_path / "runs" / name)) == 1


def test_the_wall_time_counts_concurrent_attempts_once():
    spans = [(0.0, 10.0), (5.0, 12.0), (20.0, 25.0), (21.0, 22.0)]
    assert busy_seconds(spans) == 17.0
    assert most_at_once(spans) == 2
    assert most_at_once([(0.0, 1.0), (1.0, 2.0)]) == 1  # one ends as the next starts
    assert busy_seconds([]) == 0.0 and most_at_once([]) == 0


def test_the_classification_runs_in_their_order_and_recipes(tmp_path):
    specs = Pipeline(FULL, tmp_path, "data").classify_runs()
    assert [c.run.name for c in specs] == FULL_CLASSIFY_NAMES
    commands = {c.run.name: c.run.base_command(tmp_path) for c in specs}
    assert "seed=2" in commands["classify_resnet_seed2"]
    long = commands["classify_mintnet_long"]
    assert "trainer.max_epochs=30" in long and "++trainer.limit_train_batches=150" in long
    assert any("T_max:30," in a for a in long) and "seed=0" in long
    lr = commands["classify_mintnet_ablation_lr3e-3"]
    assert "model.optimizer.lr=0.003" in lr and "model.optimizer.lr=0.001" not in lr
    assert "model.net.hidden_groups=2" in commands["classify_mintnet_ablation_k2"]
    base = commands["classify_mintnet_seed0"]
    assert "trainer.max_epochs=10" in base and any("T_max:10," in a for a in base)


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


def _training_children(pid: int) -> dict[int, str]:
    """``pid -> run name`` of each ``mintnet.train`` process whose parent is ``pid`` (from
    ``/proc``)."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            argv = (stat.parent / "cmdline").read_bytes().decode().split("\0")
        except (OSError, IndexError, ValueError):
            continue
        folders = [a.split("=", 1)[1] for a in argv if a.startswith("hydra.run.dir=")]
        if parent == pid and folders:
            found[int(stat.parent.name)] = Path(folders[0]).name
    return found


def _interrupt_when_both_train(argv, cwd, env, log: Path) -> dict:
    """Run ``argv`` with ``--jobs 2``; once both seed-0 classifiers are running and each has
    printed a line, send SIGTERM. A classifier that prints first is paused (SIGSTOP) until the
    other has printed too, then resumed just before the signal: the quick ResNet can otherwise
    finish its whole run before the MintNet prints a line. Returns the exit code, the output, the
    children (``pid -> run name``) and those of them still alive once the pipeline has exited."""
    started = time.monotonic()
    paused: set[int] = set()
    with log.open("w") as output:
        pipeline = subprocess.Popen(
            [*argv, "--jobs", "2"], cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT
        )
        while True:
            assert pipeline.poll() is None, log.read_text()[-3000:]
            assert time.monotonic() - started < 180, "step 6 did not start in 3 minutes"
            children = _training_children(pipeline.pid)
            text = log.read_text()
            printed = {
                pid for pid, name in children.items() if name in SEED0 and f"\n[{name}] " in text
            }
            if set(SEED0) <= {children[pid] for pid in printed}:
                break
            for pid in printed - paused:
                os.kill(pid, signal.SIGSTOP)
                paused.add(pid)
            time.sleep(0.1)
        for pid in paused:
            os.kill(pid, signal.SIGCONT)
        pipeline.send_signal(signal.SIGTERM)
        code = pipeline.wait(timeout=180)
    alive = [pid for pid in children if Path(f"/proc/{pid}").exists()]
    return {"code": code, "output": log.read_text(), "children": children, "alive": alive}


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The quick pipeline on a tiny IDX folder: SIGTERM once the first training has finished;
    the same command with ``--jobs 2``, SIGTERM once both seed-0 classifiers train; the same
    command with ``--jobs 2`` to the end."""
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

    second = _interrupt_when_both_train(argv, base, env, base / "second.log")
    last = subprocess.run(
        [*argv, "--jobs", "2"], cwd=base, env=env, capture_output=True, text=True, timeout=300
    )
    return {
        "out": out,
        "doc": doc,
        "first_code": first.returncode,
        "first_output": first_output,
        "second": second,
        "last": last,
        "first_files_before": before,
        "first_files_after": {p: p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()},
    }


@pytest.mark.slow
def test_an_interrupted_pipeline_finishes_without_redoing_finished_runs(quick):
    assert quick["first_code"] == 128 + signal.SIGTERM, quick["first_output"][-3000:]
    assert "stopped by SIGTERM; run the same command again to resume" in quick["first_output"]
    last = quick["last"]
    assert last.returncode == 0, last.stdout[-3000:] + last.stderr[-3000:]
    assert f"[skip] {RUN_NAMES[0]}: finished" in quick["second"]["output"]
    for output in (quick["second"]["output"], last.stdout):
        assert f"[run] {RUN_NAMES[0]}" not in output
    assert quick["first_files_after"] == quick["first_files_before"]  # not one file touched
    for name in RUN_NAMES:
        assert (quick["out"] / "runs" / name / "done.json").is_file()


@pytest.mark.slow
def test_two_classifiers_train_at_once_stop_together_and_resume(quick):
    second, last = quick["second"], quick["last"].stdout
    assert second["code"] == 128 + signal.SIGTERM, second["output"][-3000:]
    assert "stopped by SIGTERM; run the same command again to resume" in second["output"]
    assert sorted(second["children"].values()) == sorted(SEED0)  # two at once, no third
    assert second["alive"] == []  # both were stopped and waited for
    for name in SEED0:
        assert f"\n[{name}] " in second["output"]  # its lines carry its name
        assert f"[stopped] {name}" in second["output"], second["output"][-3000:]
        assert f"[run] {name}" in last and f"[done] {name}" in last
    assert "classify_mintnet_seed1" not in second["output"]  # nothing new after the signal
    order = [last.index(f"[run] {name}") for name in RUN_NAMES[3:]]
    assert order == sorted(order)


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


def _table(doc: str, header: str) -> dict[str, list[str]]:
    """The rows (by first cell) of the Markdown table whose header line starts with ``header``."""
    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0]] = cells
    return rows


def _accuracy(folder: Path) -> float:
    """The run's test accuracy in percent, from its CSV log."""
    return 100 * _logged(folder, "test/acc")[-1]


@pytest.mark.slow
def test_the_classification_table_holds_mean_and_spread_over_seeds(quick):
    doc, runs_dir = quick["doc"].read_text(), quick["out"] / "runs"
    rows = _table(doc, "| model | architecture | parameters | seeds |")
    means, ranges = {}, {}
    for model in ("MintNet", "ResNet"):
        folders = [
            runs_dir / f"classify_{model.lower()}_seed{seed}" for seed in QUICK.classify_seeds
        ]
        accuracies = [_accuracy(folder) for folder in folders]
        means[model] = statistics.fmean(accuracies)
        ranges[model] = max(accuracies) - min(accuracies)
        cells = rows[model]
        assert cells[3] == str(len(QUICK.classify_seeds))
        assert cells[4] == f"{means[model]:.2f}%"
        assert cells[5] == f"{statistics.stdev(accuracies):.2f}"
        assert cells[6] == f"{min(accuracies):.2f}% to {max(accuracies):.2f}%"
        assert cells[2] == f"{int(_logged(folders[0], 'model/params')[0]):,}"
        # a run stopped and resumed inside its only epoch timed no whole epoch: left out
        timed = [_logged(f, "time/epoch_s") for f in folders]
        per_run = [statistics.median(t) for t in timed if t]
        assert cells[7] == (f"{statistics.median(per_run):.0f} s" if per_run else "n/a")
        summary = _table_row(
            doc, f"{'MintNet classifier' if model == 'MintNet' else model}, test accuracy"
        )
        assert summary[1] == f"{means[model]:.2f}% (mean of {len(folders)} seeds)"

    within = abs(means["ResNet"] - means["MintNet"]) <= 1.0
    verdict = "within" if within else "not within"
    text = " ".join(doc.split())
    assert f"**MintNet is {verdict} 1 point of the ResNet under this recipe:**" in text
    assert "The paper's claim" not in text
    gap, spread = abs(means["ResNet"] - means["MintNet"]), max(ranges.values())
    larger = "larger" if gap > spread else "not larger"
    assert (
        f"The gap of {gap:.2f} points is {larger} than the seeds' spread of {spread:.2f}" in text
    )

    long = _table(doc, "| model | seed | epochs |")
    for model in ("MintNet", "ResNet"):
        folder = runs_dir / f"classify_{model.lower()}_long"
        base = _accuracy(runs_dir / f"classify_{model.lower()}_seed0")
        cells = long[model]
        epochs = QUICK.classify_epochs * QUICK.classify_long_factor
        assert cells[1:3] == ["0", str(epochs)]
        assert cells[4] == f"{_accuracy(folder):.2f}%"
        assert cells[5] == f"{_accuracy(folder) - base:+.2f}"


@pytest.mark.slow
def test_the_ablation_table_lists_the_quick_ablation(quick):
    doc, runs_dir = quick["doc"].read_text(), quick["out"] / "runs"
    rows = _table(doc, "| ablation | change |")
    assert list(rows) == [a.name for a in QUICK.classify_ablations] == ["no_weight_decay"]
    cells = rows["no_weight_decay"]
    accuracy = _accuracy(runs_dir / "classify_mintnet_ablation_no_weight_decay")
    base = _accuracy(runs_dir / "classify_mintnet_seed0")
    assert cells[1] == "no weight decay" and cells[2] == "`model.optimizer.weight_decay=0.0`"
    assert cells[4] == f"{accuracy:.2f}%"
    assert cells[5] == f"{accuracy - base:+.2f}"


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


@pytest.mark.slow
def test_a_page_of_unfinished_classification_runs_names_them_and_tables_the_rest(
    quick, tmp_path, monkeypatch
):
    """Copies of the quick runs without the second seed, the long runs and the ablation: the page
    tables the first seed's pair, names the others as not finished; without the first pair,
    no page."""
    out = tmp_path / "out"
    shutil.copytree(quick["out"], out)
    monkeypatch.chdir(quick["out"].parent)
    unfinished = [name for name in RUN_NAMES[3:] if not name.endswith("seed0")]
    for name in unfinished:
        (out / "runs" / name / "done.json").unlink()
    doc = tmp_path / "doc" / "results.md"
    write_report(Pipeline(QUICK, out, "unused"), doc)
    text = " ".join(doc.read_text().split())
    assert f"**Not finished yet:** {', '.join(unfinished)}." in text
    rows = _table(doc.read_text(), "| model | architecture | parameters | seeds |")
    for model in ("MintNet", "ResNet"):
        accuracy = _accuracy(out / "runs" / f"classify_{model.lower()}_seed0")
        assert rows[model][3:5] == ["1", f"{accuracy:.2f}%"]
        assert rows[model][5] == "n/a"  # no spread from one seed
    assert "Neither long run has finished yet." in text
    assert "| ablation | change |" not in text and "One seed per model" in text
    (out / "runs" / "classify_resnet_seed0" / "done.json").unlink()
    with pytest.raises(FileNotFoundError, match="run classify_resnet_seed0 has not finished"):
        write_report(Pipeline(QUICK, out, "unused"), doc)


def test_a_part_runs_only_its_steps_and_the_document_waits_for_the_rest(
    tmp_path, monkeypatch, capsys
):
    write_mnist(tmp_path / "data" / "FashionMNIST" / "raw", n_train=200, n_test=40)
    called = []
    monkeypatch.setattr(Pipeline, "run_density", lambda self: called.append("density"))
    monkeypatch.setattr(Pipeline, "run_classification", lambda self: called.append("classify"))
    argv = ["--quick", "--data-root", str(tmp_path / "data"), "--out", str(tmp_path / "out")]
    argv += ["--doc", str(tmp_path / "results.md")]
    assert main([*argv, "--part", "classification"]) == 0
    assert called == ["classify"] and not (tmp_path / "results.md").exists()
    assert "the classification part is finished; the document waits" in capsys.readouterr().out
    assert main([*argv, "--part", "density"]) == 0 and called == ["classify", "density"]
    assert main(argv) == 1  # every step, yet no run folder: the document cannot be written
    assert "reproduction: error:" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*argv, "--part", "flows"])
    refusal = capsys.readouterr().err
    assert "invalid choice: 'flows'" in refusal
    assert all(part in refusal for part in ("all", "density", "classification"))


def test_runs_that_timed_no_whole_epoch_are_left_out_of_the_time_per_epoch():
    from reproduction.classification_page import _epoch_time

    assert _epoch_time([math.nan, 10.0, 20.0]) == "15 s"
    assert _epoch_time([math.nan]) == "n/a" and _epoch_time([]) == "n/a"
