"""Failure behaviour: each case is provoked and what the user gets is checked."""

import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

from mintnet.callbacks import NonFiniteLossError
from mintnet.checkpoint import (
    AtomicCheckpointIO,
    CheckpointError,
    check_checkpoint,
    load_module,
    read_checkpoint,
)
from mintnet.config import ConfigError
from mintnet.data import DigitsDataModule
from mintnet.nn import InverseSettings, InversionError, InversionWarning
from mintnet.train import build, train
from tests.conftest import FAST_TRAINER, TINY_DENSITY

QUIET = ["logger=csv", "callbacks.sample_images.n_samples=4", "callbacks.progress_bar=null"]
REPO = Path(__file__).resolve().parents[1]


# 1. configuration is checked before any work ---------------------------------------------------
@pytest.mark.parametrize(
    "override, message",
    [
        (
            "model.flow.net.inversion.alpha=2.5",
            "model.flow.net.inversion.alpha=2.5: alpha=2.5 is outside (0, 2)",
        ),
        (
            "model.flow.net.inversion.method=newton",
            "model.flow.net.inversion.method=newton: method must be one of fixed_point, damped, "
            "anderson; got 'newton'",
        ),
        (
            "model.flow.net.inversion.refine_in_float64=maybe",
            "model.flow.net.inversion.refine_in_float64=maybe: refine_in_float64 must be true or "
            "false, got 'maybe'",
        ),
        ("model.flow.net.n_layers=-1", "model.flow.net.n_layers=-1: n_layers"),
        ("data.batch_size=many", "data.batch_size=many: batch_size"),
        ("model.flow.net.n_squeezes=4", "image size 8x8 cannot be halved n_squeezes=4 times"),
        (
            "model.flow.net.in_shape=[3,8,8]",
            "model.flow.net.in_shape=[3, 8, 8] does not fit data 'digits'",
        ),
        ("model.flow.logit_lam=0.7", "model.flow.logit_lam=0.7: "),
        ("model.eval_samples=0", "model: samples must be an int >= 1"),
        ("model.sample_temperature=0", "model.sample_temperature=0: sample_temperature must be"),
        ("model.optimizer.lr=-1", "model.optimizer: the optimizer refuses its arguments"),
        ("trainer.max_epochs=-5", "trainer.max_epochs=-5: `max_epochs` must be"),
        ("seed=-1", "seed=-1: "),
    ],
)
def test_bad_configuration_is_refused_before_any_data_is_read(
    compose_cfg, override, message, monkeypatch
):
    def read(self):
        raise AssertionError("the data was read before the configuration was checked")

    monkeypatch.setattr(DigitsDataModule, "check", read)
    monkeypatch.setattr(DigitsDataModule, "prepare_data", read)
    monkeypatch.setattr(DigitsDataModule, "setup", read)
    with pytest.raises(ConfigError) as info:
        train(compose_cfg([override] + QUIET))
    assert message in str(info.value)


def test_classifier_on_data_with_other_class_count_is_refused(compose_cfg):
    cfg = compose_cfg(["model=mintnet_classifier", "model.num_classes=3"] + QUIET)
    with pytest.raises(
        ConfigError, match=r"model.num_classes=3 does not fit data 'digits'.*num_classes=10"
    ):
        train(cfg)


# 2. non-finite losses ---------------------------------------------------------------------------
def _nan_on(model, steps: set[int]):
    """Make the loss NaN on the given training-step indices (counting calls in train mode)."""
    forward, calls = model.flow.forward, {"n": 0}

    def poisoned(x):
        bpd = forward(x)
        if model.training:
            calls["n"] += 1
            if calls["n"] - 1 in steps:
                return bpd * float("nan")
        return bpd

    model.flow.forward = poisoned


