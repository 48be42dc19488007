"""The contract every invertible module follows, and their composition."""

import torch
from torch import Tensor

from mintnet.nn.inverse import InverseSettings, InversionReport

__all__ = ["FlowSequential", "InvertibleModule"]


class InvertibleModule(torch.nn.Module):
    r"""A bijection :math:`y = f(x)` that knows its log-determinant.

    Sign convention: ``forward(x)`` returns ``(y, logdet)`` with
    ``logdet = log |det dy/dx|`` of shape ``(B,)``; ``inverse(y)`` returns ``x`` such that
    ``forward(x)[0] == y`` (up to the inverse's tolerance where it is iterative).
    """

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def inverse_with_report(
        self, y: Tensor, settings: InverseSettings | None = None
    ) -> tuple[Tensor, list[InversionReport]]:
        """Return ``x = f^{-1}(y)`` and one report per iterative inversion done on the way.

        ``settings`` overrides the module's own fixed-point settings for this call.
        """
        raise NotImplementedError

    def inverse(self, y: Tensor, settings: InverseSettings | None = None) -> Tensor:
        """Return ``x = f^{-1}(y)``."""
        return self.inverse_with_report(y, settings)[0]


class FlowSequential(InvertibleModule):
    """Compose invertible modules: forward runs them in order and sums the log-determinants;
    inverse runs them backwards."""

    def __init__(self, *modules: InvertibleModule) -> None:
        super().__init__()
        self.layers = torch.nn.ModuleList(modules)
        for index, module in enumerate(modules):
            if hasattr(module, "name"):  # e.g. "lower" -> "6.lower", for inversion reports
                module.name = f"{index}.{module.name}"

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        logdet = x.new_zeros(x.shape[0])
        for layer in self.layers:
            x, layer_logdet = self.run_layer(layer, x)
            logdet = logdet + layer_logdet
        return x, logdet

    def run_layer(self, layer: InvertibleModule, x: Tensor) -> tuple[Tensor, Tensor]:
        """Apply one layer in the forward pass (a hook for e.g. activation checkpointing)."""
        return layer(x)

    def inverse_with_report(
        self, y: Tensor, settings: InverseSettings | None = None
    ) -> tuple[Tensor, list[InversionReport]]:
        reports: list[InversionReport] = []
        for index in reversed(range(len(self.layers))):
            y, layer_reports = self.layers[index].inverse_with_report(y, settings)
            reports += layer_reports
        return y, reports
