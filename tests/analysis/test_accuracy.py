import csv
import math

import pytest
import torch
from PIL import Image

from mintnet.analysis import (
    accuracy,
    figure4_work,
    inversion_accuracy,
    inversion_errors,
    inversion_errors_at,
    plot_inversion_accuracy,
    write_csv,
)
from mintnet.nn.inverse import METHODS
from tests.analysis.helpers import digits, single_thread

ITERATIONS = [1, 3, 10, 40]
N_IMAGES = 12
ALPHAS = [0.5, 1.0]  # inside (0, 2), where Algorithm 1 converges locally


@pytest.fixture(scope="module")
def rows(trained_flow):
    with single_thread():
        return inversion_accuracy(trained_flow, digits()[:N_IMAGES], ITERATIONS, ALPHAS)


def curve(rows, alpha):
    return [r["geo_mean_error"] for r in rows if r["alpha"] == alpha]


def test_one_row_per_alpha_and_iteration_count(rows):
    assert [(r["alpha"], r["iterations"]) for r in rows] == [
        (a, t) for a in ALPHAS for t in ITERATIONS
    ]
    assert all(r["n_images"] == N_IMAGES and r["n_nonfinite"] == 0 for r in rows)
    assert all(r["band_low"] <= r["geo_mean_error"] <= r["band_high"] for r in rows)


@pytest.mark.parametrize("alpha", ALPHAS)
def test_error_falls_with_iterations_to_below_1e4(rows, alpha):
    errors = curve(rows, alpha)
    assert errors[0] > 1e-3, errors  # one iteration per layer is far from the inverse
    assert errors[-1] < 1e-4, errors
    for before, after in zip(errors, errors[1:], strict=False):
        assert after <= before or after < 1e-6, errors  # falls until the float32 floor


def test_errors_use_exactly_t_iterations(trained_flow):
    """No early stop: the error at T and at T + 1 differ while far from the solution."""
    v = trained_flow.centre_logits(digits()[:4])
    z, _ = trained_flow.net(v)
    e1, e2 = (inversion_errors(trained_flow, v, z, 0.5, t) for t in (1, 2))
    assert e1.shape == (4,) and e1.dtype == torch.float64
    assert (e2 < e1).all()


def test_geometric_mean_matches_definition(trained_flow):
    images = digits()[:5]
    row = inversion_accuracy(trained_flow, images, [2], [1.0])[0]
    v = trained_flow.centre_logits(images)
    errors = inversion_errors(trained_flow, v, trained_flow.net(v)[0], 1.0, 2)
    assert math.isclose(row["geo_mean_error"], float(errors.log().mean().exp()), rel_tol=1e-9)
    assert math.isclose(row["log10_std"], float(errors.log10().std(correction=0)), rel_tol=1e-9)


def test_csv_and_plot_are_written(rows, tmp_path):
    csv_path = write_csv(rows, tmp_path / "out" / "acc.csv")
    with csv_path.open() as file:
        read = list(csv.DictReader(file))
    assert len(read) == len(rows) and float(read[0]["alpha"]) == ALPHAS[0]
    png_path = plot_inversion_accuracy(rows, tmp_path / "out" / "acc.png")
    with Image.open(png_path) as png:
        assert png.size == (600, 400)


@pytest.mark.parametrize(
    ("iterations", "alphas", "match"),
    [([0, 5], [1.0], "iterations"), ([5], [], "alphas"), ([5], [2.5], "alpha=2.5")],
)
def test_bad_arguments_are_refused(trained_flow, iterations, alphas, match):
    with pytest.raises(ValueError, match=match):
        inversion_accuracy(trained_flow, digits()[:2], iterations, alphas)


def test_images_outside_unit_range_are_refused(trained_flow):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        trained_flow.centre_logits(2 * digits()[:2])


@pytest.mark.parametrize("method", METHODS)
def test_one_pass_gives_the_errors_of_one_inversion_per_t(trained_flow, method):
    """Every T of a curve in one stacked pass: the errors of inverting once per T (the
    definition, :func:`inversion_errors`), for each solver and two step sizes."""
    v = trained_flow.centre_logits(digits()[:6])
    z, _ = trained_flow.net(v)
    for alpha in (0.5, 1.0):
        one_pass = inversion_errors_at(trained_flow, v, z, alpha, ITERATIONS, method)
        per_t = torch.stack(
            [inversion_errors(trained_flow, v, z, alpha, t, method) for t in ITERATIONS]
        )
        torch.testing.assert_close(one_pass, per_t, rtol=1e-5, atol=0)
        assert len(set(one_pass[:, 0].tolist())) == len(
            ITERATIONS
        )  # T matters: no copy stops early


def test_stacks_split_the_counts_without_changing_errors(trained_flow, monkeypatch):
    v = trained_flow.centre_logits(digits()[:3])
    z, _ = trained_flow.net(v)
    monkeypatch.setattr(accuracy, "STACK_ELEMENTS", 2**30)
    whole = inversion_errors_at(trained_flow, v, z, 1.0, ITERATIONS)  # all counts in one stack
    monkeypatch.setattr(accuracy, "STACK_ELEMENTS", 1)  # one copy per stack
    torch.testing.assert_close(inversion_errors_at(trained_flow, v, z, 1.0, ITERATIONS), whole)


def test_progress_counts_all_the_work(trained_flow):
    done = []
    inversion_accuracy(trained_flow, digits()[:2], [1, 5], [0.5, 1.0], progress=done.append)
    assert sum(done) == figure4_work(trained_flow, [1, 5], curves=2) > 0
