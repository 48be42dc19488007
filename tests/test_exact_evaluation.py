"""Evaluation numbers that do not depend on the number of processes: the independent-pixel
baseline, and test bits/dim with a seeded (deterministic) dequantisation."""

import math
import re
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from mintnet.config import ConfigError
from mintnet.data import DigitsDataModule
from mintnet.eval import evaluate
from mintnet.nn.noise import EstimateError
from mintnet.pixel_baseline import pixel_baseline, whole_split
from tests.test_ddp import ODD_TEST_FRACTION, TINY_DDP, TINY_DENSITY, logged, run_train


def reference_baseline(train: np.ndarray, test: np.ndarray, n_bins: int) -> float:
    """Per-pixel histograms with one pseudo-count, in plain numpy loops over the pixels."""
    train, test = train.reshape(len(train), -1), test.reshape(len(test), -1)
    total = 0.0
    for d in range(train.shape[1]):
        counts = np.bincount(train[:, d], minlength=n_bins) + 1.0
        total += np.log2(counts[test[:, d]] / counts.sum()).sum()
    return -total / test.size


def _levels(images: torch.Tensor, n_bins: int) -> np.ndarray:
    return torch.round(images * (n_bins - 1)).long().numpy()


def test_baseline_matches_a_numpy_re_derivation_on_the_whole_split():
    dm = DigitsDataModule(test_fraction=ODD_TEST_FRACTION)
    train, test = whole_split(dm, "train"), whole_split(dm, "test")
    assert (len(train), len(test)) == (len(dm.datasets["train"]), len(dm.datasets["test"]))
    expected = reference_baseline(_levels(train, 17), _levels(test, 17), 17)
    assert pixel_baseline(dm) == pytest.approx(expected, abs=1e-12)


def _rank(rank: int, port: int, out: str) -> None:
    torch.set_num_threads(1)
    dist.init_process_group("gloo", f"tcp://127.0.0.1:{port}", rank=rank, world_size=2)
    try:
        dm = DigitsDataModule(test_fraction=ODD_TEST_FRACTION)
        dm.setup()
        shard = sum(len(x) for x, _ in dm.train_dataloader())  # what the old baseline read
        Path(out, f"rank{rank}.txt").write_text(f"{pixel_baseline(dm)!r} {shard}")
    finally:
        dist.destroy_process_group()


def test_baseline_is_the_same_on_each_of_two_ranks_as_in_one_process(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    mp.spawn(_rank, args=(port, str(tmp_path)), nprocs=2, join=True)
    single_dm = DigitsDataModule(test_fraction=ODD_TEST_FRACTION)
    single = pixel_baseline(single_dm)
    n_train = len(single_dm.datasets["train"])
    for rank in (0, 1):
        value, shard = (tmp_path / f"rank{rank}.txt").read_text().split()
        assert float(value) == single, (rank, value, single)
        assert int(shard) < n_train  # the training loader holds one rank's share under DDP


def _eval(compose_cfg, checkpoint: Path, *overrides: str) -> dict[str, float]:
    cfg = compose_cfg(
        [
            f"ckpt_path={checkpoint}",
            f"data.test_fraction={ODD_TEST_FRACTION}",
            "+trainer.enable_progress_bar=false",
            *overrides,
        ],
        name="eval",
    )
    return evaluate(cfg)


@pytest.mark.slow
def test_two_process_run_reports_the_single_process_numbers(tmp_path, compose_cfg):
    run_dir = tmp_path / "run"
    ddp = [o for o in TINY_DDP if not o.startswith("compare_pixel_baseline")]
    args = ddp + TINY_DENSITY + ["model.eval_seed=0", f"hydra.run.dir={run_dir}"]
    stdout = run_train(args, tmp_path).stdout
    printed = re.search(r"independent-pixel baseline: ([0-9.]+) bits/dim", stdout)
    single_baseline = pixel_baseline(DigitsDataModule(test_fraction=ODD_TEST_FRACTION))
    assert printed and printed.group(1) == f"{single_baseline:.4f}", stdout[-2000:]

    # seeded noise: one process, any batch size, gives the two-process test bits/dim
    ddp_bpd = logged(run_dir)["test/bpd"]
    checkpoint = run_dir / "checkpoints" / "epoch_000.ckpt"
    for batch_size in (64, 5):
        single = _eval(compose_cfg, checkpoint, f"data.batch_size={batch_size}")["test/bpd"]
        assert single == pytest.approx(ddp_bpd, abs=2e-6), (batch_size, single, ddp_bpd)
    # and eval_seed overrides the checkpoint's choice: another seed, another (close) value
    other = _eval(compose_cfg, checkpoint, "eval_seed=1")["test/bpd"]
    assert other != ddp_bpd and abs(other - ddp_bpd) < 0.05

    # K = 8 importance-weighted draws: a lower estimate than one draw, by Jensen per image
    iw = _eval(compose_cfg, checkpoint, "eval_samples=8", "eval_seed=0")["test/bpd"]
    assert math.isfinite(iw) and iw < ddp_bpd


def test_eval_options_are_refused_for_a_classifier():
    from omegaconf import OmegaConf

    from mintnet.eval import _choose_estimate
    from mintnet.modules import ClassificationModule
    from mintnet.nn import MintClassifier

    net = MintClassifier(1, 10, (8, 8), n_layers=1, n_squeezes=0, padded_channels=2)
    model = ClassificationModule(net, num_classes=10)
    cfg = OmegaConf.create({"ckpt_path": "c.ckpt", "eval_samples": 4, "eval_seed": None})
    with pytest.raises(ConfigError, match="apply to density models; c.ckpt holds a Classif"):
        _choose_estimate(model, cfg)
    _choose_estimate(model, OmegaConf.create({"eval_samples": None, "eval_seed": None}))


def test_density_module_refuses_a_bad_sample_count():
    from mintnet.modules import DensityModule
    from mintnet.nn import ImageFlow, MintNet

    net = MintNet((1, 8, 8), n_layers=1, n_squeezes=0, hidden_groups=1)
    with pytest.raises(EstimateError, match="samples must be an int >= 1.*got 0"):
        DensityModule(ImageFlow(net, n_bins=17), eval_samples=0)
