"""``mintnet-inversion-accuracy``: the inverse's error on real images against iterations per Mint
layer (the paper's Figure 4)."""

from collections.abc import Sequence

from mintnet.analysis.accuracy import (
    figure4_work,
    inversion_accuracy,
    plot_inversion_accuracy,
    write_csv,
)
from mintnet.cli.figure_args import (
    PAPER_ITERATIONS,
    add_data_args,
    default_settings,
    figure_parser,
    load,
    load_split_images,
)
from mintnet.cli.progress import progress_bar
from mintnet.cli.reporting import reported_errors
from mintnet.nn.inverse import METHODS

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """``mintnet-inversion-accuracy``: error against iterations per layer (paper Figure 4)."""
    parser = figure_parser(
        "mintnet-inversion-accuracy",
        "Measure the fixed-point inverse's error on real images against iterations per layer.",
    )
    add_data_args(parser)
    parser.add_argument("--n-images", type=int, default=128, help="first N images of the split")
    parser.add_argument("--iterations", type=int, nargs="+", default=PAPER_ITERATIONS)
    parser.add_argument("--alphas", type=float, nargs="+", help="default: the model's alpha")
    parser.add_argument(
        "--methods", nargs="+", choices=METHODS, default=["fixed_point"], help="one curve each"
    )
    args = parser.parse_args(argv)
    if args.n_images < 1:
        parser.error(f"--n-images must be >= 1, got {args.n_images}")
    with reported_errors(parser.prog):
        flow, out_dir = load(args)
        images = load_split_images(parser, args, flow, range(args.n_images))
        alphas = args.alphas or [default_settings(flow).alpha]
        curves = len(alphas) * len(args.methods)
        try:
            with progress_bar("Figure 4", figure4_work(flow, args.iterations, curves)) as advance:
                rows = inversion_accuracy(
                    flow, images, args.iterations, alphas, args.methods, advance
                )
        except ValueError as error:
            parser.error(str(error))
        stem = f"inversion_accuracy_{args.ckpt.stem}"
        csv_path = write_csv(rows, out_dir / f"{stem}.csv")
        png_path = plot_inversion_accuracy(rows, out_dir / f"{stem}.png", title=args.ckpt.name)
    print(f"wrote {csv_path} and {png_path}")
    for row in rows:
        if row["iterations"] == max(args.iterations):
            print(
                f"{row['method']}, alpha={row['alpha']:g}, T={row['iterations']}: normalised L2 error "
                f"{row['geo_mean_error']:.3g} (geometric mean of {row['n_images']} images)"
            )


if __name__ == "__main__":
    main()
