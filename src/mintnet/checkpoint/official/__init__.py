r"""The MintNet authors' released checkpoints (Song, Meng & Ermon, arXiv:1907.07945), mapped
onto mintnet's models.

**The file** is ``torch.save`` of a list; the model was wrapped in ``nn.DataParallel``, so every
key of its state dict starts with ``module.``:

    density:         [model_state, optimizer_state, epoch, step, scheduler_state(, ema_state)]
    classification:  [model_state, optimizer_state, epoch, step]

``ema_state`` maps parameter names, without ``module.``, to their exponential moving averages. A
model state dict alone (with or without ``module.``) is read too, with no epoch or step.

**The density network** (the models of the paper's Table 2): ``layers`` is a list in which each
2x2 squeeze takes an index of its own and every other entry is one lower/upper pair of Mint
layers, ``layers.{i}.0`` the lower-triangular layer and ``layers.{i}.1`` the upper one. Per Mint
layer, with ``C`` channels, ``K`` hidden groups (hidden channel ``group * C + c``, as in
:class:`~mintnet.nn.MintLayer`) and kernel ``k``:

- ``weight1 (KC, C, k, k)``, ``bias1 (KC)``, ``weight2 (KC, KC, k, k)``, ``bias2 (KC)``,
  ``weight3 (C, KC, k, k)``, ``bias3 (C)``: the same tensors as mintnet's;
- ``t (1, C, H, W)``: mintnet's ``t``, of shape ``(C, H, W)``;
- ``maskN`` and ``center_maskN``, shaped as ``weightN``: the block mask *with* the diagonal
  centre taps (:func:`~mintnet.nn.block_mask` of the layer's kind), and 1 exactly at those taps
  (:func:`~mintnet.nn.diagonal_centre_mask`). They carry no learned information: each is checked
  against mintnet's, then dropped.

Both codes use the weights the same way: ``weight2``'s diagonal centre taps replaced by
:math:`|w^2_{ij}|\,\mathrm{sign}(w^1_j)\,\mathrm{sign}(w^3_i)`, the skip scale
:math:`\max(|t|, 10^{-12})`, squeeze channel :math:`(2\,dh + dw)\,C + c`. So apart from ``t``'s
leading 1, every tensor is copied as it is.

**The classifier** (the MintNet rows of the paper's Table 1): ``layers.{i}.{0,1,2,3}`` are
BatchNorm, lower Mint layer, BatchNorm, upper Mint layer (squeezes again take their own index),
then ``fc``, the linear head. In :class:`~mintnet.nn.MintClassifier` the same modules lie flat in
``layers``, and the head is ``head``.
"""

from mintnet.checkpoint.official.experiments import (
    CONF_DIR,
    PAPER_EXPERIMENTS,
    ExperimentModel,
    experiment_model,
    experiment_names,
    import_official,
)
from mintnet.checkpoint.official.layouts import LayoutEntry, official_layout
from mintnet.checkpoint.official.mapping import convert_official_state
from mintnet.checkpoint.official.reading import (
    OfficialFile,
    looks_official,
    parse_official,
    with_ema,
)

__all__ = [
    "CONF_DIR",
    "PAPER_EXPERIMENTS",
    "ExperimentModel",
    "LayoutEntry",
    "OfficialFile",
    "convert_official_state",
    "experiment_model",
    "experiment_names",
    "import_official",
    "looks_official",
    "official_layout",
    "parse_official",
    "with_ema",
]
