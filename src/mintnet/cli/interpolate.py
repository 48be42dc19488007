"""``mintnet-interpolate``: a latent-space interpolation grid of four images (the paper's
Figure 5)."""

from collections.abc import Sequence

from mintnet.analysis.grids import save_image_grid
from mintnet.analysis.interpolation import interpolation_grid
from mintnet.analysis.reports import summarize_reports
from mintnet.cli.figure_args import (
    PAPER_INTERPOLATION_INDICES,
    add_data_args,
    add_inverse_args,
    figure_parser,
    load,
    load_split_images,
    settings_from_args,
)
from mintnet.cli.reporting import reported_errors

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """``mintnet-interpolate``: a latent-space interpolation grid of four images (Figure 5)."""
    parser = figure_parser(
        "mintnet-interpolate", "Interpolate four images in a MintNet's latent space."
    )
    add_data_args(parser)
    parser.add_argument(
        "--indices", type=int, nargs=4, default=PAPER_INTERPOLATION_INDICES, metavar="I"
    )
    parser.add_argument("--steps", type=int, default=8, help="images per side of the grid")
    parser.add_argument("--quantize", action="store_true", help="snap to the data's grey levels")
    add_inverse_args(parser)
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error(f"--steps must be >= 2, got {args.steps}")
    with reported_errors(parser.prog):
        flow, out_dir = load(args)
        x4 = load_split_images(parser, args, flow, args.indices)
        images, reports = interpolation_grid(
            flow, x4, args.steps, settings_from_args(parser, args, flow), args.quantize
        )
        path = out_dir / f"interpolation_{args.ckpt.stem}.png"
        save_image_grid(images.nan_to_num(0.0), path, nrow=args.steps)
    print(f"wrote a {args.steps}x{args.steps} interpolation grid to {path}")
    print(f"inversion: {summarize_reports(reports)}")


if __name__ == "__main__":
    main()
