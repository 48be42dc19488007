"""The ``mintnet.*`` OmegaConf resolvers used in ``conf/``; importing :mod:`mintnet.train` or
:mod:`mintnet.eval` registers them.

* ``${mintnet.if_exists:PATH}``: ``PATH`` if that file exists, else null. A requeued Slurm job
  resumes with ``'ckpt_path=${mintnet.if_exists:${paths.output_dir}/checkpoints/last.ckpt}'``.
"""

from pathlib import Path

from omegaconf import OmegaConf

__all__ = ["if_exists", "register"]


def if_exists(path: str) -> str | None:
    """``path`` if it names an existing file, else ``None`` (the ``mintnet.if_exists`` resolver)."""
    return path if Path(path).is_file() else None


def register() -> None:
    """Register every ``mintnet.*`` resolver (again, if already registered)."""
    OmegaConf.register_new_resolver("mintnet.if_exists", if_exists, replace=True)


register()
