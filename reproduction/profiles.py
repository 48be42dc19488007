"""The runs of the results pipeline, by name, and the two profiles that size them: ``full`` (the
recipes in ``conf/experiment/fashion_mnist/``) and ``quick`` (the same runs at a tiny size,
``reproduction/conf/experiment/fashion_mnist_quick/``, for tests)."""

from dataclasses import dataclass, field

__all__ = ["ABLATIONS", "CANDIDATES", "FULL", "MODELS", "QUICK", "Profile", "Run"]

PAPER_MNIST_ALPHA = 1 / 3.5
"""The fixed-point step size of the paper's MNIST model (its released config's ``newton_lr``)."""

MODELS = ("MintNet", "ResNet")
"""The two classifiers, in the order of the page's tables."""

CANDIDATES = {
    "deep": "20 pairs as in the paper's MNIST flow, at K = 16 instead of 45",
    "wide": "6 pairs instead of 20, at the paper's MNIST K = 45",
}
"""The density architectures of the comparison (``density_compare_<name>.yaml``)."""

ABLATIONS = {
    "lr3e-3": ("learning rate 3e-3 instead of 1e-3", "model.optimizer.lr: 3.0e-3"),
    "no_weight_decay": ("no weight decay", "model.optimizer.weight_decay: 0.0"),
    "k2": (
        "K = 2 hidden groups instead of the paper's 1 (not the paper's architecture)",
        "model.net.hidden_groups: 2",
    ),
}
"""MintNet's ablations (``ablation_<name>.yaml``): what changes, in words and as config."""


@dataclass(frozen=True)
class Run:
    """One training run: its ``name`` (its record's folder and its job folder, the experiment's
    ``hydra.sweep.subdir``), the ``step`` whose sweep folder it runs in, its ``experiment``
    (``conf/experiment/<profile folder>/<experiment>.yaml``; the long density run's,
    ``density_<winner>``, is chosen by the comparison), its ``seed``, about how many ``minutes``
    it takes on one CPU thread (``--budget`` plans with them), and for a classifier its ``model``
    (one of :data:`MODELS`) and ``kind`` (``base``, ``long`` or the ablation's name)."""

    name: str
    step: str
    experiment: str
    seed: int = 0
    minutes: float = 0.0
    model: str = ""
    kind: str = ""


@dataclass(frozen=True)
class Profile:
    """The runs of one size of the pipeline and the analysis' settings; the defaults are what
    ``make results`` runs (:data:`FULL`), the minutes those measured on one thread of a shared
    CPU."""

    name: str = "full"
    folder: str = "fashion_mnist"  # the experiment configs' folder under conf/experiment
    seeds: tuple[int, ...] = (0, 1, 2)
    ablations: tuple[str, ...] = tuple(ABLATIONS)
    epochs: int = 10  # the classifiers' base budget
    long_factor: int = 3
    density_seconds: float = 50 * 60  # the long run's budget, for its epochs
    density_max_epochs: int = 200
    density_batches: int = 400  # the long run's batches per epoch (its config's, for its epochs)
    compare_batches: int = 100  # the candidates' batches per epoch (their config's)
    n_samples: int = 64
    fig4_images: int = 16  # 64 took over 20 min per curve on one shared thread
    fig4_iterations: tuple[int, ...] = (1, 11, 21, 41, 61, 81, 101, 141, 201)
    fig4_alphas: tuple[float, ...] = (PAPER_MNIST_ALPHA, 1.0)
    sample_max_iter: int = 500
    interpolation_indices: tuple[int, int, int, int] = (3, 15, 32, 17)
    interpolation_steps: int = 8
    minutes: dict[str, float] = field(
        default_factory=lambda: {"compare": 6, "density": 75, "MintNet": 20, "ResNet": 15}
    )

    def runs(self) -> list[Run]:
        """Every run in training order: the density comparison, the long density run (with its
        analysis), both classifiers seed by seed, MintNet's ablations, the longer budget."""
        m = self.minutes
        runs = [
            Run(f"density_compare_{c}", "density_compare", f"density_compare_{c}", 0, m["compare"])
            for c in CANDIDATES
        ]
        runs.append(Run("density", "density", "density_<winner>", 0, m["density"]))
        for seed in self.seeds:
            for x in MODELS:
                name = f"classify_{x.lower()}"
                runs.append(Run(f"{name}_seed{seed}", "classify", name, seed, m[x], x, "base"))
        for a in self.ablations:
            name = f"classify_mintnet_ablation_{a}"
            runs.append(Run(name, "classify", f"ablation_{a}", 0, m["MintNet"], "MintNet", a))
        for x in MODELS:
            name = f"classify_{x.lower()}_long"
            runs.append(Run(name, "classify", name, 0, m[x] * self.long_factor, x, "long"))
        return runs


FULL = Profile()
"""What ``make results`` runs."""

QUICK = Profile(
    name="quick",
    folder="fashion_mnist_quick",
    seeds=(0, 1),
    ablations=("no_weight_decay",),
    epochs=1,
    long_factor=2,
    density_seconds=10,
    density_max_epochs=1,
    density_batches=2,
    compare_batches=2,
    n_samples=16,
    fig4_images=8,
    fig4_iterations=(1, 5, 10),
    sample_max_iter=200,
    interpolation_indices=(0, 1, 2, 3),
    interpolation_steps=4,
    minutes={"compare": 0.5, "density": 1, "MintNet": 0.3, "ResNet": 0.3},
)
"""``--quick``: the same runs with tiny models and two batches per epoch."""
