"""The two sizes of the results pipeline (``full`` for ``make results``, ``quick`` for a smoke
test): the candidate architectures, the training budgets and the analysis settings from which
:class:`reproduction.pipeline.Pipeline` derives every run's recipe."""

from dataclasses import dataclass

__all__ = ["FULL", "PAPER_MNIST_ALPHA", "PROFILES", "QUICK", "Ablation", "Candidate", "Profile"]

PAPER_MNIST_ALPHA = 1 / 3.5
"""The fixed-point step size of the paper's MNIST model (its released config's ``newton_lr``)."""


@dataclass(frozen=True)
class Candidate:
    """A density architecture for the short comparison: ``n_layers`` lower/upper pairs, ``K`` at
    the first scale, two squeezes."""

    name: str
    description: str
    n_layers: int
    hidden_groups: int

    def overrides(self) -> list[str]:
        return [
            f"model.flow.net.n_layers={self.n_layers}",
            f"model.flow.net.hidden_groups={self.hidden_groups}",
        ]


@dataclass(frozen=True)
class Ablation:
    """A change to the MintNet classifier's recipe, trained with seed 0 at the base budget and
    compared with the unchanged seed-0 run.

    Attributes:
        name: a short name, part of the run's folder name.
        description: what changes, in words, for the page.
        overrides: Hydra overrides; one with the key of a recipe override replaces it.
    """

    name: str
    description: str
    overrides: tuple[str, ...]


@dataclass(frozen=True)
class Profile:
    """Sizes and budgets of one pipeline mode; every run's recipe is derived from these."""

    name: str
    candidates: tuple[Candidate, ...]
    compare_seconds: float  # each candidate's training time
    compare_max_epochs: int  # a cap that the time limit should reach first
    density_seconds: float  # the long run's training budget
    density_max_epochs: int  # a cap on the long run's epochs
    density_batch: int
    compare_batches: int  # training batches per epoch (one validation per epoch)
    density_batches: int
    classify_epochs: int  # the base budget: epochs of classify_batches batches
    classify_batches: int
    classify_batch: int
    classify_seeds: tuple[int, ...]  # both classifiers at the base budget with each seed
    classify_long_factor: int  # both with seed 0 at this many times classify_epochs
    classify_ablations: tuple[Ablation, ...]  # MintNet only, seed 0, the base budget
    mint_classifier: tuple[str, ...]
    resnet: tuple[str, ...]
    mint_description: str
    resnet_description: str
    eval_batches: float = 1.0  # validation and test batches (a fraction, or a count)
    log_every: int = 10  # steps between logged training rows
    callbacks_every: int = 5  # epochs between the callbacks' sample grids and inversion checks
    n_samples: int = 64
    fig4_images: int = 64
    fig4_iterations: tuple[int, ...] = (1, 11, 21, 41, 61, 81, 101, 141, 201)
    fig4_alphas: tuple[float, ...] = (PAPER_MNIST_ALPHA, 1.0)
    sample_max_iter: int = 500
    interpolation_indices: tuple[int, int, int, int] = (3, 15, 32, 17)
    interpolation_steps: int = 8


FULL = Profile(
    name="full",
    candidates=(
        Candidate(
            "deep", "20 pairs as in the paper's MNIST flow, at K = 16 instead of 45", 20, 16
        ),
        Candidate("wide", "6 pairs instead of 20, at the paper's MNIST K = 45", 6, 45),
    ),
    compare_seconds=5 * 60,
    compare_max_epochs=1000,
    density_seconds=50 * 60,
    density_max_epochs=200,
    density_batch=64,
    compare_batches=100,
    density_batches=400,
    classify_epochs=10,
    classify_batches=150,
    classify_batch=128,
    classify_seeds=(0, 1, 2),
    classify_long_factor=3,
    classify_ablations=(
        Ablation("lr3e-3", "learning rate 3e-3 instead of 1e-3", ("model.optimizer.lr=0.003",)),
        Ablation("no_weight_decay", "no weight decay", ("model.optimizer.weight_decay=0.0",)),
        Ablation(
            "k2",
            "K = 2 hidden groups instead of the paper's 1 (not the paper's architecture)",
            ("model.net.hidden_groups=2",),
        ),
    ),
    mint_classifier=("model.net.n_layers=4", "model.net.n_squeezes=1"),
    resnet=("model.net.blocks=[4,4]", "model.net.widths=[16,64]"),
    mint_description="4 pairs (8 Mint layers), K = 1, one squeeze, input padded to 16 channels",
    resnet_description="4 + 4 residual blocks at 16 and 64 channels",
)
"""What ``make results`` runs: see docs/results.md for the measured time."""

QUICK = Profile(
    name="quick",
    candidates=(
        Candidate("deep", "6 pairs, K = 2", 6, 2),
        Candidate("wide", "3 pairs, K = 8", 3, 8),
    ),
    compare_seconds=60,
    compare_max_epochs=1,
    density_seconds=10,
    density_max_epochs=1,
    density_batch=16,
    compare_batches=2,
    density_batches=2,
    classify_epochs=1,
    classify_batches=2,
    classify_batch=16,
    classify_seeds=(0, 1),
    classify_long_factor=2,
    classify_ablations=(
        Ablation("no_weight_decay", "no weight decay", ("model.optimizer.weight_decay=0.0",)),
    ),
    mint_classifier=("model.net.n_layers=2", "model.net.n_squeezes=1"),
    resnet=("model.net.blocks=[1,1]", "model.net.widths=[8,16]"),
    mint_description="2 pairs, K = 1, one squeeze",
    resnet_description="1 + 1 residual blocks at 8 and 16 channels",
    eval_batches=2,
    log_every=1,
    callbacks_every=1,
    n_samples=16,
    fig4_images=8,
    fig4_iterations=(1, 5, 10),
    sample_max_iter=200,
    interpolation_indices=(0, 1, 2, 3),
    interpolation_steps=4,
)
"""``--quick``: the same steps with tiny models and two batches per epoch."""

PROFILES = {"full": FULL, "quick": QUICK}
