"""``mintnet-sync``: upload the offline W&B runs under some folders with ``wandb sync``."""

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from mintnet.dashboard import offline_runs

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """``mintnet-sync [FOLDER ...] [--dry-run] [-- WANDB_SYNC_OPTIONS]``: upload every offline W&B
    run under the folders (default ``logs``) with ``wandb sync``, sweeps included."""
    parser = argparse.ArgumentParser(
        prog="mintnet-sync",
        description="Upload every offline W&B run under the given folders (run folders, sweep "
        "folders, the whole logs/ tree) with `wandb sync`, oldest first. Run `wandb login` once "
        "before.",
    )
    parser.add_argument("folders", nargs="*", default=["logs"], help="default: logs")
    parser.add_argument("--dry-run", action="store_true", help="list the runs, upload nothing")
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1 :] if "--" in argv else []
    args = parser.parse_args(argv[: argv.index("--")] if "--" in argv else argv)
    missing = [f for f in args.folders if not Path(f).exists()]
    if missing:
        parser.exit(1, f"mintnet-sync: error: no such folder: {', '.join(missing)}\n")
    runs = offline_runs(args.folders)
    if not runs:
        parser.exit(
            1, f"mintnet-sync: error: no offline W&B runs under {', '.join(args.folders)}\n"
        )
    for run in runs:
        print(run)
    if args.dry_run:
        print(f"{len(runs)} offline run(s); --dry-run: nothing uploaded")
        return
    command = [sys.executable, "-m", "wandb", "sync", *extra, *map(str, runs)]
    raise SystemExit(subprocess.run(command, check=False).returncode)


if __name__ == "__main__":
    main()
