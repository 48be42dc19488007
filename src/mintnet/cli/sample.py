"""``mintnet-sample``: a grid of samples from a trained flow (the paper's Figure 3)."""

from collections.abc import Sequence

import torchvision.utils

from mintnet.analysis.grids import sample_grid
from mintnet.analysis.reports import summarize_reports
from mintnet.cli.figure_args import add_inverse_args, figure_parser, load, settings_from_args
from mintnet.cli.reporting import reported_errors

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """``mintnet-sample``: a grid of samples (paper Figure 3) and the inversion's report."""
    parser = figure_parser("mintnet-sample", "Sample a grid of images from a trained MintNet.")
    parser.add_argument("--n", type=int, default=64, help="number of samples")
    parser.add_argument("--temperature", type=float, default=1.0)
    parser.add_argument("--nrow", type=int, help="tiles per row (default: square)")
    parser.add_argument("-v", "--verbose", action="store_true", help="one report line per layer")
    add_inverse_args(parser)
    args = parser.parse_args(argv)
    if args.n < 1 or not args.temperature > 0 or (args.nrow is not None and args.nrow < 1):
        parser.error(
            f"need --n >= 1, --temperature > 0, --nrow >= 1; got {args.n}, "
            f"{args.temperature}, {args.nrow}"
        )
    with reported_errors(parser.prog):
        flow, out_dir = load(args)
        grid, reports = sample_grid(
            flow, args.n, args.temperature, settings_from_args(parser, args, flow), args.nrow
        )
        path = out_dir / f"samples_{args.ckpt.stem}_T{args.temperature:g}.png"
        torchvision.utils.save_image(grid, path)
    print(f"wrote {args.n} samples to {path}")
    print(f"inversion: {summarize_reports(reports)}")
    if args.verbose:
        print("\n".join(f"  {report}" for report in reports))


if __name__ == "__main__":
    main()
