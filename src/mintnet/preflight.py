"""What a run checks before Hydra makes its run folder: the Hydra callback
:class:`Preflight` of ``conf/train.yaml`` and ``conf/eval.yaml``.

A mistake on the command line that can be seen from the config alone (a checkpoint that is not
there or not readable, a GPU trainer on a machine without one, ``mintnet-eval`` without
``ckpt_path``) ends the run as one line on stderr, exit status 1, before any run folder, log
file or W&B run exists, so failed launches leave nothing behind to clean up or upload.

It also keeps a resumed run in its own folder: ``ckpt_path=<run folder>/checkpoints/last.ckpt``
without ``hydra.run.dir`` continues in ``<run folder>`` (as ``ckpt_path=auto`` there would), so
one run's epochs, checkpoints and logs stay in one folder. Resuming from any other checkpoint
(``epoch_005.ckpt``, a file elsewhere) starts a new folder, whose ``.hydra/config.yaml`` records
the ``ckpt_path`` it came from.
"""

import sys
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, read_write

from mintnet.checkpoint.io import CheckpointError
from mintnet.checkpoint.module import LAST_CHECKPOINT, RESUME_AUTO, read_checkpoint

__all__ = ["Preflight", "check"]

_NO_FILE = (None, "", "never", RESUME_AUTO)  # ckpt_path values that name no file


def check(config: DictConfig, needs_checkpoint: bool = False) -> None:
    """Raise ``ValueError`` (or :class:`CheckpointError`) naming what is wrong with ``config``
    and what to use instead."""
    ckpt_path = OmegaConf.select(config, "ckpt_path", throw_on_missing=False, default=None)
    if OmegaConf.is_missing(config, "ckpt_path") or (needs_checkpoint and ckpt_path is None):
        raise ValueError(
            "ckpt_path is required: the checkpoint to evaluate, e.g. "
            "ckpt_path=logs/<run>/checkpoints/last.ckpt"
        )
    if ckpt_path not in _NO_FILE:
        read_checkpoint(ckpt_path, lazy=True)  # missing, unreadable, foreign: one line
    accelerator = OmegaConf.select(config, "trainer.accelerator", default=None)
    if accelerator in ("gpu", "cuda"):
        import torch

        if not torch.cuda.is_available():
            raise ValueError(
                f"trainer.accelerator={accelerator}: no CUDA GPU is visible on this machine "
                "(torch.cuda.is_available() is false); use trainer=cpu, or trainer=ddp_cpu "
                "for several processes"
            )


def _continue_in_own_folder(config: DictConfig) -> None:
    """``ckpt_path=<folder>/checkpoints/last.ckpt`` of a run folder, and no ``hydra.run.dir``
    given: the run continues in ``<folder>``."""
    ckpt_path = config.get("ckpt_path")
    if ckpt_path in _NO_FILE or not OmegaConf.select(config, "hydra.run.dir", default=None):
        return
    given = OmegaConf.select(config, "hydra.overrides.hydra", default=[]) or []
    if any(str(o).startswith("hydra.run.dir=") for o in given):
        return
    checkpoint = Path(ckpt_path).resolve()
    folder = checkpoint.parents[1] if len(checkpoint.parents) > 1 else None
    if (
        folder is None
        or checkpoint != folder / LAST_CHECKPOINT
        or not (folder / ".hydra").is_dir()
    ):
        return
    with read_write(config.hydra):
        config.hydra.run.dir = str(folder)
    print(f"continuing in the run's own folder {folder}", file=sys.stderr, flush=True)


class Preflight(Callback):
    """Hydra callback: :func:`check` the config of a single run before its folder is made, and
    keep a resumed run in its own folder.

    Arguments:
        program: the command's name, first on the error line (``mintnet-train``).
        needs_checkpoint: ``ckpt_path`` must name a file (``mintnet-eval``).
    """

    def __init__(self, program: str, needs_checkpoint: bool = False) -> None:
        self.program, self.needs_checkpoint = program, needs_checkpoint

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        try:
            check(config, self.needs_checkpoint)
        except (ValueError, CheckpointError) as error:
            print(f"{self.program}: error: {error}", file=sys.stderr, flush=True)
            raise SystemExit(1) from error
        _continue_in_own_folder(config)