def test_a_nan_batch_is_skipped_and_does_not_touch_the_weights(compose_cfg):
    cfg = compose_cfg(TINY_DENSITY + FAST_TRAINER + QUIET + ["test=false"])
    datamodule, model, trainer = build(cfg)
    _nan_on(model, {1})
    snapshots = []
    model.on_train_batch_start = lambda batch, idx: snapshots.append(
        [p.detach().clone() for p in model.parameters()]
    )
    trainer.fit(model, datamodule=datamodule)
    guard = next(c for c in trainer.callbacks if type(c).__name__ == "NonFiniteGuard")
    assert guard.skipped == 1 and guard.consecutive == 0
    after_nan_step = snapshots[2]  # weights at the start of step 2 = after the NaN step 1
    assert all(torch.equal(a, b) for a, b in zip(snapshots[1], after_nan_step, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(snapshots[0], snapshots[1], strict=True))
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_too_many_nan_steps_in_a_row_stop_with_a_clear_error(compose_cfg):
    cfg = compose_cfg(
        TINY_DENSITY
        + QUIET
        + [
            "trainer.max_epochs=3",
            "+trainer.limit_train_batches=3",
            "+trainer.limit_val_batches=1",
            "callbacks.non_finite_guard.max_consecutive=3",
            "test=false",
        ]
    )
    datamodule, model, trainer = build(cfg)
    _nan_on(model, set(range(3, 100)))  # epoch 0 is clean, then every step is NaN
    with pytest.raises(
        NonFiniteLossError, match="3 consecutive training steps had a NaN/Inf loss"
    ):
        trainer.fit(model, datamodule=datamodule)
    good = Path(cfg.paths.output_dir) / "checkpoints" / "epoch_000.ckpt"
    assert all(torch.isfinite(t).all() for t in read_checkpoint(good)["state_dict"].values())


# 3. exit codes ------------------------------------------------------------------------------------
@pytest.mark.slow
def test_eval_of_a_missing_checkpoint_exits_non_zero_with_the_cause(tmp_path):
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "mintnet.eval",
            f"ckpt_path={tmp_path / 'nope.ckpt'}",
            f"paths.log_dir={tmp_path}",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert run.returncode == 1
    assert f"mintnet-eval: error: checkpoint {tmp_path / 'nope.ckpt'} does not exist" in run.stderr


@pytest.mark.slow
def test_make_train_exits_non_zero_on_a_bad_value(tmp_path):
    run = subprocess.run(
        ["make", "-s", "train", f"ARGS=data.batch_size=0 paths.log_dir={tmp_path} logger=none"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert run.returncode != 0
    assert "mintnet-train: error: data.batch_size=0: batch_size must be" in run.stderr


# 4. resume = uninterrupted ------------------------------------------------------------------------
def _weights(path: Path) -> dict[str, torch.Tensor]:
    return read_checkpoint(path)["state_dict"]


@pytest.mark.slow
@pytest.mark.parametrize("callbacks", ["default", "ema"])
def test_resume_equals_uninterrupted_training(compose_cfg, tmp_path, callbacks):
    common = (
        TINY_DENSITY
        + QUIET
        + [
            f"callbacks={callbacks}",
            "+trainer.limit_train_batches=4",
            "+trainer.limit_val_batches=1",
            "trainer.deterministic=true",
            "test=false",
            "callbacks.progress_bar=null",
            "model.scheduler={_target_: torch.optim.lr_scheduler.StepLR, _partial_: true, step_size: 1, gamma: 0.5}",
        ]
    )
    runs = {}
    for name, extra in {
        "whole": ["trainer.max_epochs=3"],
        "first": ["trainer.max_epochs=1"],
    }.items():
        cfg = compose_cfg(common + extra + [f"paths.output_dir={tmp_path / name}"])
        train(cfg)
        runs[name] = tmp_path / name / "checkpoints" / "last.ckpt"
    cfg = compose_cfg(
        common
        + [
            "trainer.max_epochs=3",
            f"ckpt_path={runs['first']}",
            f"paths.output_dir={tmp_path / 'resumed'}",
        ]
    )
    train(cfg)
    whole, resumed = (
        _weights(runs["whole"]),
        _weights(tmp_path / "resumed" / "checkpoints" / "last.ckpt"),
    )
    assert whole.keys() == resumed.keys()
    for key in whole:
        assert torch.allclose(whole[key], resumed[key], atol=1e-6, rtol=0), key
    resumed_step = read_checkpoint(tmp_path / "resumed" / "checkpoints" / "last.ckpt")[
        "global_step"
    ]
    assert read_checkpoint(runs["whole"])["global_step"] == resumed_step >= 8


# 5. atomic writes (pre-emption at any step: tests/test_resume.py) ----------------------------------------------------------------
def test_a_crash_mid_write_leaves_the_previous_checkpoint_intact(tmp_path, monkeypatch):
    path = tmp_path / "last.ckpt"
    io = AtomicCheckpointIO()
    io.save_checkpoint({"state": torch.ones(3)}, path)

    def crash(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError, match="disk full"):
        io.save_checkpoint({"state": torch.zeros(3)}, path)
    monkeypatch.undo()
    assert torch.equal(torch.load(path, weights_only=True)["state"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]  # no temporary file left


# 6. corrupt or foreign files ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained_checkpoint(tmp_path_factory):
    from hydra import compose, initialize_config_dir

    from tests.conftest import CONF_DIR

    out = tmp_path_factory.mktemp("ckpt")
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose(
            "train",
            overrides=TINY_DENSITY
            + FAST_TRAINER
            + QUIET
            + [f"paths.output_dir={out}", "test=false"],
        )
    return train(cfg).checkpoint


def test_truncated_checkpoint_names_the_file(trained_checkpoint, tmp_path):
    broken = tmp_path / "broken.ckpt"
    broken.write_bytes(trained_checkpoint.read_bytes()[:5000])
    with pytest.raises(
        CheckpointError, match=rf"checkpoint {broken} cannot be read as a PyTorch checkpoint"
    ):
        load_module(broken)


def test_foreign_checkpoint_is_refused(tmp_path):
    other = tmp_path / "other.ckpt"
    torch.save({"state_dict": {"w": torch.ones(1)}, "epoch": 3}, other)
    with pytest.raises(CheckpointError, match=rf"checkpoint {other} is not a mintnet checkpoint"):
        load_module(other)


def test_checkpoint_of_another_model_is_refused_before_resuming(compose_cfg, trained_checkpoint):
    _, other_model, _ = build(compose_cfg(["model.flow.net.hidden_groups=3"] + QUIET))
    with pytest.raises(CheckpointError, match="is of another model than this config builds"):
        check_checkpoint(trained_checkpoint, other_model)
    with pytest.raises(CheckpointError, match="is of another model"):
        train(
            compose_cfg(
                ["model.flow.net.hidden_groups=3", f"ckpt_path={trained_checkpoint}"] + QUIET
            )
        )


def test_checkpoints_load_with_weights_only(trained_checkpoint):
    checkpoint = torch.load(trained_checkpoint, map_location="cpu", weights_only=True)
    assert "mintnet" in checkpoint and "state_dict" in checkpoint


# 7. inversion that does not converge --------------------------------------------------------------
def test_non_converging_sampling_reports_the_layer_and_residual(trained_checkpoint):
    module = load_module(trained_checkpoint)
    with pytest.warns(
        InversionWarning,
        match=r"\d+\.(lower|upper): NOT converged after 2 iterations, largest residual .*"
        r"solved again in float64",  # one float32 update, then one in float64
    ):
        module.sample(4, settings=InverseSettings(max_iter=1, tol=1e-12))
    with pytest.raises(InversionError, match="largest residual"):
        module.sample(4, settings=InverseSettings(max_iter=1, tol=1e-12, on_fail="raise"))


# 8. numerical range -------------------------------------------------------------------------------
@pytest.mark.parametrize("lam", [1e-6, 0.05])
@pytest.mark.parametrize("bf16", [False, True])
def test_all_black_and_all_white_images_give_finite_bits_per_dim(trained_checkpoint, lam, bf16):
    module = load_module(trained_checkpoint)
    module.flow.logit.lam = lam
    x = torch.cat([torch.zeros(4, 1, 8, 8), torch.ones(4, 1, 8, 8)])
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16), warnings.catch_warnings():
        bpd = module(x)
    assert bpd.dtype == torch.float32 and torch.isfinite(bpd).all(), bpd
