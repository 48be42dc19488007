"""``python -m reproduction`` (``make results``): train the Fashion-MNIST runs that have no record,
record each as it finishes, and write docs/results.md from the records.

``--only NAME`` trains one run (repeatable), ``--budget MINUTES`` as many missing runs as fit,
``--report-only`` writes the page from the records alone, on any machine; ``--override KEY=VALUE``
changes every training (recorded in its ``overrides.yaml``). Interrupted (SIGTERM, Ctrl-C), the
same command resumes the unfinished run from its ``checkpoints/last.ckpt``.
"""

import argparse
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from reproduction.profiles import FULL, QUICK, Profile, Run
from reproduction.records import (
    RECORDS,
    finished,
    load_records,
    machine,
    write_files,
    write_record,
)
from reproduction.report import ANALYSIS, write_report
from reproduction.training import Stopped, choose, command, plan, sweeps, train

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m reproduction",
        description="Train the Fashion-MNIST runs that have no record, record them, and write "
        "the results page from the records. Interrupted, the same command resumes.",
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="tiny models, a few batches each (a smoke test)")
    add(
        "--data-root",
        default=os.environ.get("MINTNET_DATA_DIR", "data"),
        help="holds FashionMNIST/raw",
    )
    add(
        "--out",
        type=Path,
        help="run folders (default: results/fashion_mnist, --quick: results/quick)",
    )
    add(
        "--records",
        type=Path,
        help=f"records (default: {RECORDS.relative_to(RECORDS.parents[2])}, --quick: <out>/records)",
    )
    add("--doc", type=Path, help="page (default: docs/results.md, --quick: <out>/results.md)")
    add("--download", action="store_true", help="fetch Fashion-MNIST if missing (needs network)")
    add(
        "--report-only", action="store_true", help="write the page from the records, train nothing"
    )
    add("--only", action="append", default=[], metavar="NAME", help="train this run (repeatable)")
    add("--budget", type=float, metavar="MINUTES", help="train the missing runs that fit")
    add(
        "--override",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a Hydra override for every training (repeatable; recorded with the runs)",
    )
    add(
        "--threads",
        metavar="auto|N",
        help="torch threads of each training and of the analysis: auto (mintnet.threads' "
        "policy) or N (default: OMP_NUM_THREADS if set, else 1, as the records were measured)",
    )
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
    from mintnet.data import FashionMNISTDataModule
    from mintnet.data.errors import DatasetNotFoundError

    try:
        FashionMNISTDataModule(root=data_root, download=download).prepare_data()
    except DatasetNotFoundError as error:
        print(f"reproduction: error: {error}", file=sys.stderr)
        print(
            "reproduction: install it with `apt-get install -y dataset-fashion-mnist`, or, where "
            "there is network, run again with --download (make results ARGS=--download), which "
            f"fetches it into {data_root}/FashionMNIST/raw as data.download=true does",
            file=sys.stderr,
        )
        return False
    return True


def _collect(runs: Sequence[Run], out: Path, records: Path) -> None:
    """Record the runs whose jobs finished while no pipeline watched (it was stopped)."""
    for run in runs:
        folder, plan_file = out / run.step / run.name, out / run.step / "plan.json"
        if not (records / run.name).exists() and finished(folder):
            extra = (
                {"plan.json": json.loads(plan_file.read_text())} if run.name == "density" else None
            )
            print(f"[record] {run.name}: {write_record(folder, records / run.name, extra)}")


def _analyse(profile: Profile, out: Path, records: Path, doc: Path, data_root: str) -> None:
    from reproduction.analysis import analyse_flow

    folder = out / "density" / "density"
    if not (folder / "checkpoints").is_dir():
        raise RuntimeError(
            f"the analysis needs the long density run's checkpoints in {folder}, which are only "
            f"on the machine that trained it: remove {records / 'density'} and train it again"
        )
    print("[run] analysis of the trained flow: samples, Figure 4, Figure 5", flush=True)
    numbers, fig4 = analyse_flow(folder, doc.parent / "images", data_root, profile)
    files = {"analysis.json": json.dumps(numbers | {"machine": machine()}, indent=1) + "\n"}
    path = write_files(records / ANALYSIS, files | {"inversion_accuracy.csv": fig4})
    print(f"[record] analysis: {path}", flush=True)


def _density_plan(profile: Profile, out: Path, records: Path) -> dict:
    """The comparison's plan for the long run, kept beside its job folder."""
    recs = load_records(records)
    compares = {n: recs[n] for n in recs if n.startswith("density_compare_")}
    if len(compares) < 2:
        raise RuntimeError("the long density run needs both density_compare_* records")
    found = plan(profile, compares)
    (out / "density").mkdir(parents=True, exist_ok=True)
    (out / "density" / "plan.json").write_text(json.dumps(found))
    return found


def _train(args: argparse.Namespace, profile: Profile, out: Path, records: Path, doc: Path) -> int:
    runs = profile.runs()
    _collect(runs, out, records)
    done = {r.name for r in runs if (records / r.name).exists()}
    if not (records / ANALYSIS).exists():
        done.discard("density")  # its analysis is part of it
    chosen = choose(runs, done, args.only, args.budget)
    minutes = sum(r.minutes for r in chosen)
    names = ", ".join(r.name for r in chosen) or "none"
    print(f"to train: {names} (about {minutes:.0f} min on one thread)", flush=True)
    if chosen and not _data_ok(args.data_root, args.download):
        return 2
    for step in ("density_compare", "density", "classify"):
        todo = [r for r in chosen if r.step == step and not (records / r.name).exists()]
        extra = (
            {"plan.json": _density_plan(profile, out, records)}
            if step == "density" and todo
            else {}
        )
        found = extra.get("plan.json")
        more = [f"trainer.max_epochs={found['epochs']}"] if found else []
        for sweep in sweeps(todo, found["winner"] if found else None):
            argv = command(profile, out, args.data_root, sweep) + more + args.override
            print(f"== {step}: {shlex.join(['mintnet-train', *argv[3:]])}", flush=True)
            train(argv, todo, out, records, print, extra)
        analyse = step == "density" and any(r.name == "density" for r in chosen)
        if analyse and (records / "density").exists():
            _analyse(profile, out, records, doc, args.data_root)
    left = [r.name for r in chosen if not (records / r.name).exists()]
    if left:
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
    except ValueError as error:
        print(f"reproduction: error: --threads: {error}", file=sys.stderr)
        return 1
    if not args.report_only:
        try:
            code = _train(args, profile, out, records, doc)
        except Stopped as stop:
            print(f"reproduction: {stop}; run the same command again to resume", flush=True)
            return 143
        except (RuntimeError, ValueError) as error:
            print(f"reproduction: error: {error}", file=sys.stderr)
            return 1
        if code:
            return code
    words = "python -m reproduction" + (" --quick" if args.quick else "")
    for path in write_report(profile, records, doc, words):
        print(f"wrote {path}")
    return 0
