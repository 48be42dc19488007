import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from PIL import Image

from mintnet.cli.__main__ import main
from mintnet.cli.figure_args import analysis_dir
from mintnet.cli.interpolate import main as interpolate_main
from mintnet.cli.inversion_accuracy import main as inversion_accuracy_main
from mintnet.cli.sample import main as sample_main

REPO = Path(__file__).resolve().parents[2]


def grid_side(n_tiles: int, tile: int = 64, padding: int = 2) -> int:
    return n_tiles * (tile + padding) + padding


def test_analysis_dir_is_next_to_checkpoints(tmp_path):
    assert (
        analysis_dir(tmp_path / "run" / "checkpoints" / "a.ckpt") == tmp_path / "run" / "analysis"
    )
    assert analysis_dir(tmp_path / "loose.ckpt") == tmp_path / "analysis"


def test_sample_writes_grid_and_prints_report(flow_ckpt, capsys):
    sample_main(
        ["--ckpt", str(flow_ckpt), "--n", "9", "--device", "cpu", "--max-iter", "200", "-v"]
    )
    path = flow_ckpt.parent.parent / "analysis" / "samples_last_T1.png"
    out = capsys.readouterr().out
    assert f"wrote 9 samples to {path}" in out
    assert "inversion: 4 Mint layers: at most" in out and "worst residual" in out
    assert out.count("largest residual") == 4  # -v: one line per Mint layer
    with Image.open(path) as png:
        assert png.size == (grid_side(3), grid_side(3))


def test_the_solver_options_override_the_models_settings(flow_ckpt):
    from mintnet.checkpoint import load_flow_from_checkpoint
    from mintnet.cli.figure_args import add_inverse_args, figure_parser, settings_from_args

    parser = figure_parser("mintnet-sample", "test")
    add_inverse_args(parser)
    flow = load_flow_from_checkpoint(flow_ckpt)
    base = ["--ckpt", str(flow_ckpt)]
    assert settings_from_args(parser, parser.parse_args(base), flow) is None  # the model's own
    args = parser.parse_args([*base, "--anderson-memory", "3", "--no-refine-in-float64"])
    settings = settings_from_args(parser, args, flow)
    assert (settings.method, settings.anderson_memory, settings.refine_in_float64) == (
        "anderson",
        3,
        False,
    )
    args = parser.parse_args([*base, "--method", "fixed_point", "--alpha", "0.2857"])
    settings = settings_from_args(parser, args, flow)
    assert (settings.method, settings.alpha, settings.refine_in_float64) == (
        "fixed_point",
        0.2857,
        True,
    )


def test_inversion_accuracy_writes_csv_and_plot(flow_ckpt, tmp_path, capsys):
    args = ["--ckpt", str(flow_ckpt), "--out-dir", str(tmp_path), "--device", "cpu"]
    inversion_accuracy_main([*args, "--n-images", "4", "--iterations", "1", "30", "--alphas", "1"])
    out = capsys.readouterr().out
    assert (tmp_path / "inversion_accuracy_last.csv").is_file()
    assert (tmp_path / "inversion_accuracy_last.png").is_file()
    assert "alpha=1, T=30: normalised L2 error" in out


def test_interpolate_writes_grid(flow_ckpt, tmp_path, capsys):
    args = ["--ckpt", str(flow_ckpt), "--out-dir", str(tmp_path), "--device", "cpu"]
    interpolate_main([*args, "--steps", "3", "--data", "digits", "--split", "val"])
    assert "3x3 interpolation grid" in capsys.readouterr().out
    with Image.open(tmp_path / "interpolation_last.png") as png:
        assert png.size == (grid_side(3), grid_side(3))


def test_missing_checkpoint_exits_with_message(tmp_path, capsys):
    missing = tmp_path / "missing.ckpt"
    with pytest.raises(SystemExit) as exit_info:
        sample_main(["--ckpt", str(missing), "--device", "cpu"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.strip() == (
        f"mintnet-sample: error: checkpoint {missing} does not exist"
    )


def test_foreign_checkpoint_exits_with_message(tmp_path, capsys):
    path = tmp_path / "other.ckpt"
    torch.save({"model": torch.zeros(2)}, path)
    with pytest.raises(SystemExit) as exit_info:
        interpolate_main(["--ckpt", str(path), "--device", "cpu"])
    assert exit_info.value.code == 1
    assert f"{path} is not a mintnet checkpoint" in capsys.readouterr().err


def test_bad_alpha_is_a_usage_error(flow_ckpt, capsys):
    with pytest.raises(SystemExit) as exit_info:
        sample_main(["--ckpt", str(flow_ckpt), "--device", "cpu", "--alpha", "3"])
    assert exit_info.value.code == 2
    assert "alpha=3.0 is outside (0, 2)" in capsys.readouterr().err


def test_unknown_command_is_refused(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["plot"])
    assert exit_info.value.code == 2
    assert "usage:" in capsys.readouterr().err


@pytest.mark.slow
def test_module_entry_point_samples(flow_ckpt, tmp_path):
    """The CLI as a separate process: ``python -m mintnet.cli sample ...``."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "mintnet.cli", "sample", "--ckpt", str(flow_ckpt)]
    command += ["--n", "4", "--device", "cpu", "--out-dir", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "samples_last_T1.png").is_file()
    assert "inversion: 4 Mint layers" in done.stdout
