import pytest
import torch

from mintnet.nn.masks import block_mask, diagonal_centre_mask, triangular_mask


def test_lower_mask_matches_hand_written_example():
    # C = 2, k = 3: channel 0 sees itself up to the centre; channel 1 sees all of channel 0.
    up_to_centre = torch.tensor([[1.0, 1, 1], [1, 1, 0], [0, 0, 0]])
    full, empty = torch.ones(3, 3), torch.zeros(3, 3)
    expected = torch.stack([torch.stack([up_to_centre, empty]), torch.stack([full, up_to_centre])])
    assert torch.equal(triangular_mask(3, 2, "lower"), expected)


def test_upper_mask_matches_hand_written_example():
    from_centre = torch.tensor([[0.0, 0, 0], [0, 1, 1], [1, 1, 1]])
    full, empty = torch.ones(3, 3), torch.zeros(3, 3)
    expected = torch.stack([torch.stack([from_centre, full]), torch.stack([empty, from_centre])])
    assert torch.equal(triangular_mask(3, 2, "upper"), expected)


@pytest.mark.parametrize("k", [1, 3, 5])
def test_upper_is_the_mirror_image_of_lower(k):
    lower = triangular_mask(k, 3, "lower")
    upper = triangular_mask(k, 3, "upper")
    assert torch.equal(upper, lower.flip(2, 3).transpose(0, 1))


def test_block_mask_tiles_the_channel_mask():
    mask = block_mask(3, 2, out_groups=3, in_groups=2, kind="lower")
    assert mask.shape == (6, 4, 3, 3)
    for i in range(3):
        for j in range(2):
            assert torch.equal(
                mask[2 * i : 2 * i + 2, 2 * j : 2 * j + 2], triangular_mask(3, 2, "lower")
            )


def test_diagonal_centre_mask_marks_exactly_the_diagonal_centre_taps():
    mask = diagonal_centre_mask(3, 2, 2, 2)
    expected = [[i * 2 + c, j * 2 + c, 1, 1] for i in range(2) for j in range(2) for c in range(2)]
    assert sorted(mask.nonzero().tolist()) == sorted(expected)


@pytest.mark.parametrize(
    "args, match",
    [((4, 2, "lower"), "odd"), ((3, 0, "lower"), "channels"), ((3, 2, "diagonal"), "kind")],
)
def test_bad_mask_arguments_are_refused(args, match):
    with pytest.raises(ValueError, match=match):
        triangular_mask(*args)
