"""The results pipeline, ``python -m reproduction``: the quick profile end to end on a tiny
Fashion-MNIST-format folder, its records, the page rewritten from the records alone in an empty
folder, the page's numbers against a plain computation from the records' metrics files, the runs
that ``--only`` and ``--budget`` choose, and an interrupted run resumed from its checkpoint."""

import csv
import json
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
from mintnet.sweeps import summary_rows
from reproduction.command import main
from reproduction.profiles import FULL, QUICK
from reproduction.records import MAX_BYTES, write_files
from reproduction.training import choose, command, sweeps
from tests.data.formats import write_mnist

ROOT = Path(__file__).resolve().parents[1]
QUICK_RUNS = [r.name for r in QUICK.runs()]
RECORD_FILES = {"overrides.yaml", "config.yaml", "metrics.csv", "test.json", "machine.json"}
IMAGES = [
    "density_comparison",
    "learning_curve",
    "samples",
    "inversion_accuracy",
    "interpolation",
    "classification",
]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # run from elsewhere, as `make results` is not


def _argv(base: Path, *more: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "reproduction",
        "--quick",
        "--data-root",
        str(base / "data"),
        *more,
    ]


# -- choosing and grouping the runs --------------------------------------------------------------


def test_the_runs_in_their_order():
    assert [r.name for r in FULL.runs()] == [
        "density_compare_deep",
        "density_compare_wide",
        "density",
        "classify_mintnet_seed0",
        "classify_resnet_seed0",
        "classify_mintnet_seed1",
        "classify_resnet_seed1",
        "classify_mintnet_seed2",
        "classify_resnet_seed2",
        "classify_mintnet_ablation_lr3e-3",
        "classify_mintnet_ablation_no_weight_decay",
        "classify_mintnet_ablation_k2",
        "classify_mintnet_long",
        "classify_resnet_long",
    ]


def test_only_trains_the_named_runs_that_have_no_record():
    runs = FULL.runs()
    done = ["classify_mintnet_seed0"]
    chosen = choose(runs, done, only=["classify_resnet_seed2", "classify_mintnet_seed0"])
    assert [r.name for r in chosen] == ["classify_resnet_seed2"]
    with pytest.raises(ValueError, match="no run classify_vgg"):
        choose(runs, done, only=["classify_vgg"])


def test_a_budget_takes_the_missing_runs_that_fit_in_order():
    runs = FULL.runs()
    minutes = {r.name: r.minutes for r in runs}
    seeds01 = [f"classify_{m}_seed{s}" for s in (0, 1) for m in ("mintnet", "resnet")]
    done = ["density_compare_deep", "density_compare_wide", "density", *seeds01]
    budget = minutes["classify_mintnet_seed2"] + minutes["classify_resnet_seed2"]
    chosen = [r.name for r in choose(runs, done, budget=budget)]
    assert chosen == ["classify_mintnet_seed2", "classify_resnet_seed2"]
    # less than a MintNet run: the ResNet run (shorter) fits, the MintNet ones are skipped
    chosen = [r.name for r in choose(runs, done, budget=minutes["classify_resnet_seed2"])]
    assert chosen == ["classify_resnet_seed2"]
    # the long density run waits for both candidates: with one recorded, it is not chosen
    chosen = [r.name for r in choose(runs, ["density_compare_deep"], budget=minutes["density"])]
    assert "density" not in chosen
    everything = choose(runs, [], budget=sum(minutes.values()))
    assert [r.name for r in everything] == [r.name for r in runs]
    assert choose(runs, [], budget=0.1) == []


def test_only_and_budget_start_the_sweeps_of_their_runs(tmp_path, monkeypatch, capsys):
    """The command line with ``--only`` or ``--budget``: the sweeps it would start (training
    replaced by a stand-in that records nothing), and the page that names what is missing."""
    import reproduction.command

    started = []
    monkeypatch.setattr(reproduction.command, "_data_ok", lambda *args: True)
    monkeypatch.setattr(reproduction.command, "train", lambda argv, *a: started.append(argv))
    argv = ["--quick", "--out", str(tmp_path / "out"), "--doc", str(tmp_path / "page.md")]
    assert main([*argv, "--only", "classify_resnet_seed1"]) == 1  # trained, yet not recorded
    assert "not recorded: classify_resnet_seed1" in capsys.readouterr().err
    assert started[0][4:6] == ["seed=1", "experiment=fashion_mnist_quick/classify_resnet"]
    started.clear()
    assert main([*argv, "--budget", "1.65"]) == 1
    assert [a[4:6] for a in started] == [
        [
            "seed=0",
            "experiment=fashion_mnist_quick/density_compare_deep,"
            "fashion_mnist_quick/density_compare_wide",
        ],
        [
            "seed=0",
            "experiment=fashion_mnist_quick/classify_mintnet,fashion_mnist_quick/classify_resnet",
        ],
    ]  # the long density run waits for the candidates' records; 0.5 + 0.5 + 2 x 0.3 min fit
    assert main([*argv, "--report-only"]) == 0
    assert "| classify_resnet_seed1 |" in (tmp_path / "page.md").read_text()


