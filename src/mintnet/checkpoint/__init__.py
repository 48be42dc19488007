"""Checkpoints, in one place: every file mintnet reads goes through :func:`load_file`
(``torch.load(weights_only=True)``: tensors and plain containers, never code).

* :mod:`mintnet.checkpoint.io`: :func:`load_file`, atomic writes (:func:`save_file`,
  :class:`AtomicCheckpointIO`, the trainer's checkpoint plugin), :class:`CheckpointError`;
* :mod:`mintnet.checkpoint.module`: mintnet-train checkpoints (:func:`read_checkpoint`,
  :func:`load_module`, :func:`check_checkpoint`, :func:`resume_checkpoint`,
  :func:`prepare_resume`) and the plain flow
  format (:func:`save_flow`, :func:`load_flow_from_checkpoint`);
* :mod:`mintnet.checkpoint.official`: the MintNet authors' released checkpoints
  (:func:`import_official`), converted by ``mintnet-import-official`` (:mod:`mintnet.cli.import_official`).
"""

from mintnet.checkpoint.io import AtomicCheckpointIO, CheckpointError, load_file, save_file
from mintnet.checkpoint.module import (
    check_checkpoint,
    flow_config,
    flow_from_config,
    load_flow_from_checkpoint,
    load_module,
    prepare_resume,
    read_checkpoint,
    resume_checkpoint,
    save_flow,
)
from mintnet.checkpoint.official import (
    convert_official_state,
    import_official,
    official_layout,
)

__all__ = [
    "AtomicCheckpointIO",
    "CheckpointError",
    "check_checkpoint",
    "convert_official_state",
    "flow_config",
    "flow_from_config",
    "import_official",
    "load_file",
    "load_flow_from_checkpoint",
    "load_module",
    "official_layout",
    "prepare_resume",
    "resume_checkpoint",
    "read_checkpoint",
    "save_file",
    "save_flow",
]
