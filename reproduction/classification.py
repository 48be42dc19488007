"""The classification runs of the results pipeline (its step 6): the MintNet classifier and the
ResNet baseline under one recipe (data, augmentation, optimiser, cosine schedule, budget), each
trained with every seed of the profile at the base budget and with the first seed at
``classify_long_factor`` times the epochs, and MintNet's ablations (the first seed, the base
budget, one change each)."""

from collections.abc import Sequence
from dataclasses import dataclass

from reproduction.profiles import Ablation, Profile
from reproduction.runs import Run

__all__ = ["BASE", "KINDS", "LONG", "MODELS", "ABLATION", "ClassifierRun", "classifier_runs"]

MODELS = ("MintNet", "ResNet")
"""The two classifiers, in the order of the page's tables."""

BASE, LONG, ABLATION = "base", "long", "ablation"
KINDS = (BASE, LONG, ABLATION)
"""The base budget (one run per seed), the longer budget (first seed), an ablation (MintNet)."""


@dataclass(frozen=True)
class ClassifierRun:
    """One classification run and its place in the comparison.

    Attributes:
        run: the training run (its folder, overrides and seed).
        model: one of :data:`MODELS`.
        kind: one of :data:`KINDS`.
        epochs: training epochs of ``classify_batches`` batches each; the cosine schedule anneals
            the learning rate to 0 over them.
        ablation: the change, for an ablation run.
    """

    run: Run
    model: str
    kind: str
    epochs: int
    ablation: Ablation | None = None

    @property
    def seed(self) -> int:
        return self.run.seed


def classifier_runs(
    profile: Profile, data_root: str, trainer_common: Sequence[str]
) -> list[ClassifierRun]:
    """Every classification run, in training order: both models with the first seed at the base
    budget, then the other seeds, then the long runs, then the ablations (an interrupted pipeline
    has the most useful runs first)."""
    epochs, seeds = profile.classify_epochs, profile.classify_seeds
    long_epochs = epochs * profile.classify_long_factor

    def make(model: str, kind: str, seed: int, n: int, ablation: Ablation | None = None) -> Run:
        name = {
            BASE: f"classify_{model.lower()}_seed{seed}",
            LONG: f"classify_{model.lower()}_long",
            ABLATION: f"classify_{model.lower()}_ablation_{ablation.name if ablation else ''}",
        }[kind]
        changes = ablation.overrides if ablation else ()
        run = Run(name, recipe(profile, data_root, trainer_common, model, n, changes), seed)
        return ClassifierRun(run, model, kind, n, ablation)

    runs = [make(model, BASE, seed, epochs) for seed in seeds for model in MODELS]
    runs += [make(model, LONG, seeds[0], long_epochs) for model in MODELS]
    runs += [make("MintNet", ABLATION, seeds[0], epochs, a) for a in profile.classify_ablations]
    return runs


def recipe(
    profile: Profile,
    data_root: str,
    trainer_common: Sequence[str],
    model: str,
    epochs: int,
    changes: Sequence[str] = (),
) -> tuple[str, ...]:
    """The overrides of one classifier: the common recipe for ``epochs`` epochs (the paper's
    Adam, cosine annealing over those epochs), the model's size, then ``changes``; a change whose
    key the recipe sets replaces that override in place."""
    p = profile
    overrides = [
        "model=mintnet_classifier" if model == "MintNet" else "model=resnet_classifier",
        "data=fashion_mnist",
        f"paths.data_dir={data_root}",
        "task_name=fashion_mnist_classification",
        f"data.batch_size={p.classify_batch}",
        "data.num_workers=0",
        "data.augment=[random_crop,hflip]",
        "data.crop_padding=2",
        "model.optimizer.lr=0.001",
        "model.scheduler={_target_:torch.optim.lr_scheduler.CosineAnnealingLR,_partial_:true,"
        f"T_max:{epochs},eta_min:0.0}}",
        f"trainer.max_epochs={epochs}",
        f"++trainer.limit_train_batches={p.classify_batches}",
        *trainer_common,
        *(p.mint_classifier if model == "MintNet" else p.resnet),
    ]
    by_key = {_key(change): change for change in changes}
    replaced = [by_key.pop(_key(o), o) for o in overrides]
    return (*replaced, *by_key.values())


def _key(override: str) -> str:
    """The config key an override sets (``++a.b=1`` and ``a.b=2`` both set ``a.b``)."""
    return override.split("=", 1)[0].lstrip("+~")
