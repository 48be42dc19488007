"""Run the benchmarks: ``python -m benchmarks [--quick] [--only NAME ...] [--threads N]
[--data-root DIR]``."""

import argparse
import time
from pathlib import Path

import torch

from benchmarks import device, inversion, layer_vs_floor, scaling, solvers, threads, train_step
from benchmarks.common import RESULTS_DIR

BENCHMARKS = {
    "layer_vs_floor": layer_vs_floor,
    "train_step": train_step,
    "inversion": inversion,
    "solvers": solvers,
    "scaling": scaling,
    "device": device,
    "threads": threads,
}
DEFAULT = ["layer_vs_floor", "train_step", "inversion", "solvers", "scaling"]
"""What runs without ``--only``: the CPU benchmarks. ``device`` (the paper's models at batch 64 on
``--device``) is for a GPU: ``make bench-gpu``; ``threads`` (the thread policy beside busy processes it
starts itself, minutes) runs with ``--only threads``."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny settings, seconds not minutes")
    parser.add_argument(
        "--only",
        nargs="+",
        choices=list(BENCHMARKS),
        help=f"run just these (default: {' '.join(DEFAULT)})",
    )
    parser.add_argument("--reps", type=int, default=None, help="timed repeats of each variant")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch intra-op threads (default 1: on a shared 2-core machine two threads make "
        "wall times depend on the neighbours' load)",
    )
    parser.add_argument("--out-dir", type=Path, default=RESULTS_DIR, help="where the JSON goes")
    parser.add_argument(
        "--data-root",
        type=Path,
        default=inversion.DATA_ROOT,
        metavar="DIR",
        help="inversion trains on Fashion-MNIST from DIR/FashionMNIST/raw (or Debian's "
        "/usr/share/datasets/fashion-mnist) when present, else on scikit-learn's digits "
        "(default: $MINTNET_DATA_DIR, else the repository's data/)",
    )
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        metavar="CKPT",
        help="solvers: measure this density checkpoint's flow (e.g. the results pipeline's) on "
        "64 training images and 64 prior samples instead of training flows",
    )
    parser.add_argument(
        "--flows",
        nargs="+",
        choices=list(solvers.ARCHITECTURES),
        default=list(solvers.ARCHITECTURES),
        help="solvers: the flows to train (default: both; fashion_mnist where its files are found)",
    )
    parser.add_argument(
        "--device",
        default="cuda",
        help="where the 'device' benchmark runs (default cuda; the others run on the CPU)",
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        default=list(device.PARTS),
        help=f"what the 'device' benchmark measures (default: {' '.join(device.PARTS)})",
    )
    parser.add_argument(
        "--models",
        nargs="+",
        default=[],
        help=f"the 'device' benchmark's models (default: all of {' '.join(device.FULL)})",
    )
    return parser


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    # options only one benchmark takes
    extra = {
        "inversion": {"data_root": args.data_root},
        "solvers": {
            "data_root": args.data_root,
            "checkpoint": args.checkpoint,
            "flows": tuple(args.flows),
        },
        "device": {"device": args.device, "parts": tuple(args.parts), "names": tuple(args.models)},
    }
    for name in args.only or DEFAULT:
        module = BENCHMARKS[name]
        start = time.perf_counter()
        rows = module.run(
            quick=args.quick, reps=args.reps, out_dir=args.out_dir, **extra.get(name, {})
        )
        elapsed = time.perf_counter() - start
        print(f"\n## {name} ({elapsed:.0f} s, {args.threads} thread(s))\n")
        print(module.table(rows), flush=True)
    print(f"\nresults in {args.out_dir}")


if __name__ == "__main__":
    main()
