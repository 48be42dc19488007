"""Writers for tiny datasets in the real on-disk formats, and a labelling scheme to check them.

Image ``i`` of a file carries ``i + offset`` in its first pixel and has label ``(i + offset) % 10``,
so any loaded item can be traced back to the file it came from.
"""

import gzip
import pickle
from pathlib import Path

import numpy as np

IDX_UBYTE = 0x08


def make_images(n: int, shape: tuple[int, ...], offset: int = 0, seed: int = 0) -> np.ndarray:
    """Random uint8 images ``(n, *shape)`` with the first pixel (C-order) equal to ``i + offset``."""
    images = np.random.default_rng(seed).integers(0, 256, size=(n, *shape), dtype=np.uint8)
    images.reshape(n, -1)[:, 0] = np.arange(offset, offset + n)
    return images


def labels_for(n: int, offset: int = 0) -> np.ndarray:
    return (np.arange(offset, offset + n) % 10).astype(np.uint8)


def write_idx(path: Path, array: np.ndarray, gzipped: bool = False) -> Path:
    """Write a uint8 array as IDX: magic 00 00 08 ndim, big-endian uint32 sizes, then the bytes."""
    header = bytes([0, 0, IDX_UBYTE, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    payload = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if gzipped:
        path = path.with_name(path.name + ".gz")
        payload = gzip.compress(payload)
    path.write_bytes(payload)
    return path


def write_mnist(raw: Path, n_train: int = 20, n_test: int = 6, gzipped: bool = False) -> None:
    """The four MNIST IDX files in ``raw``; test images start at offset 100."""
    for prefix, n, offset in (("train", n_train, 0), ("t10k", n_test, 100)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", make_images(n, (28, 28), offset), gzipped)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels_for(n, offset), gzipped)


def write_cifar10(root: Path, per_batch: int = 4, n_test: int = 6) -> Path:
    """``data_batch_1..5``, ``test_batch`` and ``batches.meta`` pickles; test offset is 100."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    batches = [(f"data_batch_{b + 1}", per_batch, b * per_batch) for b in range(5)]
    for name, n, offset in [*batches, ("test_batch", n_test, 100)]:
        entry = {
            "batch_label": name,
            "data": make_images(n, (3072,), offset),
            "labels": labels_for(n, offset).tolist(),
            "filenames": [f"{i}.png" for i in range(n)],
        }
        with (folder / name).open("wb") as f:
            pickle.dump(entry, f)
    with (folder / "batches.meta").open("wb") as f:
        pickle.dump({"label_names": [f"class{i}" for i in range(10)], "num_vis": 3072}, f)
    return folder


def write_imagenet32_npz(
    folder: Path, batches: tuple[int, ...] = (1, 2), per_batch: int = 10
) -> None:
    """``train_data_batch_<b>.npz`` for each b and ``val_data.npz`` (offset 100); 1-based labels."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, b in enumerate(batches):
        offset = k * per_batch
        np.savez(
            folder / f"train_data_batch_{b}.npz",
            data=make_images(per_batch, (3072,), offset),
            labels=labels_for(per_batch, offset).astype(np.int64) + 1,
            mean=np.zeros(3072),
        )
    np.savez(
        folder / "val_data.npz",
        data=make_images(6, (3072,), 100),
        labels=labels_for(6, 100).astype(np.int64) + 1,
    )


def write_imagenet32_npy(folder: Path, n_train: int = 20, n_test: int = 6) -> None:
    """``train_32x32.npy`` / ``valid_32x32.npy``, uint8 ``(N, 32, 32, 3)``."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "train_32x32.npy", make_images(n_train, (32, 32, 3)))
    np.save(folder / "valid_32x32.npy", make_images(n_test, (32, 32, 3), 100))


def truncate(path: Path, keep: int) -> None:
    path.write_bytes(path.read_bytes()[:keep])
