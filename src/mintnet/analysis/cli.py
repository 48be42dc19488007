"""Command-line tools for the paper's figures: ``mintnet-sample`` (Fig. 3),
``mintnet-inversion-accuracy`` (Fig. 4) and ``mintnet-interpolate`` (Fig. 5).

Each reads ``--ckpt <run_dir>/checkpoints/<name>.ckpt`` and writes into ``<run_dir>/analysis/``
(or ``--out-dir``). Also runnable as ``python -m mintnet.analysis.cli {sample,
inversion-accuracy, interpolate} ...``.
"""

import argparse
import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
import torchvision.utils

from mintnet.analysis.accuracy import inversion_accuracy, plot_inversion_accuracy, write_csv
from mintnet.analysis.grids import sample_grid, save_image_grid
from mintnet.analysis.images import DATASETS, dataset_for_flow, load_images
from mintnet.analysis.interpolation import interpolation_grid
from mintnet.analysis.reports import summarize_reports
from mintnet.checkpoint import load_flow_from_checkpoint
from mintnet.errors import reported_errors
from mintnet.nn.image_flow import ImageFlow
from mintnet.nn.inverse import InverseSettings
from mintnet.nn.mint_layer import MintLayer

__all__ = ["analysis_dir", "interpolate_main", "inversion_accuracy_main", "main", "sample_main"]

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


