"""Analysis of trained flows: sample grids (paper Fig. 3), inversion accuracy (Fig. 4), latent
interpolation (Fig. 5) and reconstruction (encode, decode, compare in grey levels); their command
lines are in :mod:`mintnet.cli`. Their checkpoint loader lives in :mod:`mintnet.checkpoint` and is
re-exported here; the training callback that measures inversion is
:class:`mintnet.callbacks.InversionErrorCallback`."""

from mintnet.analysis.accuracy import (
    figure4_work,
    inversion_accuracy,
    inversion_errors,
    inversion_errors_at,
    plot_inversion_accuracy,
    write_csv,
)
from mintnet.analysis.grids import make_image_grid, sample_grid, save_image_grid
from mintnet.analysis.interpolation import interpolation_grid, interpolation_latents
from mintnet.analysis.reconstruction import (
    ImageFolderError,
    Reconstruction,
    read_image_folder,
    reconstruct_images,
)
from mintnet.analysis.reports import summarize_reports
from mintnet.checkpoint import (
    CheckpointError,
    flow_config,
    flow_from_config,
    load_flow_from_checkpoint,
    save_flow,
)

__all__ = [
    "CheckpointError",
    "ImageFolderError",
    "Reconstruction",
    "figure4_work",
    "flow_config",
    "flow_from_config",
    "interpolation_grid",
    "interpolation_latents",
    "inversion_accuracy",
    "inversion_errors",
    "inversion_errors_at",
    "load_flow_from_checkpoint",
    "make_image_grid",
    "plot_inversion_accuracy",
    "read_image_folder",
    "reconstruct_images",
    "sample_grid",
    "save_flow",
    "save_image_grid",
    "summarize_reports",
    "write_csv",
]
