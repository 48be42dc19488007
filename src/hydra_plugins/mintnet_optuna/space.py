"""The search space of a study, from ``hydra.sweeper.params`` and the command line, both in Hydra's
override grammar:

* ``choice(a, b, c)`` or ``a,b,c``: one of the values (a categorical parameter);
* ``range(start, stop[, step])``: an integer (or float) from ``start`` to ``stop``, ``stop``
  excluded, in steps of ``step``;
* ``interval(low, high)``: a float in ``[low, high]``; ``int(interval(low, high))`` an integer;
* ``tag(log, interval(...))``: sampled on a log scale;
* any other value: fixed, given to every trial as it is.
"""

import re
from typing import Any

from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import (
    ChoiceSweep,
    IntervalSweep,
    Override,
    RangeSweep,
)
from omegaconf import DictConfig, OmegaConf

__all__ = ["SearchSpace", "format_override", "search_space"]

_PLAIN = re.compile(r"^[\w./@-]+$")


class SearchSpace:
    """``distributions`` (key -> Optuna distribution) and ``fixed`` (overrides every trial
    gets)."""

    def __init__(self, distributions: dict[str, Any], fixed: list[str]) -> None:
        self.distributions = distributions
        self.fixed = fixed

    def overrides(self, params: dict[str, Any]) -> list[str]:
        """The overrides of one trial: the fixed ones, then its parameters."""
        return [*self.fixed, *(format_override(k, v) for k, v in params.items())]


def format_override(key: str, value: Any) -> str:
    """``key=value`` in Hydra's override grammar (strings quoted where they need it)."""
    if value is None:
        text = "null"
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = repr(value)
    else:
        text = str(value)
        if not _PLAIN.match(text):
            text = "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return f"{key}={text}"


def _distribution(override: Override) -> Any:
    import optuna.distributions as d

    sweep = override.value()
    if isinstance(sweep, ChoiceSweep):
        choices = [
            v
            if v is None or isinstance(v, str | int | float | bool)
            else Override._get_value_element_as_str(v)
            for v in sweep.list
        ]
        return d.CategoricalDistribution(choices)
    if isinstance(sweep, RangeSweep):
        values = list(override.sweep_iterator())
        if not values:
            raise ValueError(f"{override.input_line}: the range is empty")
        if all(isinstance(v, int) for v in values):
            return d.IntDistribution(values[0], values[-1], step=int(sweep.step))
        return d.FloatDistribution(float(values[0]), float(values[-1]), step=float(sweep.step))
    if isinstance(sweep, IntervalSweep):
        log = "log" in sweep.tags
        if isinstance(sweep.start, int) and isinstance(sweep.end, int):
            return d.IntDistribution(sweep.start, sweep.end, log=log)
        return d.FloatDistribution(float(sweep.start), float(sweep.end), log=log)
    raise ValueError(f"{override.input_line}: not a sweep Optuna can sample")


def search_space(params: DictConfig | dict | None, arguments: list[str]) -> SearchSpace:
    """The space of ``params`` (``hydra.sweeper.params``) and the command line's ``arguments``;
    a key on the command line replaces the same key of ``params``."""
    lines = []
    if params:
        items = (
            params.items() if isinstance(params, dict) else OmegaConf.to_container(params).items()
        )
        lines = [f"{key}={value}" for key, value in items]
    parser = OverridesParser.create()
    by_key: dict[str, Override] = {}
    for override in parser.parse_overrides(lines) + parser.parse_overrides(arguments):
        by_key.pop(override.get_key_element(), None)  # the command line's comes last, and wins
        by_key[override.get_key_element()] = override
    distributions, fixed = {}, []
    for key, override in by_key.items():
        if override.is_sweep_override():
            if override.is_hydra_override():
                raise ValueError(f"{override.input_line}: hydra.* keys cannot be searched")
            distributions[key] = _distribution(override)
        else:
            fixed.append(override.input_line)
    return SearchSpace(distributions, fixed)