def test_each_step_is_one_sweep_per_set_of_seeds(tmp_path):
    runs = [r for r in FULL.runs() if r.step == "classify"]
    found = sweeps(runs, None)
    assert found[0] == ("classify", ["classify_mintnet", "classify_resnet"], [0, 1, 2])
    assert found[1] == (
        "classify",
        [
            "ablation_lr3e-3",
            "ablation_no_weight_decay",
            "ablation_k2",
            "classify_mintnet_long",
            "classify_resnet_long",
        ],
        [0],
    )
    argv = command(FULL, tmp_path, "data", found[0])
    assert argv[1:5] == ["-m", "mintnet.train", "-m", "seed=0,1,2"]
    assert "experiment=fashion_mnist/classify_mintnet,fashion_mnist/classify_resnet" in argv
    assert f"hydra.sweep.dir={tmp_path / 'classify'}" in argv
    density = [r for r in FULL.runs() if r.name == "density"]
    assert sweeps(density, "wide") == [("density", ["density_wide"], [0])]


def test_the_recipes_compose_and_name_their_job_folders(compose_cfg):
    cfg = compose_cfg(["experiment=fashion_mnist/classify_resnet_long", "seed=0"])
    assert cfg.trainer.max_epochs == 30 and cfg.model.scheduler.T_max == 30
    assert list(cfg.model.net.blocks) == [4, 4] and cfg.trainer.limit_train_batches == 150
    cfg = compose_cfg(["experiment=fashion_mnist/ablation_k2"])
    assert cfg.model.net.hidden_groups == 2 and cfg.model.net.n_layers == 4
    cfg = compose_cfg(["experiment=fashion_mnist/density_compare_wide"])
    assert cfg.model.flow.net.hidden_groups == 45 and cfg.model.scheduler is None


def test_a_sweep_summary_lists_job_folders_named_by_their_run(tmp_path):
    named = tmp_path / "classify_mintnet_seed0"
    (named / ".hydra").mkdir(parents=True)
    (named / ".hydra" / "overrides.yaml").write_text("- seed=0\n")
    (named / ".hydra" / "hydra.yaml").write_text("hydra:\n  job:\n    num: 3\n")
    rows = summary_rows(tmp_path)
    assert [(r["job"], r["status"], r["overrides"]) for r in rows] == [
        (3, "interrupted", ["seed=0"])
    ]


def test_a_record_is_written_whole_or_not_at_all(tmp_path):
    target = tmp_path / "run"
    with pytest.raises(FileNotFoundError):  # fails at its second file
        write_files(target, {"test.json": "{}", "no/metrics.csv": "step\n"})
    assert not target.exists()
    with pytest.raises(ValueError, match="over"):
        write_files(target, {"metrics.csv": "x" * (MAX_BYTES + 1)})
    assert not target.exists()
    assert (write_files(target, {"test.json": "{}"}) / "test.json").read_text() == "{}"


