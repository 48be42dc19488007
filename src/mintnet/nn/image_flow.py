"""An image density model: dequantise, logit, then a MintNet, scored in bits per dimension."""

import math

import torch
from torch import Tensor

from mintnet.nn.bits import bits_per_dim
from mintnet.nn.inverse import InverseSettings, InversionReport
from mintnet.nn.mintnet import MintNet
from mintnet.nn.noise import dequantisation_noise
from mintnet.nn.preprocess import Dequantize, Logit

__all__ = ["ImageFlow"]


class ImageFlow(torch.nn.Module):
    r"""``x -> y = dequantise(x) -> v = logit(y) -> z = MintNet(v)``, with a standard normal prior.

    .. math:: \log p(y) = \log \mathcal{N}(z; 0, I) + \log|\det J_f(v)| + \log|\det \partial v/\partial y|

    Arguments:
        net: the MintNet ``f``.
        n_bins: grey levels of the images (256 for 8-bit, 17 for scikit-learn's digits).
        logit_lam: ``lambda`` of the logit (paper: 1e-6 for MNIST, 0.05 for CIFAR-10/ImageNet32).
    """

    def __init__(self, net: MintNet, n_bins: int = 256, logit_lam: float = 0.05) -> None:
        super().__init__()
        self.net = net
        self.dequantize = Dequantize(n_bins)
        self.logit = Logit(logit_lam)

    @property
    def num_dims(self) -> int:
        c, h, w = self.net.in_shape
        return c * h * w

    @property
    def n_bins(self) -> int:
        """Grey levels of the images (those of :attr:`dequantize`)."""
        return self.dequantize.n_bins

    def log_prob(self, x: Tensor, noise: Tensor | None = None) -> Tensor:
        """``log p(y)`` in nats, shape ``(B,)``, for images ``x`` in ``[0, 1]`` of shape
        ``(B, C, H, W)`` and ``y = (k + u) / n_bins``: one uniform dequantisation sample ``u``
        each, ``noise`` (shape of ``x``, in ``[0, 1)``) if given, else drawn from the global RNG."""
        y, _ = self.dequantize(x, noise)
        v, logdet_logit = self.logit(y)
        return self.net.log_prob(v) + logdet_logit

    def forward(self, x: Tensor) -> Tensor:
        """Bits per dimension of each image, shape ``(B,)``, with fresh noise: the training loss."""
        return bits_per_dim(self.log_prob(x), self.num_dims, self.n_bins)

    def bits_per_dim(self, x: Tensor, samples: int = 1, seed: int | None = None) -> Tensor:
        r"""Bits per dimension of each image ``x`` ``(B, C, H, W)``, shape ``(B,)``, estimated
        with ``K = samples`` dequantisation draws ``u_k`` (importance weighting):

        .. math:: \mathrm{bpd}_K = -\frac{\operatorname{logsumexp}_k \log p(y_k) - \log K}
            {D \ln 2} + \log_2 n_\mathrm{bins}, \qquad y_k = (k_x + u_k) / n_\mathrm{bins}

        ``K = 1`` is the usual single-sample estimate; larger ``K`` gives a tighter upper bound on
        the discrete model's bits/dim (never above the mean of the ``K`` single-sample values, by
        Jensen's inequality), at the cost of ``K`` forward passes. ``seed=None`` draws the noise
        from the global random state; an int makes the result a function of the images, the
        weights and ``(samples, seed)``: the same in any batch, on any DDP rank
        (:func:`mintnet.nn.noise.dequantisation_noise`).
        """
        noise = dequantisation_noise(x, self.n_bins, samples, seed)  # (K, B, C, H, W)
        log_p = torch.stack([self.log_prob(x, u) for u in noise])  # (K, B)
        estimate = torch.logsumexp(log_p, dim=0) - math.log(samples)
        return bits_per_dim(estimate, self.num_dims, self.n_bins)

    def centre_logits(self, x: Tensor) -> Tensor:
        r"""The network input ``v`` for images on the grey-level grid, without dequantisation noise:

        .. math:: v = \mathrm{logit}\Big(\frac{\mathrm{round}(x\,(n_\mathrm{bins} - 1)) + 1/2}{n_\mathrm{bins}}\Big)

        the centre of each grey level's bin; ``x`` and ``v`` are ``(B, C, H, W)``.
        """
        if x.dim() != 4 or tuple(x.shape[1:]) != self.net.in_shape:
            shape = ", ".join(map(str, self.net.in_shape))
            raise ValueError(f"images must be (B, {shape}), got {tuple(x.shape)}")
        lo, hi = float(x.min()), float(x.max())
        if not (0.0 <= lo and hi <= 1.0):
            raise ValueError(f"images must lie in [0, 1], got the range [{lo:.4g}, {hi:.4g}]")
        n_bins = self.n_bins
        return self.logit((torch.round(x * (n_bins - 1)) + 0.5) / n_bins)[0]

    def encode(self, x: Tensor) -> Tensor:
        """The latent ``z`` of images ``x``: ``net(centre_logits(x))``."""
        return self.net(self.centre_logits(x))[0]

    @torch.no_grad()
    def decode(
        self, z: Tensor, settings: InverseSettings | None = None
    ) -> tuple[Tensor, list[InversionReport]]:
        """Invert latents to the dequantised images ``y`` in ``[0, 1]`` (continuous: the centre of
        a grey level's bin for ``z = encode(x)``; :meth:`quantize` maps them to the grid) and the
        inversion reports."""
        v, reports = self.net.inverse_with_report(z, settings)
        return self.logit.inverse(v).clamp(0.0, 1.0), reports

    def quantize(self, y: Tensor) -> Tensor:
        r"""Dequantised images ``y`` in ``[0, 1]`` to the grey-level grid, same shape:

        .. math:: x = \min\big(\lfloor y\, n_\mathrm{bins} \rfloor, n_\mathrm{bins} - 1\big)
            / (n_\mathrm{bins} - 1)

        the inverse of :attr:`dequantize`: ``quantize(decode(encode(x))) == x`` while the
        inversion error stays below half a bin, ``1 / (2 n_bins)``.
        """
        return self.dequantize.inverse(y)

    @torch.no_grad()
    def reconstruct(
        self, x: Tensor, settings: InverseSettings | None = None
    ) -> tuple[Tensor, list[InversionReport]]:
        """``quantize(decode(encode(x)))``: images ``(B, C, H, W)`` on the grid, equal to ``x``
        for images on the grid when the inversion converges, and the inversion reports."""
        y, reports = self.decode(self.encode(x), settings)
        return self.quantize(y), reports

    @torch.no_grad()
    def sample(
        self, n: int, temperature: float = 1.0, settings: InverseSettings | None = None
    ) -> tuple[Tensor, list[InversionReport]]:
        """``n`` images decoded from ``z ~ N(0, temperature^2 I)``, shape ``(n, C, H, W)``."""
        ref = next(self.parameters())
        z = temperature * torch.randn(
            n, *self.net.latent_shape, dtype=ref.dtype, device=ref.device
        )
        return self.decode(z, settings)
