"""Installed, not only cloned: the wheel carries the configs, so an installed mintnet trains,
sweeps and takes a user's own config folder from any directory, without the source tree."""

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAST = [
    "logger=csv",
    "trainer.max_epochs=1",
    "+trainer.limit_train_batches=2",
    "+trainer.limit_val_batches=1",
    "+trainer.limit_test_batches=1",
    "model.flow.net.n_layers=2",
    "model.flow.net.hidden_groups=2",
    "compare_pixel_baseline=false",
    "paths.log_dir=logs",
]


def build_wheel(tmp_path: Path) -> Path:
    """The project's wheel, built from a copy of the repository's code (the library, the
    benchmarks and the results pipeline beside it) and project files."""
    source = tmp_path / "source"
    ignore = shutil.ignore_patterns("__pycache__", "*.egg-info", "local", "results")
    for folder in ("src", "benchmarks", "reproduction"):
        shutil.copytree(ROOT / folder, source / folder, ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    dist = tmp_path / "dist"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(dist),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = dist.glob("mintnet-*.whl")
    return wheel


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("wheel"))


def test_the_wheel_holds_the_library_and_not_the_folders_beside_it(wheel):
    with zipfile.ZipFile(wheel) as archive:
        tops = {name.split("/")[0] for name in archive.namelist()}
    assert {"mintnet", "hydra_plugins"} <= tops
    assert not {"reproduction", "benchmarks", "tests"} & tops, sorted(tops)
    assert {t for t in tops if not t.endswith(".dist-info")} == {"mintnet", "hydra_plugins"}
    with zipfile.ZipFile(wheel) as archive:  # the Optuna sweeper, its samplers and pruners
        names = set(archive.namelist())
    assert "hydra_plugins/mintnet_optuna/sweeper.py" in names
    assert {f"mintnet/conf/hydra/sweeper/{n}.yaml" for n in ("optuna", "pruner/median")} <= names


@pytest.mark.slow
def test_the_installed_wheel_trains_sweeps_and_reads_a_users_config_folder(tmp_path, wheel):
    target = tmp_path / "installed"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    work = tmp_path / "elsewhere"  # an empty folder: no conf/, no source tree
    work.mkdir()
    env = {**os.environ, "PYTHONPATH": str(target), "OMP_NUM_THREADS": "1", "WANDB_SILENT": "true"}

    def run(command: list[str]) -> subprocess.CompletedProcess:
        done = subprocess.run(
            command, cwd=work, env=env, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
        return done

    where = run(
        [
            sys.executable,
            "-c",
            "import mintnet, hydra_plugins.mintnet_optuna as p; "
            "print(mintnet.__file__); print(p.__file__)",
        ]
    ).stdout.split()
    assert all(Path(f).is_relative_to(target) for f in where), where  # not the source tree
    assert (target / "mintnet" / "conf" / "train.yaml").is_file()

    single = run([str(target / "bin" / "mintnet-train"), *FAST])  # the console script
    assert "test bits/dim:" in single.stdout

    sweep = run(
        [sys.executable, "-m", "mintnet.train", "-m", "seed=0,1", *FAST, "hydra.sweep.dir=sweep"]
    )
    assert "2 jobs, 0 failed" in sweep.stdout
    assert sorted(p.parent.name for p in (work / "sweep").glob("*/job_status.json")) == ["0", "1"]

    user = tmp_path / "my_configs"
    (user / "experiment").mkdir(parents=True)
    (user / "experiment" / "my_digits.yaml").write_text(
        "# @package _global_\ntask_name: my_digits\nmodel:\n  flow:\n    net:\n"
        "      hidden_groups: 3\n"
    )
    mine = run(
        [
            sys.executable,
            "-m",
            "mintnet.train",
            f"--config-dir={user}",
            "experiment=my_digits",
            *FAST,
        ]
    )
    assert "logs/my_digits/" in mine.stdout
