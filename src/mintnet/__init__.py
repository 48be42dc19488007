"""MintNet: masked invertible networks."""

import sys

# Configs that use the mintnet.* resolvers (conf/data/*.yaml) resolve wherever OmegaConf is in use,
# without pulling OmegaConf into programs that only need the plain-PyTorch backbone (mintnet.nn).
if "omegaconf" in sys.modules:
    from mintnet import resolvers  # noqa: F401  (registers them on import)
