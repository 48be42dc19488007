"""Encode images and decode them back: how exactly a flow inverts, in grey levels."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor

from mintnet.errors import MintNetError
from mintnet.nn.image_flow import ImageFlow
from mintnet.nn.inverse import InverseSettings, InversionReport

__all__ = [
    "IMAGE_SUFFIXES",
    "ImageFolderError",
    "Reconstruction",
    "read_image_folder",
    "reconstruct_images",
    "save_images",
    "to_uint8",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".tif", ".tiff")
"""The files :func:`read_image_folder` reads (case-insensitive)."""


class ImageFolderError(MintNetError, ValueError):
    """An image folder that cannot feed a flow: missing, empty, or an image of the wrong size."""


@dataclass
class Reconstruction:
    """``images`` and their ``reconstructed`` versions ``(N, C, H, W)`` on the grid, the largest
    error of each image in grey levels ``(N,)``, and the inversion reports of every batch."""

    images: Tensor
    reconstructed: Tensor
    errors: Tensor
    reports: list[InversionReport] = field(default_factory=list)

    @property
    def exact(self) -> int:
        """How many images came back exactly."""
        return int((self.errors == 0).sum())


def read_image_folder(
    folder: Path, shape: tuple[int, int, int], n_bins: int
) -> tuple[list[str], Tensor]:
    """The images in ``folder`` (sorted by name), as ``(N, C, H, W)`` on the model's grid.

    8-bit values ``v`` become ``round(v / 255 (n_bins - 1)) / (n_bins - 1)`` (for 256 levels,
    ``v / 255``); ``C = 1`` reads as grey, ``C = 3`` as RGB. Every image must be ``H x W``.

    Raises:
        ImageFolderError: no such folder, no image in it, an unreadable image or a wrong size.
    """
    if not folder.is_dir():
        raise ImageFolderError(f"image folder {folder} does not exist")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise ImageFolderError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    c, h, w = shape
    arrays = []
    for path in files:
        try:
            with Image.open(path) as image:
                array = np.asarray(image.convert("L" if c == 1 else "RGB"), dtype=np.float64)
        except (UnidentifiedImageError, OSError) as error:
            raise ImageFolderError(f"cannot read image {path}: {error}") from error
        if array.shape[:2] != (h, w):
            raise ImageFolderError(
                f"{path} is {array.shape[1]}x{array.shape[0]} pixels; the model takes {w}x{h}"
            )
        arrays.append(array.reshape(h, w, -1).transpose(2, 0, 1))  # (C, H, W)
    levels = np.round(np.stack(arrays) / 255.0 * (n_bins - 1))
    return [p.name for p in files], torch.from_numpy(levels / (n_bins - 1)).float()


def to_uint8(images: Tensor, n_bins: int) -> np.ndarray:
    """Images on the grid ``k / (n_bins - 1)`` ``(N, C, H, W)`` as 8-bit ``(N, H, W, C)``."""
    levels = torch.round(images * (n_bins - 1)) * (255.0 / (n_bins - 1))
    return levels.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


@torch.no_grad()
def reconstruct_images(
    flow: ImageFlow,
    images: Tensor,
    settings: InverseSettings | None = None,
    batch_size: int = 64,
) -> Reconstruction:
    """``flow.reconstruct`` batch by batch; errors are ``max_d |k_d - k'_d|`` in grey levels."""
    ref = next(flow.parameters())
    outputs, reports = [], []
    for start in range(0, len(images), batch_size):
        batch = images[start : start + batch_size].to(ref.device, ref.dtype)
        out, batch_reports = flow.reconstruct(batch, settings)
        outputs.append(out.cpu().to(images.dtype))
        reports += batch_reports
    reconstructed = torch.cat(outputs)
    levels = lambda x: torch.round(x.double() * (flow.n_bins - 1))  # noqa: E731
    errors = (levels(reconstructed) - levels(images)).abs().flatten(1).amax(dim=1)
    return Reconstruction(images, reconstructed, errors, reports)


def save_images(names: Sequence[str], images: Tensor, n_bins: int, folder: Path) -> None:
    """Write each image as ``folder/<name stem>.png`` (8-bit)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in zip(names, to_uint8(images, n_bins), strict=True):
        Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(
            folder / f"{Path(name).stem}.png"
        )
