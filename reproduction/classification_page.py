"""The classification section of the results page: test accuracy over seeds (mean, sample standard
deviation, min-max) for each model at the base budget, the long runs, MintNet's ablations, and the
comparison of the two models worded from those numbers."""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reproduction.classification import ABLATION, BASE, LONG, MODELS, ClassifierRun
from reproduction.profiles import Profile
from reproduction.summary import RunSummary

__all__ = [
    "WITHIN_POINTS",
    "Groups",
    "Spread",
    "Trained",
    "classification_context",
    "comparison",
    "group",
    "relation",
    "spread",
]

WITHIN_POINTS = 1.0
"""The page says whether MintNet's mean test accuracy is within this many points of the ResNet's."""


@dataclass(frozen=True)
class Trained:
    """A finished classification run: what it is, and its numbers."""

    spec: ClassifierRun
    summary: RunSummary

    @property
    def accuracy(self) -> float:
        """Test accuracy in percent."""
        return 100 * self.summary.test("acc")


@dataclass(frozen=True)
class Spread:
    """Test accuracies (percent) of one model over seeds."""

    values: tuple[float, ...]

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def stdev(self) -> float | None:
        """The sample standard deviation (n - 1), or None for a single seed."""
        return statistics.stdev(self.values) if self.n > 1 else None

    @property
    def range(self) -> float:
        """max - min, in points."""
        return max(self.values) - min(self.values)


def spread(runs: Sequence[Trained]) -> Spread:
    return Spread(tuple(t.accuracy for t in runs))


@dataclass(frozen=True)
class Groups:
    """The classification runs by kind: each model's base runs (one per seed, in seed order),
    each model's long run, MintNet's ablations."""

    base: dict[str, list[Trained]]
    long: dict[str, Trained]
    ablations: list[Trained]


def group(results: Sequence[Trained]) -> Groups:
    return Groups(
        base={
            m: [t for t in results if t.spec.kind == BASE and t.spec.model == m] for m in MODELS
        },
        long={t.spec.model: t for t in results if t.spec.kind == LONG},
        ablations=[t for t in results if t.spec.kind == ABLATION],
    )


def _points(value: float) -> str:
    """A signed difference in percentage points."""
    return f"{value:+.2f}"


def relation(gap: float) -> str:
    """Where MintNet stands, given ``gap`` = ResNet - MintNet in points: ``2.10 points behind``,
    ``0.30 points ahead of``, ``level with``."""
    if round(gap, 2) == 0:
        return "level with"
    return f"{abs(gap):.2f} points {'behind' if gap > 0 else 'ahead of'}"


def _base_rows(profile: Profile, base: dict[str, list[Trained]]) -> list[list[str]]:
    descriptions = dict(
        zip(MODELS, (profile.mint_description, profile.resnet_description), strict=True)
    )
    rows = []
    for model, runs in base.items():
        s = spread(runs)
        summaries = [t.summary for t in runs]
        rows.append(
            [
                model,
                descriptions[model],
                f"{summaries[0].params:,}",
                str(s.n),
                f"{s.mean:.2f}%",
                "n/a" if s.stdev is None else f"{s.stdev:.2f}",
                f"{min(s.values):.2f}% to {max(s.values):.2f}%",
                _epoch_time([r.epoch_seconds for r in summaries]),
                f"{statistics.fmean(r.fit_seconds for r in summaries) / 60:.1f} min",
            ]
        )
    return rows


def _epoch_time(seconds: Sequence[float]) -> str:
    """The median time per epoch of runs, over those that timed a whole epoch: a run stopped
    and resumed inside every one of its epochs has none (NaN), and "n/a" is shown if no run has."""
    timed = [s for s in seconds if not math.isnan(s)]
    return f"{statistics.median(timed):.0f} s" if timed else "n/a"


def _long_rows(long: dict[str, Trained], first: dict[str, Trained]) -> list[list[str]]:
    return [
        [
            model,
            str(t.spec.seed),
            str(t.spec.epochs),
            str(t.summary.steps),
            f"{t.accuracy:.2f}%",
            _points(t.accuracy - first[model].accuracy),
            _epoch_time([t.summary.epoch_seconds]),
            f"{t.summary.fit_seconds / 60:.1f} min",
        ]
        for model, t in long.items()
    ]


def _ablation_rows(ablations: list[Trained], reference: Trained) -> list[list[str]]:
    rows = []
    for t in ablations:
        ablation = t.spec.ablation
        assert ablation is not None
        rows.append(
            [
                ablation.name,
                ablation.description,
                " ".join(f"`{o}`" for o in ablation.overrides),
                f"{t.summary.params:,}",
                f"{t.accuracy:.2f}%",
                _points(t.accuracy - reference.accuracy),
                _epoch_time([t.summary.epoch_seconds]),
            ]
        )
    return rows


def comparison(base: dict[str, list[Trained]]) -> dict[str, Any]:
    """MintNet against the ResNet over seeds: the gap of the means (points, positive when MintNet
    is behind), the seeds' spread (the wider of the two models' min-max ranges), whether every
    seed of one model is above every seed of the other, whether the means are within
    :data:`WITHIN_POINTS`."""
    mint, resnet = spread(base["MintNet"]), spread(base["ResNet"])
    gap = resnet.mean - mint.mean
    widest = max(mint.range, resnet.range)
    if min(resnet.values) > max(mint.values):
        order = "every ResNet seed is above every MintNet seed"
    elif min(mint.values) > max(resnet.values):
        order = "every MintNet seed is above every ResNet seed"
    else:
        order = "the two models' ranges over seeds overlap"
    return {
        "n": min(mint.n, resnet.n),
        "mint_mean": mint.mean,
        "resnet_mean": resnet.mean,
        "gap": abs(gap),
        "relation": relation(gap),
        "spread": widest,
        "larger": abs(gap) > widest,
        "order": order,
        "within": abs(gap) <= WITHIN_POINTS,
        "points": WITHIN_POINTS,
    }


def classification_context(profile: Profile, results: Sequence[Trained]) -> dict[str, Any]:
    """The tables, the numbers and the comparison of the classification section."""
    groups = group(results)
    base, long, ablations = groups.base, groups.long, groups.ablations
    first = {m: runs[0] for m, runs in base.items()}  # the first seed
    mint_range = spread(base["MintNet"]).range
    beyond = [
        t.spec.ablation.name
        for t in ablations
        if t.spec.ablation and abs(t.accuracy - first["MintNet"].accuracy) > mint_range
    ]
    long_gap = long["ResNet"].accuracy - long["MintNet"].accuracy if len(long) == 2 else None
    first_gap = first["ResNet"].accuracy - first["MintNet"].accuracy
    return {
        "compared": comparison(base),
        "base_rows": _base_rows(profile, base),
        "long_rows": _long_rows(long, first),
        "long_epochs": profile.classify_epochs * profile.classify_long_factor,
        "long_relation": None if long_gap is None else relation(long_gap),
        "first_relation": relation(first_gap),
        "ablation_rows": _ablation_rows(ablations, first["MintNet"]),
        "ablations_beyond": beyond,
        "mint_range": mint_range,
        "first_seed": profile.classify_seeds[0],
        "classify": [{"name": m, "command": t.summary.command} for m, t in first.items()],
        "summary_acc": {
            m: f"{spread(runs).mean:.2f}% "
            + ("(one seed)" if len(runs) == 1 else f"(mean of {len(runs)} seeds)")
            for m, runs in base.items()
        },
    }