def _parser(prog: str, description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--ckpt", type=Path, required=True, help="checkpoint of a density model")
    parser.add_argument("--out-dir", type=Path, help="default: <run_dir>/analysis")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    return parser


def _add_inverse_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("inversion (default: the model's own settings)")
    group.add_argument("--alpha", type=float, help="fixed-point step size in (0, 2)")
    group.add_argument("--max-iter", type=int, help="most iterations per Mint layer")
    group.add_argument("--tol", type=float, help="tolerance on max |f(x) - z|")


def _add_data_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", choices=sorted(DATASETS), help="default: from the image shape")
    parser.add_argument("--data-root", default=DEFAULT_DATA_ROOT)
    parser.add_argument("--split", default="train", choices=["train", "val", "test"])


def _default_settings(flow: ImageFlow) -> InverseSettings:
    return next(m.inversion for m in flow.net.layers if isinstance(m, MintLayer))


def _settings(
    parser: argparse.ArgumentParser, args: argparse.Namespace, flow: ImageFlow
) -> InverseSettings | None:
    given = {k: getattr(args, k) for k in ("alpha", "max_iter", "tol")}
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return None
    try:
        return dataclasses.replace(_default_settings(flow), **given)
    except ValueError as error:
        parser.error(str(error))


def _load(args: argparse.Namespace) -> tuple[ImageFlow, Path]:
    torch.manual_seed(args.seed)
    flow = load_flow_from_checkpoint(args.ckpt).to(args.device)
    out_dir = args.out_dir or analysis_dir(args.ckpt)
    out_dir.mkdir(parents=True, exist_ok=True)
    return flow, out_dir


def _images(
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


def sample_main(argv: Sequence[str] | None = None) -> None:
    """``mintnet-sample``: a grid of samples (paper Figure 3) and the inversion's report."""
    parser = _parser("mintnet-sample", "Sample a grid of images from a trained MintNet.")
    parser.add_argument("--n", type=int, default=64, help="number of samples")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--nrow", type=int, help="tiles per row (default: square)")
    parser.add_argument("-v", "--verbose", action="store_true", help="one report line per layer")
    _add_inverse_args(parser)
    args = parser.parse_args(argv)
    if args.n < 1 or not args.temperature > 0 or (args.nrow is not None and args.nrow < 1):
        parser.error(
            f"need --n >= 1, --temperature > 0, --nrow >= 1; got {args.n}, "
            f"{args.temperature}, {args.nrow}"
        )
    with reported_errors(parser.prog):
        flow, out_dir = _load(args)
        grid, reports = sample_grid(
            flow, args.n, args.temperature, _settings(parser, args, flow), args.nrow
        )
        path = out_dir / f"samples_{args.ckpt.stem}_T{args.temperature:g}.png"
        torchvision.utils.save_image(grid, path)
    print(f"wrote {args.n} samples to {path}")
    print(f"inversion: {summarize_reports(reports)}")
    if args.verbose:
        print("\n".join(f"  {report}" for report in reports))


def inversion_accuracy_main(argv: Sequence[str] | None = None) -> None:
    """``mintnet-inversion-accuracy``: error against iterations per layer (paper Figure 4)."""
    parser = _parser(
        "mintnet-inversion-accuracy",
        "Measure the fixed-point inverse's error on real images against iterations per layer.",
    )
    _add_data_args(parser)
    parser.add_argument("--n-images", type=int, default=128, help="first N images of the split")
    parser.add_argument("--iterations", type=int, nargs="+", default=PAPER_ITERATIONS)
    parser.add_argument("--alphas", type=float, nargs="+", help="default: the model's alpha")
    args = parser.parse_args(argv)
    if args.n_images < 1:
        parser.error(f"--n-images must be >= 1, got {args.n_images}")
    with reported_errors(parser.prog):
        flow, out_dir = _load(args)
        images = _images(parser, args, flow, range(args.n_images))
        alphas = args.alphas or [_default_settings(flow).alpha]
        try:
            rows = inversion_accuracy(flow, images, args.iterations, alphas)
        except ValueError as error:
            parser.error(str(error))
        stem = f"inversion_accuracy_{args.ckpt.stem}"
        csv_path = write_csv(rows, out_dir / f"{stem}.csv")
        png_path = plot_inversion_accuracy(rows, out_dir / f"{stem}.png", title=args.ckpt.name)
    print(f"wrote {csv_path} and {png_path}")
    for row in rows:
        if row["iterations"] == max(args.iterations):
            print(
                f"alpha={row['alpha']:g}, T={row['iterations']}: normalised L2 error "
                f"{row['geo_mean_error']:.3g} (geometric mean of {row['n_images']} images)"
            )


def interpolate_main(argv: Sequence[str] | None = None) -> None:
    """``mintnet-interpolate``: a latent-space interpolation grid of four images (Figure 5)."""
    parser = _parser("mintnet-interpolate", "Interpolate four images in a MintNet's latent space.")
    _add_data_args(parser)
    parser.add_argument(
        "--indices", type=int, nargs=4, default=PAPER_INTERPOLATION_INDICES, metavar="I"
    )
    parser.add_argument("--steps", type=int, default=8, help="images per side of the grid")
    parser.add_argument("--quantize", action="store_true", help="snap to the data's grey levels")
    _add_inverse_args(parser)
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error(f"--steps must be >= 2, got {args.steps}")
    with reported_errors(parser.prog):
        flow, out_dir = _load(args)
        x4 = _images(parser, args, flow, args.indices)
        images, reports = interpolation_grid(
            flow, x4, args.steps, _settings(parser, args, flow), args.quantize
        )
        path = out_dir / f"interpolation_{args.ckpt.stem}.png"
        save_image_grid(images.nan_to_num(0.0), path, nrow=args.steps)
    print(f"wrote a {args.steps}x{args.steps} interpolation grid to {path}")
    print(f"inversion: {summarize_reports(reports)}")


COMMANDS: dict[str, Callable[[Sequence[str] | None], None]] = {
    "sample": sample_main,
    "inversion-accuracy": inversion_accuracy_main,
    "interpolate": interpolate_main,
}


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m mintnet.analysis.cli <command> ...`` with a command of :data:`COMMANDS`."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(
            f"usage: python -m mintnet.analysis.cli {{{','.join(COMMANDS)}}} ...", file=sys.stderr
        )
        raise SystemExit(2)
    COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    main()
