"""Helpers of the device benchmark: waiting for the device, peak memory, TF32 and thin-convolution
switches, and quiet decoding with its round-trip error."""

import contextlib
import copy
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import torch

from mintnet.nn import ImageFlow, InverseSettings, InversionWarning, MintLayer

__all__ = [
    "decode_quietly",
    "peak_mib",
    "round_trip_error",
    "tf32",
    "timed",
    "uses_thin_convolutions",
    "with_tf32",
    "without_thin_convolutions",
]


def timed(fn: Callable[[], Any], device: torch.device) -> Callable[[], None]:
    """``fn`` followed by a wait for the device, so wall time covers the work queued."""

    def call() -> None:
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)

    return call


def peak_mib(fn: Callable[[], Any], device: torch.device) -> float | None:
    """Peak CUDA memory of one call of ``fn``, or None off CUDA."""
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 2**20


@contextlib.contextmanager
def tf32(allow: bool) -> Iterator[None]:
    """Allow (or forbid) TF32 rounding in cuDNN convolutions and cuBLAS products for a block."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = allow
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def with_tf32(fn: Callable[[], Any]) -> Callable[[], Any]:
    """``fn`` run with TF32 allowed."""

    def call() -> Any:
        with tf32(True):
            return fn()

    return call


def without_thin_convolutions(flow: ImageFlow) -> ImageFlow:
    """A copy of ``flow`` whose Mint layers all use ``F.conv2d``."""
    plain = copy.deepcopy(flow)
    for layer in plain.modules():
        if isinstance(layer, MintLayer):
            layer.thin_convolutions = False
    return plain


def uses_thin_convolutions(module: torch.nn.Module, device: torch.device) -> bool:
    """Whether any Mint layer of ``module`` computes its convolutions as matrix products on ``device``."""
    return any(
        isinstance(m, MintLayer) and m.uses_thin_convolutions(device) for m in module.modules()
    )


def decode_quietly(flow: ImageFlow, z: torch.Tensor, settings: InverseSettings) -> None:
    """Decode latents ``z`` with ``settings``, silencing the warning the fixed schedule raises."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InversionWarning)  # the fixed schedule never "converges"
        flow.decode(z, settings)


def round_trip_error(flow: ImageFlow, images: torch.Tensor, settings: InverseSettings) -> float:
    """Largest ``|v_hat - v|`` (logit space) of images encoded, then decoded with ``settings``."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", InversionWarning)
        v = flow.centre_logits(images)
        v_hat, _ = flow.net.inverse_with_report(flow.net(v)[0], settings)
    return float((v_hat - v).abs().max())
