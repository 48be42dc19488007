"""An image density model: dequantise, logit, then a MintNet, scored in bits per dimension."""

import torch
from torch import Tensor

from mintnet.nn.bits import bits_per_dim
from mintnet.nn.inverse import InverseSettings, InversionReport
from mintnet.nn.mintnet import MintNet, standard_normal_log_prob
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

    def log_prob(self, x: Tensor) -> Tensor:
        """``log p(y)`` in nats, shape ``(B,)``, for images ``x`` in ``[0, 1]`` of shape
        ``(B, C, H, W)`` (one uniform dequantisation sample each)."""
        y, _ = self.dequantize(x)
        v, logdet_logit = self.logit(y)
        z, logdet = self.net(v)
        return standard_normal_log_prob(z) + logdet + logdet_logit

    def forward(self, x: Tensor) -> Tensor:
        """Bits per dimension of each image, shape ``(B,)``: the training loss."""
        return bits_per_dim(self.log_prob(x), self.num_dims, self.dequantize.n_bins)

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
        n_bins = self.dequantize.n_bins
        return self.logit((torch.round(x * (n_bins - 1)) + 0.5) / n_bins)[0]

    def encode(self, x: Tensor) -> Tensor:
        """The latent ``z`` of images ``x``: ``net(centre_logits(x))``."""
        return self.net(self.centre_logits(x))[0]

    @torch.no_grad()
    def decode(
        self, z: Tensor, settings: InverseSettings | None = None
    ) -> tuple[Tensor, list[InversionReport]]:
        """Invert latents to images in ``[0, 1]`` (continuous, not quantised) and the reports."""
        v, reports = self.net.inverse_with_report(z, settings)
        return self.logit.inverse(v).clamp(0.0, 1.0), reports

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
