"""Fill a model config's data-dependent keys from the datamodule, and check the ones already set."""

from typing import Any

from omegaconf import DictConfig, OmegaConf

__all__ = ["ConfigError", "fill_from_data"]


class ConfigError(ValueError):
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


def fill_from_data(model_cfg: DictConfig, datamodule: Any) -> None:
    """Set every ``???`` among ``in_shape, n_bins, num_classes, in_channels, image_size`` in the model
    config (and its ``net``) from the data; refuse values that contradict the data."""
    facts = data_facts(datamodule)
    for path in ("model", "model.net"):
        node = model_cfg if path == "model" else model_cfg.get("net")
        if node is None:
            continue
        for key, value in facts.items():
            if key not in node.keys():  # "in" is False for ??? values
                continue
            if OmegaConf.is_missing(node, key):
                node[key] = value
                continue
            given = OmegaConf.to_object(node[key]) if OmegaConf.is_config(node[key]) else node[key]
            if given != value:
                raise ConfigError(
                    f"{path}.{key}={given} does not fit data '{datamodule.name}', which has "
                    f"{key}={value}; leave it out (???) to take it from the data"
                )
