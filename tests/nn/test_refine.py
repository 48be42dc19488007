"""Float64 refinement: the samples a float32 Anderson solve leaves above tol are solved again in
float64, rounded back, and kept only where the layer's own float32 evaluation says they are
better."""

import warnings
from functools import partial

import pytest
import torch

from mintnet.nn import InverseSettings, InversionWarning, MintLayer
from mintnet.nn.inverse import default_tol, invert, refine_in_float64
from mintnet.nn.inverse.anderson import anderson_solve
from mintnet.nn.inverse.fixed_point import largest_residual
from tests.nn.helpers import perturb


def _problem(batch=5):
    """A strongly perturbed float64 layer, its float32 copy, inputs and their images."""
    torch.manual_seed(0)
    exact = perturb(MintLayer(2, 6, 6, 3, "upper").double(), 0.3)
    layer = MintLayer(2, 6, 6, 3, "upper")
    layer.load_state_dict({k: v.float() for k, v in exact.state_dict().items()})
    x = torch.randn(batch, 2, 6, 6, dtype=torch.float64)
    y64, _ = exact(x)
    y = y64.float()
    w = layer.masked_weights()
    return layer, partial(layer.value_and_diagonal, w=w), x, y, y / w.t


def test_the_samples_above_tol_are_solved_in_float64_and_the_rest_kept():
    layer, fn, x, y, x0 = _problem()
    x0[0] = x[0].float()  # sample 0 starts at its answer: within tol after the first evaluation
    short, report = anderson_solve(
        fn, y, x0, InverseSettings(1.0, 2), default_tol(y.dtype), "0.upper"
    )
    above = report.unconverged_samples
    assert 0 not in above and len(above) >= 2  # two updates are not enough for the others
    settings = InverseSettings(1.0, 300, None, "warn", "anderson", 5)
    refined, after = refine_in_float64(fn, layer._in_float64, y, x0, short, report, settings)

    assert after.refined == len(above) and after.converged
    assert torch.equal(refined[0], short[0]) and after.residual[0] == report.residual[0]
    # the residuals reported are the float32 layer's own at the points returned
    torch.testing.assert_close(after.residual, largest_residual(fn(refined)[0], y), rtol=0, atol=0)
    # and the points are the float64 solution (here: the input) to float32 resolution
    assert (refined.double() - x).abs().max() < 1e-4
    _, alone = anderson_solve(
        layer._in_float64(),
        y[above].double(),
        x0[above].double(),
        settings,
        default_tol(torch.float64),
    )
    expected = report.evaluations + (alone.evaluations + 1) * len(above) / len(y)
    assert after.evaluations == pytest.approx(expected)
    assert after.iterations == report.iterations + alone.iterations
    assert f"{len(above)} samples solved again in float64" in str(after)


def test_a_float64_answer_that_is_no_better_is_not_taken():
    layer, fn, x, y, x0 = _problem(3)
    short, report = anderson_solve(fn, y, x0, InverseSettings(1.0, 2), default_tol(y.dtype))
    other = perturb(MintLayer(2, 6, 6, 3, "upper").double(), 0.3)  # the wrong map

    def wrong():
        return partial(other.value_and_diagonal, w=other.masked_weights())

    settings = InverseSettings(1.0, 300, None, "warn", "anderson", 5)
    kept, after = refine_in_float64(fn, wrong, y, x0, short, report, settings)
    worse = after.residual == report.residual
    assert worse.any()
    assert torch.equal(kept[worse], short[worse]) and not after.converged


def _never():
    raise AssertionError("the float64 map was built")


@pytest.mark.parametrize(
    "settings",
    [
        InverseSettings(1.0, 2, None, "warn", "anderson", 5, refine_in_float64=False),
        InverseSettings(1.0, 2, None, "warn", "fixed_point"),  # the paper's, untouched
        InverseSettings(1.0, 2, None, "warn", "damped"),
    ],
    ids=["switched-off", "fixed_point", "damped"],
)
def test_refinement_runs_only_for_anderson_when_asked(settings):
    _, fn, _, y, x0 = _problem(3)
    with pytest.warns(InversionWarning):
        _, report = invert(fn, y, x0, settings, "0.upper", _never)
    assert report.refined == 0


def test_a_float64_solve_is_not_refined():
    layer, _, x, _, _ = _problem(3)
    layer = layer.double()
    y, _ = layer(x)
    w = layer.masked_weights()
    fn = partial(layer.value_and_diagonal, w=w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InversionWarning)
        _, report = invert(fn, y, y / w.t, InverseSettings(1.0, 2), "0.upper", _never)
    assert report.refined == 0 and not report.converged


def test_the_layer_refines_through_its_settings_and_says_so():
    layer, _, x, y, _ = _problem(4)
    with pytest.warns(InversionWarning, match="solved again in float64"):
        layer.inverse_with_report(y, InverseSettings(1.0, 2, 1e-5))  # still capped at 2
    x_hat, (report,) = layer.inverse_with_report(y, InverseSettings(1.0, 300, 1e-5))
    assert report.converged and (x_hat.double() - x).abs().max() < 1e-4


def test_a_setting_that_is_not_a_bool_is_refused():
    with pytest.raises(ValueError, match="refine_in_float64 must be true or false, got 'yes'"):
        InverseSettings(refine_in_float64="yes")