def test_missing_fashion_mnist_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(mintnet.data.mnist, "DEBIAN_FASHION_MNIST_DIR", tmp_path / "none")
    argv = ["--quick", "--data-root", str(tmp_path), "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "fashion_mnist: dataset files not found" in err
    assert "apt-get install -y dataset-fashion-mnist" in err
    assert "--download" in err and "data.download=true" in err
    assert not (tmp_path / "out" / "records").exists()


# -- the quick pipeline, end to end --------------------------------------------------------------


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """The quick pipeline on a tiny IDX folder, from scratch to the page."""
    base = tmp_path_factory.mktemp("results")
    write_mnist(base / "data" / "FashionMNIST" / "raw", n_train=200, n_test=40)
    argv = _argv(base, "--out", "out")
    done = subprocess.run(argv, cwd=base, env=ENV, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {
        "base": base,
        "out": base / "out",
        "records": base / "out" / "records",
        "doc": base / "out" / "results.md",
        "output": done.stdout,
        "errors": done.stderr,
    }


@pytest.mark.slow
def test_every_finished_run_leaves_a_small_record_of_where_it_ran(quick):
    records = quick["records"]
    assert sorted(p.name for p in records.iterdir()) == sorted([*QUICK_RUNS, "analysis"])
    for name in QUICK_RUNS:
        files = {p.name for p in (records / name).iterdir()}
        assert files == RECORD_FILES | ({"plan.json"} if name == "density" else set())
        assert sum(p.stat().st_size for p in (records / name).iterdir()) < MAX_BYTES
        machine = json.loads((records / name / "machine.json").read_text())
        assert {"cpu", "threads", "torch", "python", "mintnet", "commit", "date"} <= set(machine)
        assert machine["threads"] == 1
        assert json.loads((records / name / "test.json").read_text())
    analysis = json.loads((records / "analysis" / "analysis.json").read_text())
    assert analysis["pixel_baseline_bpd"] > 0 and "machine" in analysis
    assert not list(records.rglob("*.ckpt"))
    plan = json.loads((records / "density" / "plan.json").read_text())
    assert plan["winner"] in ("deep", "wide") and plan["epochs"] == 1
    assert "classify_mintnet_seed0" in (quick["out"] / "classify" / "summary.csv").read_text()


@pytest.mark.slow
def test_the_analysis_reports_figure_4_progress_to_its_end(quick):
    lines = [line for line in quick["errors"].splitlines() if line.startswith("Figure 4: ")]
    assert lines, quick["errors"][-2000:]
    done, total = lines[-1].removeprefix("Figure 4: ").split(",")[0].split("/")
    assert done == total


@pytest.mark.slow
def test_the_page_is_rewritten_from_the_records_alone_in_an_empty_folder(quick, tmp_path):
    shutil.copytree(quick["records"], tmp_path / "out" / "records")
    done = subprocess.run(
        [sys.executable, "-m", "reproduction", "--quick", "--report-only", "--out", "out"],
        cwd=tmp_path,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "images",
        "records",
        "results.md",
    ]
    assert (tmp_path / "out" / "results.md").read_text() == quick["doc"].read_text()


@pytest.mark.slow
def test_a_missing_record_is_named_on_the_page(quick, tmp_path, monkeypatch):
    records = tmp_path / "records"
    shutil.copytree(quick["records"], records)
    shutil.rmtree(records / "classify_resnet_seed1")
    shutil.rmtree(records / "classify_mintnet_long")
    monkeypatch.chdir(tmp_path)
    doc = tmp_path / "results.md"
    assert main(["--quick", "--report-only", "--records", str(records), "--doc", str(doc)]) == 0
    text = doc.read_text()
    missing = _table(text, "| run | recipe |")
    assert list(missing) == ["classify_resnet_seed1", "classify_mintnet_long"]
    assert missing["classify_mintnet_long"][-1] == (
        "`python -m reproduction --quick --only classify_mintnet_long`"
    )
    assert _table(text, "| model | seeds |")["ResNet"][1] == "0"
    assert "1 point of the ResNet:** over 2 MintNet and 1 ResNet seeds" in " ".join(text.split())
    assert list(_table(text, "| model | epochs |")) == ["ResNet"]


def _table(doc: str, header: str) -> dict[str, list[str]]:
    """The rows (by first cell) of the Markdown table whose header line starts with ``header``."""
    lines = doc.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(header))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("*")] = cells
    return rows


def _logged(record: Path, key: str) -> list[float]:
    """Every value of ``key`` in a record's metrics file, read without the pipeline's code."""
    with (record / "metrics.csv").open(newline="") as file:
        return [float(row[key]) for row in csv.DictReader(file) if row.get(key)]


