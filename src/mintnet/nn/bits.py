"""Bits per dimension, the density model's score."""

import math

from torch import Tensor

__all__ = ["bits_per_dim"]


def bits_per_dim(log_prob: Tensor, num_dims: int, n_bins: int = 256) -> Tensor:
    r"""Convert a continuous log-density of dequantised images into bits per dimension.

    .. math::
        \mathrm{bpd} = \frac{-\log p(y)}{D \ln 2} + \log_2 n_\mathrm{bins}, \qquad
        \log p(y) = \log \mathcal{N}(z; 0, I) + \log|\det J_f(v)| + \log|\det \partial v/\partial y|

    where ``y in [0, 1]^D`` is the dequantised image, ``v = logit(y)`` and ``z = f(v)``. The last
    term of ``log p(y)`` is the logit's log-determinant (:class:`mintnet.nn.Logit`); the
    ``log2(n_bins)`` term turns the density on ``[0, 1]^D`` into the probability of the image on its
    ``n_bins`` grey levels (for 8-bit images, the paper's ``+ 8``). With one uniform dequantisation
    sample this is an upper bound on the discrete model's bits per dimension.

    Arguments:
        log_prob: ``log p(y)`` in nats, any shape (typically ``(B,)``).
        num_dims: ``D``, the number of dimensions of one image (``C * H * W``).
        n_bins: grey levels of the data.

    Returns:
        Bits per dimension, shaped like ``log_prob``.
    """
    if num_dims < 1 or n_bins < 2:
        raise ValueError(f"need num_dims >= 1 and n_bins >= 2, got {num_dims} and {n_bins}")
    return -log_prob / (num_dims * math.log(2.0)) + math.log2(n_bins)
