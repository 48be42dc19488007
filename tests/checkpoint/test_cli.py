"""``mintnet-import-official``: its messages, and import -> mintnet-eval -> mintnet-sample."""

import os
import subprocess
import sys
from pathlib import Path

import hydra
import pytest
import torch

from mintnet.checkpoint.official import experiment_model
from mintnet.cli.import_official import default_out, main
from tests.checkpoint.authors_format import authors_file, randomise

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def authors_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``digits_density`` model with random weights, saved as the authors save theirs."""
    module = hydra.utils.instantiate(experiment_model("digits_density").config)
    randomise(module, seed=0)
    path = tmp_path_factory.mktemp("authors") / "checkpoint.pth"
    ema = {k.removeprefix("module."): v for k, v in authors_file(module.flow.net)[0].items()}
    torch.save(authors_file(module.flow.net, epoch=299, step=5000, ema=ema), path)
    return path


def test_import_says_what_it_read_and_wrote(authors_checkpoint, tmp_path, capsys):
    out = tmp_path / "mintnet.ckpt"
    main([str(authors_checkpoint), "--experiment", "digits_density", "--out", str(out)])
    printed = capsys.readouterr().out
    assert (
        f"read {authors_checkpoint}: the authors' density checkpoint, saved at epoch 299, "
        "step 5000; took its model weights (the file also holds EMA weights: add --ema" in printed
    )
    assert f"wrote {out}: experiment digits_density, weights only" in printed
    assert f"python -m mintnet.eval ckpt_path={out} data=digits" in printed
    assert f"mintnet-sample --ckpt {out}" in printed
    assert torch.load(out, weights_only=True)["mintnet"]["imported"]["step"] == 5000


def test_default_output_is_beside_the_file(authors_checkpoint, capsys):
    main([str(authors_checkpoint), "--experiment", "digits_density", "--ema"])
    expected = default_out(authors_checkpoint, "digits_density", ema=True)
    assert expected == authors_checkpoint.parent / "checkpoint_digits_density_ema.ckpt"
    assert expected.is_file() and "took its EMA weights" in capsys.readouterr().out


@pytest.mark.parametrize(
    "args, message",
    [
        (["--experiment", "digits_classification"], "is from a density run, and experiment"),
        (["--experiment", "nope"], "experiment 'nope' is not in conf/experiment/"),
    ],
)
def test_expected_errors_are_one_line_and_exit_1(authors_checkpoint, capsys, args, message):
    with pytest.raises(SystemExit) as info:
        main([str(authors_checkpoint), *args])
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err.startswith("mintnet-import-official: error: ") and message in err
    assert err.count("\n") == 1


def test_a_missing_file_is_named(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([str(tmp_path / "nope.pth"), "--experiment", "digits_density"])
    assert f"checkpoint {tmp_path / 'nope.pth'} does not exist" in capsys.readouterr().err


@pytest.mark.slow
def test_import_then_evaluate_then_sample(authors_checkpoint, tmp_path):
    """The three command-line tools in a row, each in its own process."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "src"), "OMP_NUM_THREADS": "1"}
    bin_dir = Path(sys.executable).parent
    out = tmp_path / "imported.ckpt"

    def run(*command: str) -> str:
        done = subprocess.run(
            command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done.stdout

    printed = run(
        str(bin_dir / "mintnet-import-official"),
        str(authors_checkpoint),
        "--experiment",
        "digits_density",
        "--out",
        str(out),
    )
    assert "saved at epoch 299, step 5000" in printed
    metrics = run(
        sys.executable,
        "-m",
        "mintnet.eval",
        f"ckpt_path={out}",
        "logger=none",
        f"paths.log_dir={tmp_path / 'logs'}",
        f"hydra.run.dir={tmp_path / 'eval'}",
    )
    assert "test/bpd:" in metrics
    run(str(bin_dir / "mintnet-sample"), "--ckpt", str(out), "--n", "4", "--device", "cpu")
    assert (tmp_path / "analysis" / "samples_imported_T1.png").is_file()
