"""The MintNet authors' classifier re-derived from their definitions, for testing the importer.

Everything here works on the authors' own state-dict keys (``module.layers.<i>.<j>.<name>``, ``fc``)
and knows nothing of mintnet's modules or key map:

* the network (their ``Net``): the input zero-padded to 16 channels (``pad_zero: true``), then
  ``n_layers`` blocks ``[BatchNorm, Mint layer A, BatchNorm, Mint layer B]``, with a 2x2
  space-to-depth before the blocks at ``gap * (i + 1)``, ``gap = n_layers // (n_subsampling + 1)``
  (each taking a list index of its own); ELU, the mean over the pixels, the linear ``fc`` and
  ``log_softmax``: the forward pass returns log-probabilities;
* a Mint layer: ``y = conv3(h2) + max(|t|, 1e-12) * x``, ``h2 = leaky_relu(conv2(h1))``,
  ``h1 = leaky_relu(conv1(x))``, each convolution with its weight times ``maskN``, and ``weight2``'s
  diagonal centre taps replaced by ``|w2| * sign(w1) * sign(w3)`` of the taps they chain;
* the masks (``rgb_last: true``): per ``C x C`` block, type A keeps the channels up to the
  output's own and, for its own channel, the kernel rows above the centre and the centre row up to
  the centre; type B the mirror image;
* the inputs: their runner standardises images with ``transforms.Normalize`` before the network.

All arithmetic is float64, in loops where the definition is a loop.
"""

import math

import torch
import torch.nn.functional as F
from torch import Tensor

AUTHORS_CLASSIFIERS = {
    "mnist_classification": {
        "n_layers": 19,
        "latent_size": 1,
        "n_subsampling": 2,
        "image_size": 28,
        "channels": 1,
        "num_classes": 10,
        "mean": (0.5,),
        "std": (0.5,),
    },
    "cifar10_classification": {
        "n_layers": 19,
        "latent_size": 1,
        "n_subsampling": 2,
        "image_size": 32,
        "channels": 3,
        "num_classes": 10,
        "mean": (0.4914, 0.4822, 0.4465),
        "std": (0.2023, 0.1994, 0.2010),
    },
}
"""The released configs (``configs/*classification.yml``) and their runner's ``Normalize``."""

PADDED = 16
KERNEL = 3
BN_EPS = 1e-5
PREFIX = "module."


def block_masks(
    rows: int, cols: int, c: int, kind: str, rgb_last: bool = True
) -> tuple[Tensor, Tensor]:
    """``(mask, center_mask)`` of shape ``(rows, cols, 3, 3)`` made of ``C x C`` blocks;
    ``rgb_last=False`` is their other ordering (pixels first, channels within a pixel)."""
    mid = KERNEL // 2
    mask = torch.ones(rows, cols, KERNEL, KERNEL)
    centre = torch.zeros(rows, cols, KERNEL, KERNEL)
    for r0 in range(0, rows, c):
        for c0 in range(0, cols, c):
            for i in range(c):
                o = r0 + i
                if not rgb_last:
                    _channels_first(mask[o, c0 : c0 + c], i, kind)
                elif kind == "A":
                    mask[o, c0 + i + 1 : c0 + c] = 0.0
                    mask[o, c0 + i, mid + 1 :, :] = 0.0
                    mask[o, c0 + i, mid, mid + 1 :] = 0.0
                else:
                    mask[o, c0 : c0 + i] = 0.0
                    mask[o, c0 + i, :mid, :] = 0.0
                    mask[o, c0 + i, mid, :mid] = 0.0
                centre[o, c0 + i, mid, mid] = 1.0
    return mask, centre


def _channels_first(taps: Tensor, i: int, kind: str) -> None:
    """``rgb_last: false`` for output channel ``i``: ``taps`` is ``(C, 3, 3)``, cleared in place."""
    mid = KERNEL // 2
    if kind == "A":
        taps[:, mid + 1 :, :] = 0.0
        taps[: i + 1, mid, mid + 1 :] = 0.0
        taps[i + 1 :, mid, mid:] = 0.0
    else:
        taps[:, :mid, :] = 0.0
        taps[i:, mid, :mid] = 0.0
        taps[:i, mid, : mid + 1] = 0.0


def architecture(config: dict) -> list[tuple[str, int, int]]:
    """The list ``layers`` of ``Net``: ``("squeeze" | "block", channels, image size)`` each."""
    gap = config["n_layers"] // (config["n_subsampling"] + 1)
    anchors = {gap * (i + 1) for i in range(config["n_subsampling"])}
    channels, size, entries = PADDED, config["image_size"], []
    for layer in range(config["n_layers"]):
        if layer in anchors:
            entries.append(("squeeze", channels, size))
            channels, size = 4 * channels, size // 2
        entries.append(("block", channels, size))
    return entries