@pytest.mark.slow
def test_mean_and_spread_are_those_of_the_records_metrics_files(quick):
    doc, records = quick["doc"].read_text(), quick["records"]
    rows, means, ranges = _table(doc, "| model | seeds |"), {}, {}
    for model in ("MintNet", "ResNet"):
        accuracies = [
            100 * _logged(records / f"classify_{model.lower()}_seed{s}", "test/acc")[-1]
            for s in QUICK.seeds
        ]
        means[model], ranges[model] = (
            statistics.fmean(accuracies),
            max(accuracies) - min(accuracies),
        )
        cells = rows[model]
        assert cells[1] == ", ".join(map(str, QUICK.seeds))
        assert cells[3] == f"{means[model]:.2f}%"
        assert cells[4] == f"{statistics.stdev(accuracies):.2f}"
        assert cells[5] == f"{min(accuracies):.2f}% to {max(accuracies):.2f}%"
    gap = abs(means["ResNet"] - means["MintNet"])
    text = " ".join(doc.split())
    verdict = "within" if gap <= 1.0 else "not within"
    assert f"**MintNet is {verdict} 1 point of the ResNet:**" in text
    spread = max(ranges.values())
    larger = "larger" if gap > spread else "not larger"
    assert (
        f"The gap of {gap:.2f} points is {larger} than the seeds' spread of {spread:.2f}" in text
    )

    seed0 = 100 * _logged(records / "classify_mintnet_seed0", "test/acc")[-1]
    ablation = _table(doc, "| ablation | change |")["no_weight_decay"]
    accuracy = 100 * _logged(records / "classify_mintnet_ablation_no_weight_decay", "test/acc")[-1]
    assert ablation[3:] == [f"{accuracy:.2f}%", f"{accuracy - seed0:+.2f}"]
    long = _table(doc, "| model | epochs |")["MintNet"]
    accuracy = 100 * _logged(records / "classify_mintnet_long", "test/acc")[-1]
    assert long[1:] == [
        str(QUICK.epochs * QUICK.long_factor),
        f"{accuracy:.2f}%",
        f"{accuracy - seed0:+.2f}",
    ]
    bpd = _logged(records / "density", "test/bpd")[-1]
    assert _table(doc, "|  | value |")["test bits/dim"][1] == f"{bpd:.4f}"


@pytest.mark.slow
def test_plots_and_images_are_written_small_and_linked(quick):
    doc = quick["doc"].read_text()
    for name in IMAGES:
        path = quick["doc"].parent / "images" / f"fashion_mnist_{name}.png"
        with Image.open(path) as image:
            assert image.format == "PNG" and min(image.size) > 100
        assert path.stat().st_size < 150_000
        assert f"](images/fashion_mnist_{name}.png)" in doc
    assert "Quick mode" in doc and "Not recorded yet" not in doc


@pytest.mark.slow
def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path):
    """SIGTERM once the first epoch's ``last.ckpt`` is saved; the same command continues the run
    from it (a second CSV version that starts after the first epoch) and records it."""
    write_mnist(tmp_path / "data" / "FashionMNIST" / "raw", n_train=1000, n_test=40)
    argv = _argv(tmp_path, "--out", "out", "--only", "classify_mintnet_seed0")
    argv += ["--override", "trainer.limit_train_batches=1.0", "--override", "trainer.max_epochs=3"]
    folder = tmp_path / "out" / "classify" / "classify_mintnet_seed0"
    first = subprocess.Popen(
        argv, cwd=tmp_path, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    started = time.monotonic()
    while not (folder / "checkpoints" / "last.ckpt").exists():
        assert first.poll() is None, first.communicate()[0].decode()[-3000:]
        assert time.monotonic() - started < 180
        time.sleep(0.1)
    first.send_signal(signal.SIGTERM)
    output = first.communicate(timeout=180)[0].decode()
    assert first.returncode == 143, output[-3000:]
    assert "run the same command again to resume" in output
    assert not (tmp_path / "out" / "records" / "classify_mintnet_seed0").exists()
    second = subprocess.run(
        argv, cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=300
    )
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert (
        f"Restored all states from the checkpoint at {folder / 'checkpoints' / 'last.ckpt'}"
        in (second.stdout + second.stderr)
    )
    with (folder / "csv" / "version_1" / "metrics.csv").open(newline="") as file:
        steps = [float(r["step"]) for r in csv.DictReader(file) if r.get("train/step_loss")]
    assert min(steps) > 0  # the first epoch was not trained again
    record = tmp_path / "out" / "records" / "classify_mintnet_seed0"
    assert json.loads((record / "test.json").read_text())["test/acc"] >= 0
