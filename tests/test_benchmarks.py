import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from benchmarks.layer_vs_floor import ConvolutionFloor
from mintnet.data import DatasetNotFoundError, FashionMNISTDataModule
from mintnet.nn import MintLayer
from tests.data.formats import labels_for, write_idx

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = {
    "layer_vs_floor": ("ratio_wall", "ratio_cpu", "floor_ms", "layer_ms"),
    "train_step": ("images_per_s", "vs_no_logdet_wall", "saved_MiB"),
    "inversion": ("ms", "layer_evals", "max_error", "time_vs_paper"),
    "scaling": ("ms_per_image", "ns_per_pixel", "per_pixel_vs_smallest"),
    "solvers": ("layer_evals", "evals_vs_paper", "ms", "time_vs_paper", "worst_residual"),
}


def run_benchmarks(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "benchmarks", "--quick", *args]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr
    return done


def assert_paper_schedule_costs_more(rows: list[dict]) -> None:
    paper = next(r for r in rows if r["method"].startswith("paper"))
    assert paper["layer_evals"] > max(r["layer_evals"] for r in rows if r["tol"] == 1e-5)


def rectangles(n: int, seed: int) -> np.ndarray:
    """``(n, 28, 28)`` uint8 images: a few filled grey rectangles on black, plus faint noise."""
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 8, size=(n, 28, 28), dtype=np.uint8)
    for image in images:
        for _ in range(rng.integers(1, 4)):
            top, left = rng.integers(0, 20, size=2)
            height, width = rng.integers(4, 28 - max(top, left), size=2)
            image[top : top + height, left : left + width] = rng.integers(64, 256)
    return images


def write_fashion_mnist(raw: Path, n_train: int = 64, n_test: int = 16) -> None:
    """The four Fashion-MNIST IDX files in ``raw``, images of random rectangles."""
    for prefix, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rectangles(n, seed))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels_for(n))


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("kind", ["lower", "upper"])
def test_both_convolution_floors_compute_the_same_map(kind, channels):
    torch.manual_seed(0)
    layer = MintLayer(channels, 6, 5, 18, kind).double()
    x = torch.randn(3, channels, 6, 5, dtype=torch.float64)
    plain, same = ConvolutionFloor(layer), ConvolutionFloor(layer, same_convs=True)
    assert torch.allclose(plain(x), same(x), atol=1e-12)
    with pytest.raises(ValueError, match="needs a layer with thin_convolutions, got C=5"):
        ConvolutionFloor(MintLayer(5, 4, 4, 18, kind), same_convs=True)


@pytest.mark.timeout(120)
def test_quick_benchmarks_write_sane_results(tmp_path):
    no_data = tmp_path / "no_data"
    no_data.mkdir()
    out = tmp_path / "out"
    done = run_benchmarks("--out-dir", str(out), "--data-root", str(no_data), timeout=300)
    assert "## device" not in done.stdout  # the GPU check runs only when asked for
    for name, fields in EXPECTED.items():
        assert f"## {name}" in done.stdout
        result = json.loads((out / f"{name}.json").read_text())
        assert result["name"] == name and result["settings"]["quick"] is True
        assert result["environment"]["threads"] == 1
        assert result["rows"], name
        for row in result["rows"]:
            for field in fields:
                assert row[field] is not None and row[field] > 0, (name, field, row)
    layers = json.loads((out / "layer_vs_floor.json").read_text())["rows"]
    for row in layers:  # the like-convolutions floor exists where the layer has its own convs
        thin = MintLayer(row["C"], 2, 2, row["K"], "lower").thin_convolutions
        assert (row["ratio_vs_same_convs_floor"] is not None) == thin, row
    assert sum(row["ratio_vs_same_convs_floor"] is None for row in layers) == 1
    inversion = json.loads((out / "inversion.json").read_text())
    try:  # only Debian's directory is left to search, and it may hold a copy
        FashionMNISTDataModule(str(no_data)).check()
        expected = "fashion_mnist"
    except DatasetNotFoundError:
        expected = "digits"
    assert inversion["settings"]["dataset"] == expected
    assert f"trained on: {expected}" in done.stdout
    if expected == "digits":
        assert inversion["settings"]["n_bins"] == 17
        assert inversion["settings"]["model"].startswith("MintNet((1, 8, 8),")
    assert_paper_schedule_costs_more(inversion["rows"])
    solvers = json.loads((out / "solvers.json").read_text())["rows"]
    datasets = {"digits"} | ({"fashion_mnist"} if expected == "fashion_mnist" else set())
    assert {r["dataset"] for r in solvers} == datasets
    cases = {(r["dataset"], r["dtype"], r["inputs"]) for r in solvers}
    assert len(cases) == 4 * len(datasets)  # two dtypes x images and prior samples
    for row in solvers:
        if row["method"].startswith("fixed_point, alpha 1/3.5"):
            assert row["evals_vs_paper"] == 1.0 and row["time_vs_paper"] == 1.0
        assert 0.0 <= row["converged"] <= 1.0


