"""LightningModules: the training systems around the backbone."""

from mintnet.modules.classification import ClassificationModule
from mintnet.modules.density import DensityModule

__all__ = ["ClassificationModule", "DensityModule"]
