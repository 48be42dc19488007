"""The authors' classifiers at their paper sizes, imported, against an independent float64
re-derivation of their forward pass (``tests/checkpoint/authors_classifier.py``), in eval mode with
non-trivial batch-norm statistics; through the library and through ``mintnet-import-official``."""

import pytest
import torch

from mintnet.checkpoint import CheckpointError, import_official, load_module, save_file
from mintnet.cli import import_official as command
from tests.checkpoint.authors_classifier import (
    AUTHORS_CLASSIFIERS,
    authors_file,
    authors_forward,
    relative_error,
    standardise,
)

EXPERIMENTS = sorted(AUTHORS_CLASSIFIERS)
RELATIVE = 1e-8


@pytest.fixture(scope="module", params=EXPERIMENTS)
def authors(request, tmp_path_factory):
    """``(experiment, config, file path, state, images, expected log-probabilities)``."""
    experiment = request.param
    config = AUTHORS_CLASSIFIERS[experiment]
    payload = authors_file(config, seed=EXPERIMENTS.index(experiment))
    path = tmp_path_factory.mktemp(experiment) / "checkpoint.pth"
    torch.save(payload, path)
    generator = torch.Generator().manual_seed(1)
    size = config["image_size"]
    images = torch.rand(
        2, config["channels"], size, size, generator=generator, dtype=torch.float64
    )
    expected = authors_forward(payload[0], standardise(images, config), config)
    return experiment, config, path, payload[0], images, expected


def _imported(checkpoint_path):
    return load_module(checkpoint_path).double().eval()


def _check(module, images, config, expected):
    with torch.no_grad():
        logits = module(images)  # the module standardises the images itself
        on_standardised = module.net(standardise(images, config))
    assert expected.abs().max() > 1.0  # the test is not of a near-constant output
    assert relative_error(torch.log_softmax(logits, 1), expected) <= RELATIVE
    assert relative_error(torch.log_softmax(on_standardised, 1), expected) <= RELATIVE
    # logits, not log-probabilities: the two differ by each image's log-sum-exp, one constant
    shift = logits - expected
    assert relative_error(shift, torch.logsumexp(logits, 1, keepdim=True).expand_as(shift)) <= 1e-8


def test_the_library_import_matches_the_authors_forward_pass(authors, tmp_path):
    experiment, config, path, _, images, expected = authors
    checkpoint, official, _ = import_official(path, experiment)
    assert official.kind == "classification" and (official.epoch, official.step) == (200, 78000)
    _check(_imported(save_file(checkpoint, tmp_path / "imported.ckpt")), images, config, expected)


def test_the_command_line_import_matches_the_authors_forward_pass(authors, tmp_path, capsys):
    experiment, config, path, _, images, expected = authors
    out = tmp_path / "imported.ckpt"
    command.main([str(path), "--experiment", experiment, "--out", str(out)])
    said = capsys.readouterr().out
    assert "log_softmax" in said and "standardises" in said
    _check(_imported(out), images, config, expected)


def test_the_reference_sees_a_changed_running_variance(authors):
    """The comparison can fail: the reference moves when one batch-norm statistic moves."""
    _, config, _, state, images, expected = authors
    changed = dict(state)
    key = "module.layers.0.0.running_var"
    changed[key] = state[key] * 0.999
    moved = authors_forward(changed, standardise(images, config), config)
    assert relative_error(moved, expected) > 100 * RELATIVE


def test_the_channels_first_variant_is_refused_by_name(tmp_path):
    """``rgb_last: false`` orders the taps differently; no mintnet layer has those masks."""
    config = dict(AUTHORS_CLASSIFIERS["mnist_classification"], n_layers=3, n_subsampling=1)
    path = tmp_path / "checkpoint.pth"
    torch.save(authors_file(config, rgb_last=False), path)
    with pytest.raises(CheckpointError, match="rgb_last: false") as refused:
        import_official(path, "mnist_classification")
    assert "module.layers.0.1.mask1" in str(refused.value)
