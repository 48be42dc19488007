"""The MintNet backbone: masked invertible layers, exact log-determinants and inversion
(:func:`invert`: the paper's fixed-point iteration, Anderson acceleration with its safeguard, and
the float64 refinement).

Plain PyTorch: nothing here imports Lightning, Hydra or a logger.
"""

from mintnet.nn.activations import MonotoneActivation
from mintnet.nn.bits import bits_per_dim
from mintnet.nn.classifier import MintClassifier
from mintnet.nn.image_flow import ImageFlow
from mintnet.nn.inverse import (
    InverseSettings,
    InversionError,
    InversionReport,
    InversionWarning,
    fixed_point_inverse,
    invert,
    refine_in_float64,
    unconverged,
)
from mintnet.nn.invertible import FlowSequential, InvertibleModule
from mintnet.nn.masks import block_mask, diagonal_centre_mask, triangular_mask
from mintnet.nn.mint_layer import MaskedWeights, MintLayer
from mintnet.nn.mintnet import MintNet, standard_normal_log_prob
from mintnet.nn.noise import EstimateError, dequantisation_noise
from mintnet.nn.preprocess import Dequantize, Logit
from mintnet.nn.resnet import ResNetClassifier
from mintnet.nn.squeeze import Squeeze

__all__ = [
    "Dequantize",
    "EstimateError",
    "FlowSequential",
    "ImageFlow",
    "InversionError",
    "InversionReport",
    "InversionWarning",
    "InverseSettings",
    "InvertibleModule",
    "Logit",
    "MaskedWeights",
    "MintClassifier",
    "MintLayer",
    "MintNet",
    "MonotoneActivation",
    "ResNetClassifier",
    "Squeeze",
    "bits_per_dim",
    "dequantisation_noise",
    "block_mask",
    "diagonal_centre_mask",
    "fixed_point_inverse",
    "invert",
    "refine_in_float64",
    "standard_normal_log_prob",
    "triangular_mask",
    "unconverged",
]
