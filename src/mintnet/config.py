"""Fill a model config's data-dependent keys from the datamodule, and refuse the ones that
contradict it. The values themselves are checked by the constructors they reach;
:func:`refused_key` finds the config key behind a refusal."""

import re
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mintnet.errors import MintNetError

__all__ = ["ConfigError", "data_facts", "fill_from_data", "refused_key"]


class ConfigError(MintNetError, ValueError):
    """A configuration value is invalid; the message names the key, the value and what is valid."""


def data_facts(datamodule: Any) -> dict[str, Any]:
    """The values a model config may take from the data, keyed by constructor argument name."""
    c, h, w = datamodule.image_shape
    return {
        "in_shape": [c, h, w],
        "n_bins": datamodule.n_bins,
        "num_classes": datamodule.num_classes,
        "in_channels": c,
        "image_size": [h, w],
    }


def fill_from_data(model_cfg: DictConfig, datamodule: Any, path: str = "model") -> None:
    """Set every ``???`` among ``in_shape, n_bins, num_classes, in_channels, image_size`` in the
    model config and the objects nested in it (``model.flow.net.in_shape``) from the data; refuse
    values that contradict the data. A key that interpolates another (``${..num_classes}``)
    follows the one it names."""
    facts = data_facts(datamodule)
    for key in model_cfg.keys():
        if OmegaConf.is_interpolation(model_cfg, key):
            continue
        if OmegaConf.is_missing(model_cfg, key):
            if key in facts:
                model_cfg[key] = facts[key]
            continue
        value = model_cfg[key]
        if isinstance(value, DictConfig):
            fill_from_data(value, datamodule, f"{path}.{key}")
        elif key in facts:
            given = OmegaConf.to_object(value) if OmegaConf.is_config(value) else value
            if given != facts[key]:
                raise ConfigError(
                    f"{path}.{key}={given} does not fit data '{datamodule.name}', which has "
                    f"{key}={facts[key]}; leave it out (???) to take it from the data"
                )


def refused_key(root: DictConfig, error: str, cause: str) -> str | None:
    """Where in the config a constructor's refusal comes from: ``<node>.<argument>=<value>`` for
    the argument of the node that Hydra's ``error`` names (its ``full_key``, from ``root``) which
    the constructor's message ``cause`` names first, else the node's key; ``None`` without a
    ``full_key``."""
    found = re.search(r"full_key: (\S+)", error)
    node = OmegaConf.select(root, found.group(1)) if found else None
    if not isinstance(node, DictConfig):
        return found.group(1) if found else None
    named = [(m.start(), k) for k in node if not k.startswith("_") if (m := _word(k, cause))]
    if not named:
        return found.group(1)
    argument = min(named)[1]  # the first the message names
    value = node[argument]
    value = OmegaConf.to_object(value) if OmegaConf.is_config(value) else value
    shown = "" if isinstance(value, dict) else f"={value}"
    return f"{found.group(1)}.{argument}{shown}"


def _word(key: str, text: str) -> re.Match | None:
    """Where ``text`` names the argument ``key`` as a word (``logit_lam`` also as "logit lam")."""
    pattern = re.escape(key).replace("_", "[_ ]")
    return re.search(rf"(?<![\w.]){pattern}(?!\w)", text, re.IGNORECASE)
