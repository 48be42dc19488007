"""``python -m reproduction`` (``make results``): the Fashion-MNIST results, from scratch, in one
command; interrupted, the same command resumes it (see :mod:`reproduction.pipeline` for the steps).

``--quick`` runs the same steps with tiny models and a few batches (a smoke test, minutes).
``--jobs N`` runs up to N independent training runs of a step at once (the architecture
comparison's candidates, the classification runs), each with one thread.
"""

import argparse
import os
import platform
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from reproduction.pipeline import PARTS, Pipeline
from reproduction.processes import Interrupted, forward_signals
from reproduction.profiles import FULL, QUICK
from reproduction.runs import RunFailed, write_json

__all__ = ["machine", "main"]

PROG = "python -m reproduction"


def machine() -> dict[str, Any]:
    """What the runs ran on."""
    import torch

    from mintnet.resolvers import available_cpus

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cpus_available": available_cpus(),
        "threads": os.environ.get("OMP_NUM_THREADS", "1"),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Train, measure and plot the Fashion-MNIST results, and write the document. "
        "Interrupt it at any time: run it again to skip what is finished and resume the rest.",
    )
    parser.add_argument("--quick", action="store_true", help="tiny models, a few batches each")
    parser.add_argument(
        "--data-root",
        default=os.environ.get("MINTNET_DATA_DIR", "data"),
        help="holds FashionMNIST/raw (default: $MINTNET_DATA_DIR or data; for data, Debian's "
        "/usr/share/datasets/fashion-mnist is tried after it)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        help="runs folder (default: results/fashion_mnist, --quick: results/quick)",
    )
    parser.add_argument(
        "--doc",
        type=Path,
        help="document to write (default: docs/results.md, --quick: <out>/results.md)",
    )
    parser.add_argument(
        "--download", action="store_true", help="fetch Fashion-MNIST if missing (needs network)"
    )
    parser.add_argument(
        "--report-only", action="store_true", help="only regenerate plots, tables and document"
    )
    parser.add_argument(
        "--part",
        choices=PARTS,
        default="all",
        help="density: steps 2-5 only; classification: step 6 only (the two share no run, so "
        "two processes may run them at once); the document is written once the density runs and "
        "the first seed's two classifiers are done (later classification runs show as pending)",
    )
    parser.add_argument(
        "--jobs",
        type=_positive,
        default=1,
        metavar="N",
        help="independent training runs of a step to run at once, one thread each (default: 1; "
        "the long density run always runs alone)",
    )
    parser.add_argument(
        "--threads",
        default=None,
        metavar="auto|N",
        help="torch's CPU threads of each training run and of the analysis: auto (the policy of "
        "mintnet.threads, the cores shared among --jobs) or N (default: OMP_NUM_THREADS if set, "
        "else 1, as the documented results were measured)",
    )
    return parser


def _threads(setting: str | None, jobs: int) -> str:
    """The ``threads:`` line; every training run and the analysis inherit the count."""
    from mintnet.threads import decide

    if setting is None:
        setting = "auto" if os.environ.get("OMP_NUM_THREADS") else "1"
    choice = decide(setting, processes=jobs)
    os.environ["OMP_NUM_THREADS"] = str(choice.intra)  # the children's and the analysis' count
    return choice.header()


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the pipeline; returns the exit code (0, 1 failed, 2 no data, 128 + signal stopped)."""
    args = _parser().parse_args(argv)
    profile = QUICK if args.quick else FULL
    out = args.out or Path("results") / ("quick" if args.quick else "fashion_mnist")
    doc = args.doc or (out / "results.md" if args.quick else Path("docs/results.md"))
    log = _printer()
    log(f"mintnet results ({profile.name}): runs in {out}, document {doc}; jobs: {args.jobs}")
    try:
        log(_threads(args.threads, args.jobs))
    except ValueError as error:
        print(f"reproduction: error: --threads: {error}", file=sys.stderr)
        return 1
    pipeline = Pipeline(profile, out, args.data_root, log, args.download, args.jobs)
    log("== step 1/7: Fashion-MNIST files")
    from mintnet.data.errors import DatasetNotFoundError

    try:
        pipeline.check_data()
    except DatasetNotFoundError as error:
        print(f"reproduction: error: {error}", file=sys.stderr)
        print(
            "reproduction: install it with `apt-get install -y dataset-fashion-mnist`, or, where "
            "there is network, run again with --download (make results ARGS=--download), which "
            f"fetches it into {args.data_root}/FashionMNIST/raw as data.download=true does",
            file=sys.stderr,
        )
        return 2
    if not (out / "machine.json").is_file():
        write_json(out / "machine.json", machine())
    if not args.report_only:
        with forward_signals():
            try:
                pipeline.run_all(args.part)
            except Interrupted as stop:
                log(f"reproduction: {stop}; run the same command again to resume")
                return 128 + stop.signum
            except RunFailed as error:
                print(f"reproduction: error: {error}", file=sys.stderr)
                return 1
    log("== step 7/7: plots, tables and the document")
    from reproduction.report import write_report

    try:
        written = write_report(pipeline, doc)
    except FileNotFoundError as error:
        if args.part != "all" and not args.report_only:
            log(f"reproduction: the {args.part} part is finished; the document waits for the rest")
            return 0
        print(f"reproduction: error: {error}", file=sys.stderr)
        return 1
    for path in written:
        log(f"wrote {path}")
    return 0


def _printer() -> Callable[[str], None]:
    def log(message: str) -> None:
        print(message, flush=True)

    return log


if __name__ == "__main__":
    raise SystemExit(main())
