"""Anderson acceleration with its safeguard, and its damped fall-back: where the paper's iteration
fails they converge, on trained flows too."""

import warnings

import pytest
import torch

from mintnet.nn import InverseSettings, InversionWarning, MintLayer, unconverged
from mintnet.nn.inverse import fixed_point_inverse, invert
from tests.analysis.helpers import digits, trained_tiny_flow
from tests.nn.helpers import perturb


def _arctan(x):
    """``f(x) = atan(x) + x / 20`` per element: a diagonal Jacobian ``1 / (1 + x^2) + 1/20 > 0``.

    With ``alpha = 1`` the paper's step is Newton's method, which overshoots the root ``x = 0``
    from ``|x| > 1.4`` or so: the far side has a smaller slope, so each step lands farther out
    (until the linear term takes over and the iterates settle into a cycle).
    """
    return torch.atan(x) + x / 20, 1 / (1 + x * x) + 1 / 20


def _far_start(dtype):
    z = torch.zeros(4, 1, 2, 2, dtype=dtype)
    x0 = torch.full_like(z, 0.1)
    x0[1, 0, 1, 0] = 3.0  # one pixel of one sample starts far out
    x0[3] = -4.0  # every pixel of another
    return z, x0


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_where_alpha_one_fails_the_safeguarded_solvers_converge(dtype):
    z, x0 = _far_start(dtype)
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    with pytest.warns(InversionWarning, match=r"samples above tol: \[1, 3\]"):
        x, plain = fixed_point_inverse(_arctan, z, x0, alpha=1.0, max_iter=300, tol=tol)
    assert plain.residual[[0, 2]].max() <= tol and plain.residual[[1, 3]].min() > 1.0
    for method in ("damped", "anderson"):
        x, report = invert(_arctan, z, x0, InverseSettings(max_iter=300, tol=tol, method=method))
        assert report.converged and report.method == method
        assert x.abs().max() < 10 * tol  # the root is 0
        assert report.evaluations < 40


def _layer_problem(batch=6):
    layer = perturb(MintLayer(2, 5, 5, 3, "lower").double(), 0.3)
    x = torch.randn(batch, 2, 5, 5, dtype=torch.float64)
    y, _ = layer(x)
    w = layer.masked_weights()
    return (lambda a: layer.value_and_diagonal(a, w)), x, y, y / w.t


@pytest.mark.parametrize("method", ["damped", "anderson"])
def test_a_batch_is_solved_as_each_sample_alone(method):
    fn, x, y, x0 = _layer_problem()
    settings = InverseSettings(tol=1e-12, max_iter=300, method=method)
    batched, report = invert(fn, y, x0, settings)
    assert report.converged and (batched - x).abs().max() < 1e-9
    for b in range(len(y)):
        alone, _ = invert(fn, y[b : b + 1], x0[b : b + 1], settings)
        torch.testing.assert_close(alone, batched[b : b + 1], rtol=0, atol=1e-12)


def test_the_settings_choose_the_solver():
    fn, x, y, x0 = _layer_problem(2)
    for method in ("fixed_point", "damped", "anderson"):
        x_hat, report = invert(fn, y, x0, InverseSettings(1.0, 300, 1e-12, method=method))
        assert report.method == method and report.converged
        assert (x_hat - x).abs().max() < 1e-9
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InversionWarning)
        plain, _ = invert(fn, y, x0, InverseSettings(0.5, 7, 1e-300, method="fixed_point"))
        direct, _ = fixed_point_inverse(fn, y, x0, alpha=0.5, max_iter=7, tol=1e-300)
    assert torch.equal(plain, direct)  # the paper's iteration, iterate for iterate


