"""``mintnet-reconstruct``: encode images with a trained flow, decode them, and say which came
back exactly (on the grey-level grid)."""

import argparse
import csv
from collections.abc import Sequence
from pathlib import Path

from mintnet.analysis.images import DATASETS, dataset_for_flow
from mintnet.analysis.reconstruction import (
    Reconstruction,
    read_image_folder,
    reconstruct_images,
    save_images,
)
from mintnet.analysis.reports import summarize_reports
from mintnet.cli.figure_args import (
    DEFAULT_DATA_ROOT,
    add_inverse_args,
    figure_parser,
    load,
    settings_from_args,
)
from mintnet.cli.reporting import reported_errors
from mintnet.errors import MintNetError
from mintnet.nn.image_flow import ImageFlow
from mintnet.pixel_baseline import whole_split

__all__ = ["ReconstructionError", "main"]


class ReconstructionError(MintNetError):
    """Some images did not come back exactly from ``decode(encode(x))``."""


def _parser() -> argparse.ArgumentParser:
    parser = figure_parser(
        "mintnet-reconstruct",
        "Encode images with a trained flow and decode them back onto the grey-level grid; "
        "write the largest error of each image (in grey levels) to a CSV file and exit 1 "
        "unless every image comes back exactly.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--images", type=Path, help="a folder of images of the model's size")
    source.add_argument("--data", choices=sorted(DATASETS), help="a dataset (default: by shape)")
    parser.add_argument("--data-root", default=DEFAULT_DATA_ROOT)
    parser.add_argument("--split", default="test", choices=["train", "val", "test"])
    parser.add_argument("--limit", type=int, help="the first N images only (default: all)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument(
        "--save-images", action="store_true", help="write the reconstructions as PNG files"
    )
    add_inverse_args(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """``mintnet-reconstruct --ckpt CKPT [--images DIR | --data NAME --split S] ...``."""
    parser = _parser()
    args = parser.parse_args(argv)
    if (args.limit is not None and args.limit < 1) or args.batch_size < 1:
        parser.error(
            f"need --limit >= 1 and --batch-size >= 1, got {args.limit}, {args.batch_size}"
        )
    with reported_errors(parser.prog):
        flow, out_dir = load(args)
        if args.images is not None:
            names, images = read_image_folder(args.images, flow.net.in_shape, flow.n_bins)
            source = args.images.name
        else:
            name = args.data or _dataset(parser, flow)
            images = whole_split(DATASETS[name](root=args.data_root), args.split, args.limit)
            names, source = [str(i) for i in range(len(images))], f"{name}_{args.split}"
        names, images = names[: args.limit], images[: args.limit]
        settings = settings_from_args(parser, args, flow)
        result = reconstruct_images(flow, images, settings, args.batch_size)
        table = out_dir / f"reconstruct_{args.ckpt.stem}_{source}.csv"
        _write_table(table, names, result)
        print(f"{result.exact} of {len(images)} images reconstructed exactly ({source})")
        print(f"largest error: {int(result.errors.max())} grey level(s); per image: {table}")
        print(f"inversion: {summarize_reports(result.reports)}")
        if args.save_images:
            folder = out_dir / f"reconstructed_{source}"
            save_images(names, result.reconstructed, flow.n_bins, folder)
            print(f"reconstructions: {folder}")
        if result.exact < len(images):
            raise ReconstructionError(
                f"{len(images) - result.exact} of {len(images)} images differ from their "
                f"reconstruction; see {table} (tighter --tol or more --max-iter may help)"
            )


def _dataset(parser: argparse.ArgumentParser, flow: ImageFlow) -> str:
    try:
        return dataset_for_flow(flow)
    except ValueError as error:
        parser.error(str(error))


def _write_table(path: Path, names: Sequence[str], result: Reconstruction) -> None:
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["image", "max_error_grey_levels"])
        writer.writerows(zip(names, result.errors.int().tolist(), strict=True))


if __name__ == "__main__":
    main()
