"""The mintnet.* OmegaConf resolvers, and the data configs' worker counts that use one."""

import os
import subprocess
import sys

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

import mintnet.resolvers
from mintnet.resolvers import available_cpus, cpus_at_most
from tests.conftest import CONF_DIR

WORKER_CONFIGS = ["mnist", "fashion_mnist", "cifar10", "imagenet32"]


def test_cpus_at_most_is_the_limit_or_the_cpus_available(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    assert available_cpus() == 2
    assert cpus_at_most(4) == 2
    assert cpus_at_most("4") == 2  # a resolver's argument may arrive as text
    assert cpus_at_most(1) == 1
    assert cpus_at_most(0) == 0  # no worker processes stays no worker processes
    with pytest.raises(ValueError, match="limit >= 0"):
        cpus_at_most(-1)


def test_cpus_at_most_without_affinity_masks_uses_the_cpu_count(monkeypatch):
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert available_cpus() == 1 and cpus_at_most(4) == 1


def test_the_resolver_reads_this_process_affinity():
    mintnet.resolvers.register()
    cfg = OmegaConf.create({"workers": "${mintnet.cpus_at_most:4}"})
    assert cfg.workers == min(4, len(os.sched_getaffinity(0)))


@pytest.mark.parametrize("name", WORKER_CONFIGS)
def test_data_configs_never_ask_for_more_workers_than_cpus(name, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    cfg = OmegaConf.create({"paths": {"data_dir": str(tmp_path)}})
    cfg.data = OmegaConf.load(CONF_DIR / "data" / f"{name}.yaml")
    assert cfg.data.num_workers == 1
    assert instantiate(cfg.data).num_workers == 1


def test_importing_mintnet_registers_the_resolvers_once_omegaconf_is_loaded():
    code = (
        "import omegaconf, mintnet.data; "
        "c = omegaconf.OmegaConf.create({'w': '${mintnet.cpus_at_most:1}'}); assert c.w == 1"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
