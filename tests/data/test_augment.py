import torch
import torch.nn.functional as F

from mintnet.data import Augmentation


def test_hflip_mirrors_about_half_the_time():
    x = torch.arange(6.0).view(1, 2, 3)
    flip = Augmentation(["hflip"], crop_padding=0)
    outputs = [flip(x) for _ in range(200)]
    flipped = sum(torch.equal(y, x.flip(-1)) for y in outputs)
    assert all(torch.equal(y, x) or torch.equal(y, x.flip(-1)) for y in outputs)
    assert 60 < flipped < 140


def test_random_crop_is_a_window_of_the_zero_padded_image():
    x = torch.rand(3, 5, 4)
    crop = Augmentation(["random_crop"], crop_padding=2)
    padded = F.pad(x, (2, 2, 2, 2))
    windows = {(i, j): padded[:, i : i + 5, j : j + 4] for i in range(5) for j in range(5)}
    seen = set()
    for _ in range(300):
        y = crop(x)
        assert y.shape == x.shape
        match = [k for k, w in windows.items() if torch.equal(w, y)]
        assert match, "output is not a window of the padded image"
        seen.add(match[0])
    assert len(seen) == 25  # every offset in 0..2p is reachable
