"""``mintnet-import-official``: turn one of the MintNet authors' released checkpoints into a
mintnet checkpoint that ``mintnet-eval``, ``mintnet-sample``, ``mintnet-inversion-accuracy``,
``mintnet-interpolate`` and ``mintnet-train ckpt_path=...`` read as they are.

Also runnable as ``python -m mintnet.cli.import_official PATH --experiment NAME``.
"""

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from mintnet.checkpoint import save_file
from mintnet.checkpoint.official import PAPER_EXPERIMENTS, import_official
from mintnet.cli.reporting import reported_errors

__all__ = ["default_out", "main"]

PROG = "mintnet-import-official"


def default_out(path: Path, experiment: str, ema: bool) -> Path:
    """``<folder>/<stem>_<experiment>[_ema].ckpt`` next to the authors' file."""
    return path.with_name(f"{path.stem}_{experiment}{'_ema' if ema else ''}.ckpt")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Convert a checkpoint released by the MintNet authors (checkpoint.pth, "
            "checkpoint_epoch_N.pth, ...) into a mintnet checkpoint of the same model. The file "
            "is read with torch.load(weights_only=True); its masks are checked and dropped."
        ),
    )
    parser.add_argument("path", type=Path, help="the authors' checkpoint file")
    parser.add_argument(
        "--experiment",
        required=True,
        metavar="NAME",
        help=(
            f"the run the file comes from: one of {', '.join(PAPER_EXPERIMENTS)} "
            "(any MintNet experiment of mintnet's conf/experiment/ is accepted, e.g. "
            "digits_density for a small model of the same layout)"
        ),
    )
    parser.add_argument(
        "--ema", action="store_true", help="take the file's EMA weights (density runs with EMA)"
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="where to write (default: <stem>_<experiment>[_ema].ckpt beside it)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Convert, write, and say what was read and how to use the result."""
    args = _parser().parse_args(argv)
    with reported_errors(PROG):
        checkpoint, official, model = import_official(args.path, args.experiment, args.ema)
        out = save_file(checkpoint, args.out or default_out(args.path, args.experiment, args.ema))
    weights = "EMA weights" if args.ema else "model weights"
    if official.ema is not None and not args.ema:
        weights += " (the file also holds EMA weights: add --ema to take those)"
    print(f"read {args.path}: {official.describe()}; took its {weights}")
    print(
        f"wrote {out}: experiment {model.name}, weights only (training from it starts with a "
        "fresh optimizer)"
    )
    data = f"data={model.data}" + (" paths.data_dir=<your data folder>" * (model.data != "digits"))
    print(f"  evaluate: python -m mintnet.eval ckpt_path={out} {data}")
    if model.kind == "density":
        print(f"  sample:   mintnet-sample --ckpt {out}")
    else:
        mean, std = model.config["mean"], model.config["std"]
        print(
            f"  inputs:   images in [0, 1]; the module standardises them itself (mean {mean}, std "
            f"{std}), so do not pass images already normalised (module.net takes those)"
        )
        print(
            "  outputs:  logits; the authors' Net.forward returns their log_softmax (the two differ "
            "by each image's log-sum-exp, the same for every class)"
        )
    print(f"  train on: python -m mintnet.train experiment={model.name} ckpt_path={out}")


if __name__ == "__main__":
    main(sys.argv[1:])