@pytest.mark.timeout(90)
def test_inversion_trains_on_fashion_mnist_when_its_files_are_present(tmp_path):
    write_fashion_mnist(tmp_path / "data" / "FashionMNIST" / "raw")
    out = tmp_path / "out"
    done = run_benchmarks(
        "--only", "inversion", "--data-root", str(tmp_path / "data"), "--out-dir", str(out)
    )
    assert "## inversion" in done.stdout and "trained on: fashion_mnist" in done.stdout
    result = json.loads((out / "inversion.json").read_text())
    settings = result["settings"]
    assert settings["dataset"] == "fashion_mnist" and settings["n_bins"] == 256
    assert settings["model"].startswith("MintNet((1, 28, 28),")
    assert settings["n_images"] == 8 and math.isfinite(settings["final_train_bpd"])
    assert result["rows"]
    for row in result["rows"]:
        assert row["dataset"] == "fashion_mnist"
        assert math.isfinite(row["max_error"]) and row["layer_evals"] > 0, row
    assert_paper_schedule_costs_more(result["rows"])


def test_the_solver_benchmark_trains_only_the_flows_asked_for(tmp_path):
    write_fashion_mnist(tmp_path / "data" / "FashionMNIST" / "raw")
    out = tmp_path / "out"
    argv = ["--only", "solvers", "--data-root", str(tmp_path / "data"), "--out-dir", str(out)]
    run_benchmarks(*argv, "--flows", "digits")
    result = json.loads((out / "solvers.json").read_text())
    assert {r["dataset"] for r in result["rows"]} == {"digits"}
    assert set(result["settings"]["train_steps"]) == {"digits"}


def test_the_solver_benchmark_measures_a_given_checkpoint(tmp_path):
    from mintnet.checkpoint import save_flow
    from mintnet.nn import ImageFlow, MintNet

    write_fashion_mnist(tmp_path / "data" / "FashionMNIST" / "raw")
    torch.manual_seed(0)
    flow = ImageFlow(MintNet((1, 28, 28), n_layers=2, n_squeezes=1, hidden_groups=2), 256, 1e-6)
    checkpoint = save_flow(flow, tmp_path / "flow.pt")
    out = tmp_path / "out"
    argv = ["--only", "solvers", "--data-root", str(tmp_path / "data"), "--out-dir", str(out)]
    run_benchmarks(*argv, "--checkpoint", str(checkpoint))
    result = json.loads((out / "solvers.json").read_text())
    assert result["settings"]["checkpoint"] == str(checkpoint)
    cases = {(r["dataset"], r["dtype"], r["inputs"]) for r in result["rows"]}
    assert cases == {
        ("checkpoint flow.pt", dtype, inputs)
        for dtype in ("float32", "float64")
        for inputs in ("training images", "prior, T = 1")
    }
    for row in result["rows"]:  # an untrained flow is easy: every solver converges
        assert row["converged"] == 1.0 and row["layer_evals"] > 0, row


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_device_benchmark_runs_every_variant(tmp_path):
    """The GPU check, run small on the CPU: train-step variants (fp32/bf16 x eager/compiled, and
    eager with F.conv2d for every convolution), both sampling schedules with their round-trip
    errors, and layer against floor per stage (eager, compiled; F.conv2d where the layer has thin
    convolutions). The TF32 rows are for CUDA devices only."""
    args = ("--only", "device", "--device", "cpu", "--out-dir", str(tmp_path))
    done = run_benchmarks(*args, timeout=380)
    result = json.loads((tmp_path / "device.json").read_text())
    assert result["settings"]["device"] == "cpu"
    rows = result["rows"]
    steps = {r["variant"]: r for r in rows if r["what"] == "train step"}
    assert set(steps) == {
        "eager fp32",
        "eager bf16",
        "compiled fp32",
        "compiled bf16",
        "eager fp32, F.conv2d",
    }
    assert all(r["images_per_s"] > 0 and r["peak_MiB"] is None for r in steps.values())
    sampling = {r["variant"]: r for r in rows if r["what"].startswith("sample")}
    assert set(sampling) == {
        "paper: 100 iterations per layer",
        "tolerance stop (alpha 1, tol 1e-5)",
        "tolerance stop (alpha 1, tol 1e-6)",
    }
    assert sampling["paper: 100 iterations per layer"]["ratio"] == 1.0
    assert sampling["tolerance stop (alpha 1, tol 1e-5)"]["ratio"] < 1.0
    assert all(0 <= r["max_error"] < 1e-4 for r in sampling.values())
    layers = [(r["what"], r["variant"]) for r in rows if r["what"].startswith("layer")]
    thin, narrow = "layer C=1 K=18 8x8", "layer C=4 K=4 4x4"
    assert sorted(layers) == sorted(
        [(thin, "eager"), (thin, "compiled"), (thin, "eager, F.conv2d")]
        + [(narrow, "eager"), (narrow, "compiled")]
    )
    assert all(r["ratio"] > 0 for r in rows if r["what"].startswith("layer"))
    assert "## device" in done.stdout


def test_device_benchmark_without_cuda_says_what_to_do(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    command = [sys.executable, "-m", "benchmarks", "--only", "device", "--out-dir", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "no CUDA device" in done.stderr and "--device cpu" in done.stderr


def test_device_benchmark_parts_pick_what_runs(tmp_path):
    args = ("--only", "device", "--device", "cpu", "--parts", "sample", "--out-dir", str(tmp_path))
    run_benchmarks(*args, "--models", "tiny")
    rows = json.loads((tmp_path / "device.json").read_text())["rows"]
    assert rows and all(r["what"].startswith("sample") for r in rows)
    command = [sys.executable, "-m", "benchmarks", "--quick", "--only", "device"]
    command += ["--device", "cpu", "--parts", "everything", "--out-dir", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "--parts: unknown ['everything']" in done.stderr
    command[command.index("--parts") : command.index("--parts") + 2] = ["--models", "mnist"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "--models: unknown ['mnist']; choose from tiny" in done.stderr
