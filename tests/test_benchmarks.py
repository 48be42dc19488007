import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXPECTED = {
    "layer_vs_floor": ("ratio_wall", "ratio_cpu", "floor_ms", "layer_ms"),
    "train_step": ("images_per_s", "vs_no_logdet_wall", "saved_MiB"),
    "inversion": ("ms", "layer_evals", "max_error", "time_vs_paper"),
    "scaling": ("ms_per_image", "ns_per_pixel", "per_pixel_vs_smallest"),
}


@pytest.mark.timeout(120)
def test_quick_benchmarks_write_sane_results(tmp_path):
    command = [sys.executable, "-m", "benchmarks", "--quick", "--out-dir", str(tmp_path)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    for name, fields in EXPECTED.items():
        assert f"## {name}" in done.stdout
        result = json.loads((tmp_path / f"{name}.json").read_text())
        assert result["name"] == name and result["settings"]["quick"] is True
        assert result["environment"]["threads"] == 1
        assert result["rows"], name
        for row in result["rows"]:
            for field in fields:
                assert row[field] is not None and row[field] > 0, (name, field, row)
    inversion = json.loads((tmp_path / "inversion.json").read_text())["rows"]
    paper = next(r for r in inversion if r["method"].startswith("paper"))
    assert paper["layer_evals"] > max(r["layer_evals"] for r in inversion if r["tol"] == 1e-5)
