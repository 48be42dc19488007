"""A tiny MintNet density model trained briefly on scikit-learn's 8x8 digits."""

import contextlib
from collections.abc import Iterator

import torch
from sklearn.datasets import load_digits
from torch import Tensor

from mintnet.nn import ImageFlow, MintNet

DIGIT_BINS = 17  # grey levels 0..16


@contextlib.contextmanager
def single_thread() -> Iterator[None]:
    """Run torch on one intra-op thread inside the block, then restore the previous count."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def digits() -> Tensor:
    """All 1797 digits as float32 ``(N, 1, 8, 8)`` on the grid ``k / 16``."""
    return torch.tensor(load_digits().images / 16.0, dtype=torch.float32)[:, None]


def tiny_flow() -> ImageFlow:
    """Two lower/upper pairs around one squeeze, K = 2: 4 Mint layers."""
    net = MintNet((1, 8, 8), n_layers=2, n_squeezes=1, hidden_groups=2)
    return ImageFlow(net, n_bins=DIGIT_BINS, logit_lam=0.05)


def trained_tiny_flow(steps: int = 40, seed: int = 0) -> ImageFlow:
    """``tiny_flow`` after ``steps`` Adam steps (lr 1e-2, batches of 64) on the digits, eval mode."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        data = digits()
        flow = tiny_flow()
        optimizer = torch.optim.Adam(flow.parameters(), lr=1e-2)
        for _ in range(steps):
            loss = flow(data[torch.randint(0, len(data), (64,))]).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    return flow.eval()
