"""``mintnet-reconstruct`` and ``ImageFlow.reconstruct`` on image folders and dataset splits."""

import csv
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from mintnet.analysis.reconstruction import ImageFolderError, read_image_folder
from mintnet.cli.reconstruct import main
from tests.analysis.helpers import digits

BIN = Path(sys.executable).parent


def write_digit_pngs(folder: Path, indices: list[int]) -> list[np.ndarray]:
    """Digits as 8-bit greyscale PNGs, level k stored as round(k * 255 / 16)."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = []
    for i in indices:
        array = np.round(digits()[i, 0].numpy() * 255).astype(np.uint8)
        Image.fromarray(array).save(folder / f"digit_{i:04d}.png")
        arrays.append(array)
    return arrays


def read_table(path: Path) -> list[list[str]]:
    with path.open() as f:
        return list(csv.reader(f))


def test_the_command_line_gives_an_image_folder_back_exactly(flow_ckpt, tmp_path):
    originals = write_digit_pngs(tmp_path / "pngs", [0, 7, 42])
    run = subprocess.run(
        [BIN / "mintnet-reconstruct", "--ckpt", flow_ckpt, "--images", tmp_path / "pngs"]
        + ["--out-dir", tmp_path / "out", "--device", "cpu", "--save-images"],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "3 of 3 images reconstructed exactly (pngs)" in run.stdout
    table = tmp_path / "out" / "reconstruct_last_pngs.csv"
    assert read_table(table) == [
        ["image", "max_error_grey_levels"],
        ["digit_0000.png", "0"],
        ["digit_0007.png", "0"],
        ["digit_0042.png", "0"],
    ]
    for name, original in zip(("0000", "0007", "0042"), originals, strict=True):
        with Image.open(tmp_path / "out" / "reconstructed_pngs" / f"digit_{name}.png") as png:
            assert np.array_equal(np.asarray(png), original)


def test_a_dataset_split_is_reconstructed_image_by_image(flow_ckpt, tmp_path, capsys):
    main(
        ["--ckpt", str(flow_ckpt), "--data", "digits", "--split", "test", "--limit", "20"]
        + ["--out-dir", str(tmp_path), "--device", "cpu", "--batch-size", "8"]
    )
    out = capsys.readouterr().out
    assert "20 of 20 images reconstructed exactly (digits_test)" in out
    rows = read_table(tmp_path / "reconstruct_last_digits_test.csv")
    assert [r[0] for r in rows[1:]] == [str(i) for i in range(20)]


@pytest.mark.filterwarnings("ignore::mintnet.nn.InversionWarning")
def test_a_starved_inversion_is_reported_and_exits_1(flow_ckpt, tmp_path, capsys):
    write_digit_pngs(tmp_path / "pngs", [1, 2])
    args = ["--ckpt", str(flow_ckpt), "--images", str(tmp_path / "pngs"), "--device", "cpu"]
    args += ["--out-dir", str(tmp_path), "--method", "fixed_point", "--max-iter", "1"]
    args += ["--alpha", "0.05"]
    with pytest.raises(SystemExit) as info:
        main(args)
    captured = capsys.readouterr()
    assert info.value.code == 1
    assert "images differ from their reconstruction" in captured.err
    rows = read_table(tmp_path / "reconstruct_last_pngs.csv")[1:]
    assert any(int(error) > 0 for _, error in rows)


def test_a_wrong_sized_image_is_refused_by_name(tmp_path):
    folder = tmp_path / "pngs"
    write_digit_pngs(folder, [3])
    Image.fromarray(np.zeros((9, 8), dtype=np.uint8)).save(folder / "tall.png")
    with pytest.raises(ImageFolderError, match=r"tall.png is 8x9 pixels; the model takes 8x8"):
        read_image_folder(folder, (1, 8, 8), 17)
    with pytest.raises(ImageFolderError, match="no images"):
        read_image_folder(tmp_path, (1, 8, 8), 17)
    with pytest.raises(ImageFolderError, match="does not exist"):
        read_image_folder(tmp_path / "missing", (1, 8, 8), 17)


def test_eight_bit_values_land_on_the_models_grid(tmp_path):
    write_digit_pngs(tmp_path / "pngs", [5])
    _, images = read_image_folder(tmp_path / "pngs", (1, 8, 8), 17)
    assert torch.equal(images[0], digits()[5])
