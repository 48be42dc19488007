"""Fill a model config's data-dependent keys from the datamodule, and check the ones already set."""

from collections.abc import Callable
from typing import Any

from omegaconf import DictConfig, OmegaConf

from mintnet.errors import MintNetError
from mintnet.nn.inverse.settings import METHODS

__all__ = ["RULES", "ConfigError", "fill_from_data", "validate"]


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


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


# key -> (check, what is valid); keys absent from a config are not checked.
RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "seed": (lambda v: v is None or (_is_int(v) and v >= 0), "null or an integer >= 0"),
    "threads": (
        lambda v: v == "auto" or (_is_int(v) and v >= 1),
        "'auto' or an integer >= 1 (torch's CPU threads)",
    ),
    "data.batch_size": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "data.num_workers": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "model.flow.n_bins": (lambda v: _is_int(v) and v >= 2, "an integer >= 2"),
    "model.flow.logit_lam": (lambda v: _is_number(v) and 0 < v < 0.5, "a number in (0, 0.5)"),
    "model.sample_temperature": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "model.optimizer.lr": (lambda v: _is_number(v) and v > 0, "a number > 0"),
    "model.flow.net.n_layers": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "model.flow.net.n_squeezes": (lambda v: _is_int(v) and v >= 0, "an integer >= 0"),
    "model.flow.net.hidden_groups": (
        lambda v: (
            (_is_int(v) and v >= 1)
            or (isinstance(v, list) and all(_is_int(k) and k >= 1 for k in v))
        ),
        "an integer >= 1 or a list of them (one per scale)",
    ),
    "model.flow.net.kernel_size": (
        lambda v: _is_int(v) and v >= 1 and v % 2 == 1,
        "an odd integer >= 1",
    ),
    "model.flow.net.inversion.alpha": (
        lambda v: _is_number(v) and 0 < v < 2,
        "a number in (0, 2)",
    ),
    "model.flow.net.inversion.max_iter": (lambda v: _is_int(v) and v >= 1, "an integer >= 1"),
    "model.flow.net.inversion.tol": (
        lambda v: v is None or (_is_number(v) and v > 0),
        "null or a number > 0",
    ),
    "model.flow.net.inversion.method": (lambda v: v in METHODS, f"one of {', '.join(METHODS)}"),
    "model.flow.net.inversion.anderson_memory": (
        lambda v: _is_int(v) and v >= 1,
        "an integer >= 1",
    ),
    "model.flow.net.inversion.refine_in_float64": (lambda v: isinstance(v, bool), "true or false"),
    "trainer.max_epochs": (
        lambda v: v is None or (_is_int(v) and (v >= 1 or v == -1)),
        "an integer >= 1 (or -1)",
    ),
    "trainer.max_steps": (lambda v: _is_int(v) and (v >= 1 or v == -1), "an integer >= 1 (or -1)"),
}


def _is_missing(cfg: DictConfig, key: str) -> bool:
    parent, _, leaf = key.rpartition(".")
    node = OmegaConf.select(cfg, parent) if parent else cfg
    return OmegaConf.is_missing(node, leaf)


def validate(cfg: DictConfig) -> None:
    """Check the values of :data:`RULES` before anything is built; raise :class:`ConfigError`
    naming the key, the value and what is valid."""
    for key, (check, valid) in RULES.items():
        if OmegaConf.select(cfg, key, default="<absent>", throw_on_missing=False) == "<absent>":
            continue
        value = OmegaConf.select(cfg, key, throw_on_missing=False)
        if OmegaConf.is_config(value):
            value = OmegaConf.to_object(value)
        if value == "???" or (value is None and _is_missing(cfg, key)):
            continue  # filled from the data later
        if not check(value):
            raise ConfigError(f"{key}={value!r} is invalid: expected {valid}")
