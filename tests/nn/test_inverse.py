import pytest
import torch

from mintnet.nn import InverseSettings, InversionError, InversionWarning, MintLayer
from mintnet.nn.inverse import fixed_point_inverse
from tests.nn.helpers import perturb


def _triangular_problem():
    layer = perturb(MintLayer(2, 4, 4, 2, "lower").double(), 0.1)
    x = torch.randn(4, 2, 4, 4, dtype=torch.float64)
    y, _ = layer(x)
    w = layer.masked_weights()
    return (lambda a: layer.value_and_diagonal(a, w)), x, y, y / w.t


def test_residual_falls_as_iterations_grow():
    fn, x, y, x0 = _triangular_problem()
    errors = []
    for n in (1, 2, 3, 4):
        with pytest.warns(InversionWarning):
            _, report = fixed_point_inverse(fn, y, x0, max_iter=n, tol=1e-13)
        errors.append(report.max_residual)
        assert report.iterations == n
    assert all(b < a for a, b in zip(errors, errors[1:], strict=False))
    _, report = fixed_point_inverse(fn, y, x0, max_iter=50, tol=1e-13)
    assert report.converged and report.max_residual < errors[-1]


def test_stops_on_tolerance_and_reports():
    fn, x, y, x0 = _triangular_problem()
    x_hat, report = fixed_point_inverse(fn, y, x0, max_iter=500, tol=1e-8, name="layer")
    assert report.converged and report.iterations < 500
    assert report.residual.shape == (4,) and report.residual.max() <= 1e-8
    assert (x_hat - x).abs().max() < 1e-6
    assert "layer: converged" in str(report)


def test_per_sample_stop_evaluates_only_moving_samples():
    fn, x, y, x0 = _triangular_problem()
    x0 = x0.clone()
    x0[:2] = x[:2]  # two samples start at the answer
    _, report = fixed_point_inverse(fn, y, x0, tol=1e-12)
    assert report.evaluations < report.iterations + 1


@pytest.mark.parametrize("alpha", [0.0, -0.5, 2.0, 3.0])
def test_alpha_outside_zero_two_is_refused(alpha):
    fn, _, y, x0 = _triangular_problem()
    with pytest.raises(ValueError, match=rf"alpha={alpha} is outside \(0, 2\)"):
        fixed_point_inverse(fn, y, x0, alpha=alpha)
    with pytest.raises(ValueError, match="alpha"):
        InverseSettings(alpha=alpha)


def test_non_convergence_warns_or_raises_with_the_residual():
    fn, _, y, x0 = _triangular_problem()
    with pytest.warns(
        InversionWarning, match="NOT converged after 1 iterations, largest residual"
    ):
        fixed_point_inverse(fn, y, x0, max_iter=1, tol=1e-12)
    with pytest.raises(InversionError, match="largest residual"):
        fixed_point_inverse(fn, y, x0, max_iter=1, tol=1e-12, on_fail="raise")


def test_nan_never_counts_as_converged():
    def fn(a):
        return torch.full_like(a, float("nan")), torch.ones_like(a)

    z = torch.zeros(2, 3)
    with pytest.raises(InversionError):
        fixed_point_inverse(fn, z, z, max_iter=3, on_fail="raise")
