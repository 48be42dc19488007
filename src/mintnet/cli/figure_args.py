"""What the figure commands share: the checkpoint to read, where to write, the inversion settings
that override the model's own, and the dataset images to start from."""

import argparse
import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

import torch

from mintnet.analysis.images import DATASETS, dataset_for_flow, load_images
from mintnet.checkpoint import load_flow_from_checkpoint
from mintnet.nn.image_flow import ImageFlow
from mintnet.nn.inverse import METHODS, InverseSettings
from mintnet.nn.mint_layer import MintLayer
from mintnet.threads import configure, parse_setting

__all__ = [
    "DEFAULT_DATA_ROOT",
    "PAPER_INTERPOLATION_INDICES",
    "PAPER_ITERATIONS",
    "add_data_args",
    "add_inverse_args",
    "analysis_dir",
    "default_settings",
    "figure_parser",
    "load",
    "load_split_images",
    "settings_from_args",
]

PAPER_ITERATIONS = list(range(1, 342, 10))
"""T = 1, 11, ..., 341 iterations per Mint layer, as in the paper's Figure 4."""

PAPER_INTERPOLATION_INDICES = [3, 15, 32, 17]
"""The four images of the authors' interpolation figure (indices into one batch)."""

DEFAULT_DATA_ROOT = os.environ.get("MINTNET_DATA_DIR", "data")
"""Where datasets live, as ``paths.data_dir`` in ``conf/paths/default.yaml``."""


def analysis_dir(ckpt: Path) -> Path:
    """``<run_dir>/analysis`` for ``<run_dir>/checkpoints/<name>.ckpt`` (else next to the file)."""
    ckpt = ckpt.resolve()
    run_dir = ckpt.parent.parent if ckpt.parent.name == "checkpoints" else ckpt.parent
    return run_dir / "analysis"


def figure_parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--ckpt", type=Path, required=True, help="checkpoint of a density model")
    parser.add_argument("--out-dir", type=Path, help="default: <run_dir>/analysis")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads",
        type=_threads,
        default="auto",
        help="torch's CPU threads: auto (default; OMP_NUM_THREADS if set) or N",
    )
    return parser


def _threads(value: str) -> str | int:
    try:
        return parse_setting(value) or "auto"
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from error


def add_inverse_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("inversion (default: the model's own settings)")
    group.add_argument("--alpha", type=float, help="fixed-point step size in (0, 2)")
    group.add_argument("--max-iter", type=int, help="most iterations per Mint layer")
    group.add_argument("--tol", type=float, help="tolerance on max |f(x) - z|")
    group.add_argument(
        "--method", choices=METHODS, help="fixed_point (Algorithm 1), damped or anderson"
    )
    group.add_argument("--anderson-memory", type=int, help="iterates Anderson combines")
    group.add_argument(
        "--refine-in-float64",
        action=argparse.BooleanOptionalAction,
        help="anderson: solve samples a float32 solve leaves above tol again in float64",
    )


def add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", choices=sorted(DATASETS), help="default: from the image shape")
    parser.add_argument("--data-root", default=DEFAULT_DATA_ROOT)
    parser.add_argument("--split", default="train", choices=["train", "val", "test"])


def default_settings(flow: ImageFlow) -> InverseSettings:
    return next(m.inversion for m in flow.net.layers if isinstance(m, MintLayer))


def settings_from_args(
    parser: argparse.ArgumentParser, args: argparse.Namespace, flow: ImageFlow
) -> InverseSettings | None:
    names = ("alpha", "max_iter", "tol", "method", "anderson_memory", "refine_in_float64")
    given = {k: getattr(args, k, None) for k in names}
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return None
    try:
        return dataclasses.replace(default_settings(flow), **given)
    except ValueError as error:
        parser.error(str(error))


def load(args: argparse.Namespace) -> tuple[ImageFlow, Path]:
    """Apply the thread policy (printing its line), seed, and read the flow onto ``--device``."""
    configure(getattr(args, "threads", "auto"))
    torch.manual_seed(args.seed)
    flow = load_flow_from_checkpoint(args.ckpt).to(args.device)
    out_dir = args.out_dir or analysis_dir(args.ckpt)
    out_dir.mkdir(parents=True, exist_ok=True)
    return flow, out_dir


def load_split_images(
    parser: argparse.ArgumentParser,
    args: argparse.Namespace,
    flow: ImageFlow,
    indices: Sequence[int],
) -> torch.Tensor:
    try:
        name = args.data or dataset_for_flow(flow)
        return load_images(name, args.data_root, args.split, indices)
    except ValueError as error:  # unknown dataset for this shape, index outside the split
        parser.error(str(error))
