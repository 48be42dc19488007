import dataclasses

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from mintnet.callbacks import InversionErrorCallback
from mintnet.nn import InversionWarning
from tests.analysis.helpers import digits, tiny_flow


class FlowModule(pl.LightningModule):
    """The least a density module needs: ``.flow`` and a bits/dim loss."""

    def __init__(self) -> None:
        super().__init__()
        self.flow = tiny_flow()

    def training_step(self, batch, batch_idx):
        return self.flow(batch[0]).mean()

    def validation_step(self, batch, batch_idx):
        self.log("val/bpd", self.flow(batch[0]).mean())

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=1e-3)


class NoFlowModule(FlowModule):
    def __init__(self) -> None:
        super().__init__()
        self.net = self.flow
        del self.flow

    def training_step(self, batch, batch_idx):
        return self.net(batch[0]).mean()

    def validation_step(self, batch, batch_idx):
        pass


def fit(module: pl.LightningModule, callback: InversionErrorCallback, tmp_path) -> pl.Trainer:
    data = TensorDataset(digits()[:16], torch.zeros(16))
    trainer = pl.Trainer(
        max_epochs=2,
        limit_train_batches=1,
        limit_val_batches=2,
        callbacks=[callback],
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        accelerator="cpu",
    )
    trainer.fit(module, DataLoader(data, batch_size=8), DataLoader(data, batch_size=8))
    return trainer


def test_logs_inversion_error_and_iterations(tmp_path):
    trainer = fit(FlowModule(), InversionErrorCallback(every_n_epochs=2, max_images=4), tmp_path)
    metrics = trainer.callback_metrics
    assert float(metrics["val/inversion_error"]) < 1e-3  # logit space, default tolerance 1e-5
    assert 1 <= float(metrics["val/inversion_iterations"]) <= 100
    assert float(metrics["val/inversion_converged"]) == 1.0
    assert float(metrics["val/inversion_evaluations"]) >= 1


def test_measure_matches_a_direct_inversion():
    flow = tiny_flow()
    check = InversionErrorCallback.measure(flow, digits()[:3])
    assert 0.0 <= check.error < 1e-3 and check.iterations >= 1
    v = flow.centre_logits(digits()[:3].to(torch.float32))
    reports = flow.net.inverse_with_report(flow.net(v)[0])[1]
    assert check.evaluations == pytest.approx(sum(r.evaluations for r in reports))
    assert check.converged == 1.0


def test_measure_counts_the_images_above_tol_and_takes_a_method():
    flow = tiny_flow()
    for layer in flow.net.layers:  # one iteration: no image can reach tol
        if hasattr(layer, "inversion"):
            layer.inversion = dataclasses.replace(
                layer.inversion, max_iter=1, tol=1e-30, refine_in_float64=False
            )
    with pytest.warns(InversionWarning):
        check = InversionErrorCallback.measure(flow, digits()[:3])
    assert check.converged == 0.0
    with pytest.warns(InversionWarning):
        anderson = InversionErrorCallback.measure(flow, digits()[:3], method="anderson")
    assert anderson.iterations == 1 and anderson.converged == 0.0


def test_an_unknown_method_is_refused_by_name():
    with pytest.raises(ValueError, match="fixed_point, damped, anderson; got 'newton'"):
        InversionErrorCallback(method="newton")


def test_modules_without_flow_are_skipped(tmp_path):
    trainer = fit(NoFlowModule(), InversionErrorCallback(), tmp_path)
    assert "val/inversion_error" not in trainer.callback_metrics