@pytest.fixture(scope="module")
def trained():
    return trained_tiny_flow(steps=300)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_a_trained_flow_round_trips_every_image_and_prior_sample(trained, dtype):
    flow = trained_tiny_flow(steps=300).to(dtype) if dtype == torch.float64 else trained
    settings = InverseSettings(1.0, 300, None, "raise", method="anderson")
    with torch.no_grad():
        v = flow.centre_logits(digits()[:64].to(dtype))
        z, _ = flow.net(v)
        v_hat, reports = flow.net.inverse_with_report(z, settings)  # "raise": none above tol
        error = float((v_hat - v).abs().max())
        print(f"{dtype}: images, largest |v_hat - v| = {error:.3g}")
        assert error < (1e-3 if dtype == torch.float32 else 1e-8)
        prior = torch.randn((64, *flow.net.latent_shape), dtype=dtype)
        x, reports = flow.net.inverse_with_report(prior, settings)
        again, _ = flow.net(x)
        print(f"{dtype}: prior, largest |f(x) - z| = {float((again - prior).abs().max()):.3g}")
    assert not unconverged(reports) and all(r.converged for r in reports)


def test_unconverged_names_the_layers_and_samples():
    fn, x, y, x0 = _layer_problem(3)
    x0 = x0.clone()
    x0[0] = x[0]  # sample 0 starts at its answer
    with pytest.warns(InversionWarning, match=r"samples above tol: \[1, 2\]"):
        _, report = fixed_point_inverse(fn, y, x0, max_iter=1, tol=1e-12, name="4.lower")
    assert unconverged([report]) == [("4.lower", [1, 2])]


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        (
            {"method": "newton"},
            "method must be one of fixed_point, damped, anderson; got 'newton'",
        ),
        ({"max_iter": 0}, "max_iter must be a positive integer, got 0"),
        ({"tol": 0.0}, r"tol must be > 0 \(or None for the dtype's default\), got 0.0"),
        ({"tol": -1e-5}, "tol must be > 0"),
        ({"anderson_memory": 0}, "anderson_memory must be a positive integer, got 0"),
    ],
)
def test_bad_settings_are_refused_with_the_valid_values(knobs, message):
    with pytest.raises(ValueError, match=message):
        InverseSettings(**knobs)


def test_bad_arguments_of_the_solver_are_refused():
    z, x0 = _far_start(torch.float64)
    with pytest.raises(ValueError, match="max_iter must be a positive integer"):
        InverseSettings(max_iter=0)
    with pytest.raises(ValueError, match="x0 must have the shape of z"):
        invert(_arctan, z, x0[:2], InverseSettings())


def test_the_anderson_candidate_is_the_least_squares_extrapolation():
    """The kept differences and Gram matrix give the candidate of type II Anderson acceleration,
    recomputed here from the accepted points with a float64 least-squares solve."""
    from mintnet.nn.inverse.anderson import _History

    fn, _, y, x0 = _layer_problem(3)
    step, memory = torch.tensor([1.0, 0.5, 0.25], dtype=torch.float64), 3
    points, steps = [x0], []
    fx, diag = fn(x0)
    steps.append((y - fx) / diag)
    history = _History(x0, steps[0], memory)
    everyone = torch.ones(3, dtype=torch.bool)
    for _ in range(5):  # damped steps: more points than the memory keeps
        x = points[-1] + 0.3 * steps[-1]
        fx, diag = fn(x)
        points.append(x)
        steps.append((y - fx) / diag)
        history.update(everyone, everyone, x, steps[-1])
    candidate, used = history.candidate(points[-1], steps[-1], step)
    assert used.all()
    for b in range(3):
        xs = torch.stack([p[b].flatten() for p in points[-memory - 1 :]], dim=1)  # (n, m + 1)
        fs = step[b] * torch.stack([s[b].flatten() for s in steps[-memory - 1 :]], dim=1)
        d_x, d_f = xs.diff(dim=1), fs.diff(dim=1)
        gamma = torch.linalg.lstsq(d_f, fs[:, -1:]).solution
        expected = xs[:, -1] + fs[:, -1] - ((d_x + d_f) @ gamma).squeeze(1)
        torch.testing.assert_close(candidate[b].flatten(), expected, rtol=1e-6, atol=1e-7)
