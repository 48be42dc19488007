"""The project's Hydra sweeper on Optuna's ask-and-tell API: ``hydra/sweeper=optuna``
(``conf/hydra/sweeper/optuna.yaml``), selected by ``conf/hparams_search/*.yaml``. Hydra loads
sweepers only from the ``hydra_plugins`` package.

* :mod:`.space`: the search space, from ``hydra.sweeper.params`` in Hydra's override grammar;
* :mod:`.study`: resuming a stored study, recording each trial's outcome;
* :mod:`.sweeper`: :class:`OptunaSweeper`, the loop that asks for trials and launches them.
"""

from hydra_plugins.mintnet_optuna.study import study_progress
from hydra_plugins.mintnet_optuna.sweeper import TRIAL_OVERRIDE, OptunaSweeper

__all__ = ["TRIAL_OVERRIDE", "OptunaSweeper", "study_progress"]
