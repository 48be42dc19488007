import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from mintnet.callbacks import InversionErrorCallback
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


def test_measure_matches_a_direct_inversion():
    flow = tiny_flow()
    error, iterations = InversionErrorCallback.measure(flow, digits()[:3])
    assert 0.0 <= error < 1e-3 and iterations >= 1


def test_modules_without_flow_are_skipped(tmp_path):
    trainer = fit(NoFlowModule(), InversionErrorCallback(), tmp_path)
    assert "val/inversion_error" not in trainer.callback_metrics
