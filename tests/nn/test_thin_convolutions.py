"""The thin convolutions equal ``F.conv2d`` in value and gradient."""

import pytest
import torch
import torch.nn.functional as F

from mintnet.nn.masks import triangular_mask
from mintnet.nn.thin_convolutions import (
    conv_from_channel,
    conv_from_few_channels,
    conv_kept_rows,
    conv_to_channel,
    conv_to_few_channels,
    pixel_rows,
)

CL = torch.channels_last


def _grads(out: torch.Tensor, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    torch.manual_seed(3)
    return list(torch.autograd.grad(out, inputs, torch.randn_like(out)))


def _leaf(*shape: int) -> torch.Tensor:
    return torch.randn(*shape, dtype=torch.float64, requires_grad=True)


@pytest.mark.parametrize("kernel", [3, 5])
def test_conv_from_channel_is_a_convolution(kernel):
    x, w, b = _leaf(2, 1, 5, 7), _leaf(4, 1, kernel, kernel), _leaf(4)
    rows = conv_from_channel(x, w, b)  # (2*5*7, 4)
    ref = F.conv2d(x, w, b, padding=kernel // 2)
    assert rows.shape == (70, 4)
    assert torch.allclose(rows, pixel_rows(ref), atol=1e-12)
    got = _grads(rows, [x, w, b])
    want = _grads(pixel_rows(ref), [x, w, b])
    assert all(torch.allclose(g, r, atol=1e-12) for g, r in zip(got, want, strict=True))


@pytest.mark.parametrize("kernel", [3, 5])
@pytest.mark.parametrize("kind", ["lower", "upper"])
def test_conv_kept_rows_equals_the_masked_convolution_and_ignores_the_empty_rows(kernel, kind):
    a = _leaf(2, 3, 6, 5).detach().contiguous(memory_format=CL).requires_grad_()
    raw, b = _leaf(3, 3, kernel, kernel), _leaf(3)
    mask = triangular_mask(kernel, 1, kind).to(torch.float64)  # (1, 1, k, k)
    out = conv_kept_rows(a, raw * mask, b, kind)
    ref = F.conv2d(a, raw * mask, b, padding=kernel // 2)
    assert out.shape == ref.shape and torch.allclose(out, ref, atol=1e-12)
    got, want = _grads(out, [a, raw, b]), _grads(ref, [a, raw, b])
    assert all(torch.allclose(g, r, atol=1e-12) for g, r in zip(got, want, strict=True))
    # The rows the single-channel mask empties are never read: the unmasked weight gives the
    # same answer as long as only those rows differ.
    empty = (mask.sum(dim=-1, keepdim=True) == 0).expand_as(raw)
    noisy = torch.where(empty, 5.0 + raw.detach(), raw.detach() * mask)
    assert torch.allclose(conv_kept_rows(a, noisy, b, kind), ref, atol=1e-12)
    assert not torch.allclose(F.conv2d(a, noisy, b, padding=kernel // 2), ref, atol=1e-3)


@pytest.mark.parametrize("kernel", [3, 5])
def test_conv_to_channel_is_a_convolution(kernel):
    a, w, b = _leaf(2, 4, 5, 7), _leaf(1, 4, kernel, kernel), _leaf(1)
    out = conv_to_channel(pixel_rows(a), w, b, (5, 7))
    ref = F.conv2d(a, w, b, padding=kernel // 2)
    assert out.shape == (2, 1, 5, 7) and torch.allclose(out, ref, atol=1e-12)
    got, want = _grads(out, [a, w, b]), _grads(ref, [a, w, b])
    assert all(torch.allclose(g, r, atol=1e-12) for g, r in zip(got, want, strict=True))


def test_pixel_rows_is_a_view_of_channels_last_memory():
    a = torch.randn(2, 3, 4, 5).contiguous(memory_format=CL)
    rows = pixel_rows(a)
    assert rows.shape == (40, 3) and rows.data_ptr() == a.data_ptr()
    assert torch.equal(rows[7], a[0, :, 1, 2])  # row n = (b*H + h)*W + w
    assert torch.equal(pixel_rows(a.contiguous()), rows)  # a copy, same values


@pytest.mark.parametrize("channels, kernel", [(2, 3), (3, 3), (4, 5)])
def test_few_channel_convolutions_are_convolutions(channels, kernel):
    c, kc, pad = channels, 3 * channels, kernel // 2
    x, w1, b1 = _leaf(2, c, 5, 7), _leaf(kc, c, kernel, kernel), _leaf(kc)
    a, w3, b3 = _leaf(2, kc, 5, 7), _leaf(c, kc, kernel, kernel), _leaf(c)
    for got, ref, inputs in (
        (conv_from_few_channels(x, w1, b1), F.conv2d(x, w1, b1, padding=pad), [x, w1, b1]),
        (conv_to_few_channels(a, w3, b3), F.conv2d(a, w3, b3, padding=pad), [a, w3, b3]),
    ):
        assert got.shape == ref.shape and torch.allclose(got, ref, atol=1e-12)
        pairs = zip(_grads(got, inputs), _grads(ref, inputs), strict=True)
        assert all(torch.allclose(g, r, atol=1e-12) for g, r in pairs)
