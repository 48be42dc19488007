"""``python -m reproduction`` (``make results``): train the Fashion-MNIST runs that have no record,
record each as it finishes, and write docs/results.md from the records.

``--only NAME`` trains one run (repeatable), ``--budget MINUTES`` as many missing runs as fit,
``--report-only`` writes the page from the records alone, on any machine; ``--override KEY=VALUE``
changes every training (recorded in its ``overrides.yaml``). Interrupted (SIGTERM, Ctrl-C), the
same command resumes the unfinished run from its ``checkpoints/last.ckpt``.
"""

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from reproduction.page import write_report
from reproduction.profiles import FULL, QUICK, Profile
from reproduction.records import ANALYSIS, RECORDS
from reproduction.training import Stopped, choose, command, plan, record_finished, sweeps, train

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    """The command line's options."""
    parser = argparse.ArgumentParser(prog="python -m reproduction", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add = parser.add_argument
    quick = "tiny models, a few batches each (a smoke test), all in results/quick unless told"
    add("--quick", action="store_true", help=quick)
    data = os.environ.get("MINTNET_DATA_DIR", "data")
    add("--data-root", default=data, help="holds FashionMNIST/raw")
    add("--out", type=Path, help="run folders (default: results/fashion_mnist)")
    add("--records", type=Path, help="records (default: reproduction/records/fashion_mnist)")
    add("--doc", type=Path, help="the page (default: docs/results.md)")
    add("--download", action="store_true", help="fetch Fashion-MNIST if missing (needs network)")
    add("--report-only", action="store_true", help="write the page from the records only")
    add("--only", action="append", default=[], metavar="NAME", help="train this run (repeatable)")
    add("--budget", type=float, metavar="MINUTES", help="train the missing runs that fit")
    add("--override", action="append", default=[], metavar="KEY=VALUE", help="for every training")
    add("--threads", metavar="auto|N", help="torch threads (default: OMP_NUM_THREADS or 1)")
    return parser


def _threads(setting: str | None) -> str:
    """The ``threads:`` line; the trainings and the analysis inherit the count."""
    from mintnet.threads import decide

    if setting is None:
        setting = "auto" if os.environ.get("OMP_NUM_THREADS") else "1"
    choice = decide(setting, processes=1)
    os.environ["OMP_NUM_THREADS"] = str(choice.intra)
    return choice.header()


def _data_ok(data_root: str, download: bool) -> bool:
    """Whether Fashion-MNIST is there (fetched first with ``download``); else says how to get it."""
    from mintnet.data import FashionMNISTDataModule
    from mintnet.data.errors import DatasetNotFoundError

    try:
        FashionMNISTDataModule(root=data_root, download=download).prepare_data()
        return True
    except DatasetNotFoundError as error:
        hint = "`apt-get install -y dataset-fashion-mnist`, or run again with --download"
        print(f"reproduction: error: {error}\nreproduction: {hint}", file=sys.stderr)
        return False


def _train(args: argparse.Namespace, profile: Profile, out: Path, records: Path, doc: Path) -> int:
    """Train and record the chosen runs, step by step, and the trained flow's analysis with the
    long density run; 2 if the data is missing."""
    runs = profile.runs()
    record_finished(runs, out, records)  # jobs that finished while no pipeline watched
    done = {r.name for r in runs if (records / r.name).exists()}
    if not (records / ANALYSIS).exists():
        done.discard("density")  # its analysis is part of it
    chosen = choose(runs, done, args.only, args.budget)
    names, minutes = ", ".join(r.name for r in chosen) or "none", sum(r.minutes for r in chosen)
    print(f"to train: {names} (about {minutes:.0f} min on one thread)", flush=True)
    if chosen and not _data_ok(args.data_root, args.download):
        return 2
    for step in ("density_compare", "density", "classify"):
        todo = [r for r in chosen if r.step == step and not (records / r.name).exists()]
        found = plan(profile, out, records) if step == "density" and todo else None
        more = [f"trainer.max_epochs={found['epochs']}"] if found else []
        for sweep in sweeps(todo, found["winner"] if found else None):
            argv = command(profile, out, args.data_root, sweep) + more + args.override
            print(f"== {step}: {shlex.join(['mintnet-train', *argv[3:]])}", flush=True)
            train(argv, todo, out, records)
        analyse = step == "density" and any(r.name == step for r in chosen)
        if analyse and (records / step).exists():
            from reproduction.analysis import record_analysis

            images = doc.parent / "images"
            record_analysis(profile, out / step / step, records, images, args.data_root)
    if left := [r.name for r in chosen if not (records / r.name).exists()]:
        raise RuntimeError(f"not recorded: {', '.join(left)} (their folders are in {out})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Train, record, write the page; the exit code: 0, 1 failed, 2 no data, 143 stopped."""
    args = _parser().parse_args(argv)
    profile = QUICK if args.quick else FULL
    out = args.out or Path("results") / ("quick" if args.quick else "fashion_mnist")
    records = args.records or (out / "records" if args.quick else RECORDS)
    doc = args.doc or (out / "results.md" if args.quick else Path("docs/results.md"))
    print(f"mintnet results ({profile.name}): runs in {out}, records in {records}, page {doc}")
    try:
        print(_threads(args.threads), flush=True)
        code = 0 if args.report_only else _train(args, profile, out, records, doc)
    except Stopped as stop:
        print(f"reproduction: {stop}; run the same command again to resume", flush=True)
        return 143
    except (RuntimeError, ValueError) as error:
        print(f"reproduction: error: {error}", file=sys.stderr)
        return 1
    if code:
        return code
    words = "python -m reproduction" + (" --quick" if args.quick else "")
    print(
        f"wrote {write_report(profile, records, doc, words)} and its plots in {doc.parent / 'images'}"
    )
    return 0