def random_state(
    config: dict, generator: torch.Generator, rgb_last: bool = True
) -> dict[str, Tensor]:
    """A float32 model state dict in the authors' layout, random weights of both signs and
    non-trivial batch-norm statistics."""

    def rand(*shape: int, scale: float = 1.0) -> Tensor:
        return torch.randn(*shape, generator=generator) * scale

    state, k = {}, config["latent_size"]
    for index, (what, c, size) in enumerate(architecture(config)):
        if what == "squeeze":
            continue
        for slot, kind in ((1, "A"), (3, "B")):
            norm = f"{PREFIX}layers.{index}.{slot - 1}."
            state[norm + "weight"] = 1 + rand(c, scale=0.2)
            state[norm + "bias"] = rand(c, scale=0.2)
            state[norm + "running_mean"] = rand(c, scale=0.3)
            state[norm + "running_var"] = 0.5 + torch.rand(c, generator=generator)
            state[norm + "num_batches_tracked"] = torch.tensor(11)
            mint = f"{PREFIX}layers.{index}.{slot}."
            shapes = {1: (k * c, c), 2: (k * c, k * c), 3: (c, k * c)}
            for n, (rows, cols) in shapes.items():
                fan_in = cols * KERNEL * KERNEL
                state[f"{mint}weight{n}"] = rand(rows, cols, KERNEL, KERNEL, scale=fan_in**-0.5)
                state[f"{mint}bias{n}"] = rand(rows, scale=0.1)
                mask, centre = block_masks(rows, cols, c, kind, rgb_last)
                state[f"{mint}mask{n}"], state[f"{mint}center_mask{n}"] = mask, centre
            signs = torch.where(torch.rand(1, c, size, size, generator=generator) < 0.5, -1, 1)
            state[mint + "t"] = signs * (0.5 + torch.rand(1, c, size, size, generator=generator))
    c_last = architecture(config)[-1][1]
    state[PREFIX + "fc.weight"] = rand(config["num_classes"], c_last, scale=c_last**-0.5)
    state[PREFIX + "fc.bias"] = rand(config["num_classes"], scale=0.1)
    return state


def authors_file(config: dict, seed: int = 0, rgb_last: bool = True) -> list:
    """What their classification runner saves: ``[net.state_dict(), optimizer, epoch, step]``."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = {"state": {}, "param_groups": [{"lr": 1e-3, "params": []}]}
    return [random_state(config, generator, rgb_last), optimizer, 200, 78000]


def _batch_norm(x: Tensor, s: dict[str, Tensor], key: str) -> Tensor:
    shape = (1, -1, 1, 1)
    mean, var = s[key + "running_mean"].view(shape), s[key + "running_var"].view(shape)
    scale, shift = s[key + "weight"].view(shape), s[key + "bias"].view(shape)
    return (x - mean) / torch.sqrt(var + BN_EPS) * scale + shift


def _mint_layer(x: Tensor, s: dict[str, Tensor], key: str, c: int, k: int) -> Tensor:
    w1 = s[key + "weight1"] * s[key + "mask1"]
    w3 = s[key + "weight3"] * s[key + "mask3"]
    w2 = s[key + "weight2"].clone()
    mid = KERNEL // 2
    for a in range(k):  # hidden group of w2's output
        for b in range(k):  # hidden group of w2's input
            for ch in range(c):
                sign = torch.sign(w1[b * c + ch, ch, mid, mid]) * torch.sign(
                    w3[ch, a * c + ch, mid, mid]
                )
                w2[a * c + ch, b * c + ch, mid, mid] = (
                    w2[a * c + ch, b * c + ch, mid, mid].abs() * sign
                )
    w2 = w2 * s[key + "mask2"]
    pad = KERNEL // 2
    h = F.leaky_relu(F.conv2d(x, w1, s[key + "bias1"], padding=pad), 0.01)
    h = F.leaky_relu(F.conv2d(h, w2, s[key + "bias2"], padding=pad), 0.01)
    t = torch.clamp(s[key + "t"].abs(), min=1e-12)
    return F.conv2d(h, w3, s[key + "bias3"], padding=pad) + t * x


def _space_to_depth(x: Tensor) -> Tensor:
    """``out[:, (2 dh + dw) C + c, i, j] = x[:, c, 2 i + dh, 2 j + dw]``."""
    b, c, h, w = x.shape
    out = torch.empty(b, 4 * c, h // 2, w // 2, dtype=x.dtype)
    for dh in range(2):
        for dw in range(2):
            out[:, (2 * dh + dw) * c : (2 * dh + dw + 1) * c] = x[:, :, dh::2, dw::2]
    return out


def standardise(images: Tensor, config: dict) -> Tensor:
    """Their runner's ``Normalize(mean, std)``, the constants as float32 values, in float64."""
    mean = torch.tensor(config["mean"], dtype=torch.float32).double().view(1, -1, 1, 1)
    std = torch.tensor(config["std"], dtype=torch.float32).double().view(1, -1, 1, 1)
    return (images.double() - mean) / std


@torch.no_grad()
def authors_forward(state: dict[str, Tensor], x: Tensor, config: dict) -> Tensor:
    """Their ``Net.forward`` in eval mode: standardised images ``(B, C, H, W)`` to
    log-probabilities ``(B, num_classes)``, float64."""
    s = {key.removeprefix(PREFIX): value.double() for key, value in state.items()}
    x = x.double()
    x = torch.cat(
        [x, torch.zeros(x.shape[0], PADDED - x.shape[1], *x.shape[2:], dtype=x.dtype)], 1
    )
    k = config["latent_size"]
    for index, (what, c, _) in enumerate(architecture(config)):
        if what == "squeeze":
            x = _space_to_depth(x)
            continue
        x = _batch_norm(x, s, f"layers.{index}.0.")
        x = _mint_layer(x, s, f"layers.{index}.1.", c, k)
        x = _batch_norm(x, s, f"layers.{index}.2.")
        x = _mint_layer(x, s, f"layers.{index}.3.", c, k)
    pooled = F.elu(x).mean(dim=(2, 3))
    logits = pooled @ s["fc.weight"].t() + s["fc.bias"]
    return torch.log_softmax(logits, dim=1)


def relative_error(got: Tensor, expected: Tensor) -> float:
    """``max |got - expected| / max |expected|``."""
    return float((got - expected).abs().max() / expected.abs().max().clamp_min(math.ulp(1.0)))
