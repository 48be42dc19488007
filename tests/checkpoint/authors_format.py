"""The MintNet authors' checkpoint format, written out independently of the importer's key map.

Their density network is a list ``layers`` in which a squeeze takes an index of its own and every
other entry is a lower/upper pair (``.0`` / ``.1``); their classifier's pairs are
``[BatchNorm, lower, BatchNorm, upper]`` and its head is ``fc``. Every key carries the
``module.`` of ``nn.DataParallel``; ``t`` is ``(1, C, H, W)``; each Mint layer also stores
``maskN`` (our mask with the diagonal centre taps set to 1) and ``center_maskN`` (those taps).
The file is the list ``[model, optimizer, epoch, step(, scheduler(, ema))]``.
"""

import torch
from torch import Tensor

from mintnet.nn import MintClassifier, MintLayer, MintNet, Squeeze


def diagonal_centre_taps(out_channels: int, in_channels: int, c: int, k: int) -> Tensor:
    """1 where channel ``o % C`` meets channel ``i % C`` at the centre tap, written as a loop."""
    taps = torch.zeros(out_channels, in_channels, k, k)
    for o in range(out_channels):
        for i in range(in_channels):
            if o % c == i % c:
                taps[o, i, k // 2, k // 2] = 1.0
    return taps


def mint_layer_tensors(layer: MintLayer, prefix: str) -> dict[str, Tensor]:
    out = {}
    for name in ("weight1", "bias1", "weight2", "bias2", "weight3", "bias3"):
        out[prefix + name] = getattr(layer, name).detach().clone()
    out[prefix + "t"] = layer.t.detach().clone()[None]  # (1, C, H, W)
    for n in (1, 2, 3):
        ours = getattr(layer, f"mask{n}")
        taps = diagonal_centre_taps(ours.shape[0], ours.shape[1], layer.channels, ours.shape[-1])
        out[prefix + f"mask{n}"] = torch.where(taps.bool(), 1.0, ours.float())
        out[prefix + f"center_mask{n}"] = taps
    return out


def authors_state_dict(net: MintNet | MintClassifier) -> dict[str, Tensor]:
    """``net``'s weights under the authors' keys (with ``module.``), masks added."""
    state: dict[str, Tensor] = {}
    index, slot = 0, 0
    per_pair = 2 if isinstance(net, MintNet) else 4
    for layer in net.layers:
        if isinstance(layer, Squeeze):
            index += 1
            continue
        prefix = f"module.layers.{index}.{slot}."
        if isinstance(layer, MintLayer):
            state |= mint_layer_tensors(layer, prefix)
        else:  # BatchNorm2d
            state |= {prefix + k: v.clone() for k, v in layer.state_dict().items()}
        slot += 1
        if slot == per_pair:
            index, slot = index + 1, 0
    if isinstance(net, MintClassifier):
        state["module.fc.weight"] = net.head.weight.detach().clone()
        state["module.fc.bias"] = net.head.bias.detach().clone()
    return state


def authors_file(
    net: MintNet | MintClassifier,
    epoch: int = 7,
    step: int = 123,
    ema: dict[str, Tensor] | None = None,
) -> list:
    """The list ``torch.save``-d by the authors' density (5 or 6 entries, with ``ema``) or
    classification (4 entries) runs."""
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, amsgrad=True, eps=1e-4)
    states = [authors_state_dict(net), optimizer.state_dict(), epoch, step]
    if isinstance(net, MintNet):
        scheduler = torch.optim.lr_scheduler.MultiStepLR(optimizer, [250, 350, 450], 0.1)
        states.append(scheduler.state_dict())
        if ema is not None:
            states.append(ema)
    return states


def randomise(module: torch.nn.Module, seed: int, scale: float = 0.1) -> None:
    """Weights far from the near-identity init, so that a misplaced tensor shows: every tensor
    ``N(0, scale^2)``, ``t`` of either sign with ``|t|`` in ``[0.5, 1.5]``, BatchNorm statistics
    away from 0 and 1."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, param in module.named_parameters():
            noise = torch.randn(param.shape, generator=generator, dtype=torch.float64)
            if name.endswith(".t"):
                size = 0.5 + torch.rand(param.shape, generator=generator, dtype=torch.float64)
                noise = size * noise.sign()
            else:
                noise = scale * noise
            param.copy_(noise)
        for sub in module.modules():
            if isinstance(sub, torch.nn.BatchNorm2d):
                sub.running_mean.copy_(torch.randn(sub.running_mean.shape, generator=generator))
                sub.running_var.copy_(1.0 + torch.rand(sub.running_var.shape, generator=generator))
                sub.num_batches_tracked.fill_(11)
