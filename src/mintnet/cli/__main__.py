"""``python -m mintnet.cli <command> ...``: the figure commands without their console scripts."""

import sys
from collections.abc import Callable, Sequence

from mintnet.cli import interpolate, inversion_accuracy, reconstruct, sample

__all__ = ["COMMANDS", "main"]

COMMANDS: dict[str, Callable[[Sequence[str] | None], None]] = {
    "sample": sample.main,
    "inversion-accuracy": inversion_accuracy.main,
    "interpolate": interpolate.main,
    "reconstruct": reconstruct.main,
}


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``COMMANDS[argv[0]]`` on the rest of ``argv``; exit 2 naming the commands otherwise."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        print(f"usage: python -m mintnet.cli {{{','.join(COMMANDS)}}} ...", file=sys.stderr)
        raise SystemExit(2)
    COMMANDS[argv[0]](argv[1:])


if __name__ == "__main__":
    main()
