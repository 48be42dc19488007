import pytest
import torch

from mintnet.data import CIFAR10DataModule, DigitsDataModule, MNISTDataModule
from mintnet.data.sampler import EpochShuffleSampler
from tests.data.checks import assert_on_grid
from tests.data.formats import write_mnist


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("batch_size", 0),
        ("batch_size", 2.5),
        ("num_workers", -1),
        ("seed", -3),
        ("val_fraction", 0.0),
        ("val_fraction", 1.0),
        ("val_fraction", "half"),
        ("crop_padding", -1),
    ],
)
def test_bad_arguments_name_the_key_and_value(key, value):
    with pytest.raises(ValueError, match=f"{key} must be .*got {value!r}"):
        CIFAR10DataModule("unused", **{key: value})


def test_unknown_augmentation_lists_the_valid_names():
    with pytest.raises(
        ValueError, match="augment: unknown name.*'rotate'.*'hflip', 'random_crop'"
    ):
        MNISTDataModule("unused", augment=["hflip", "rotate"])
    with pytest.raises(ValueError, match="augment must be a list"):
        MNISTDataModule("unused", augment="hflip")
    with pytest.raises(ValueError, match="crop_padding must be >= 1 with random_crop, got 0"):
        MNISTDataModule("unused", augment=["random_crop"], crop_padding=0)


def test_val_fraction_too_small_for_the_data_is_reported(tmp_path):
    write_mnist(tmp_path / "MNIST" / "raw", n_train=20)
    with pytest.raises(ValueError, match="val_fraction=0.01 of 20 images gives 0"):
        MNISTDataModule(str(tmp_path), val_fraction=0.01).setup()


def test_augmentation_touches_train_only(tmp_path):
    write_mnist(tmp_path / "MNIST" / "raw")
    plain = MNISTDataModule(str(tmp_path))
    augmented = MNISTDataModule(str(tmp_path), augment=["hflip", "random_crop"], crop_padding=2)
    plain.setup()
    augmented.setup()
    for split in ("val", "test"):
        for i in range(len(plain.datasets[split])):
            assert torch.equal(augmented.datasets[split][i][0], plain.datasets[split][i][0])
    changed = 0
    for _ in range(5):
        for i in range(len(plain.datasets["train"])):
            x, y = augmented.datasets["train"][i]
            assert y == plain.datasets["train"][i][1] and x.shape == (1, 28, 28)
            assert_on_grid(x, 256)
            changed += not torch.equal(x, plain.datasets["train"][i][0])
    assert changed > 50  # of 95 draws; unchanged needs no flip and the centre crop


def test_loaders_shuffle_train_only_and_workers_persist_only_when_present():
    dm = DigitsDataModule(batch_size=16, seed=5)
    train, val = dm.train_dataloader(), dm.val_dataloader()
    assert isinstance(train.sampler, EpochShuffleSampler) and train.sampler.seed == 5
    assert isinstance(val.sampler, torch.utils.data.SequentialSampler)
    assert train.batch_size == 16 and not train.persistent_workers
    workers = DigitsDataModule(num_workers=2).train_dataloader()
    assert workers.num_workers == 2 and workers.persistent_workers


def test_train_order_depends_only_on_seed_and_epoch():
    first, again = DigitsDataModule(seed=5), DigitsDataModule(seed=5)
    sampler = first.train_dataloader().sampler
    sampler.set_epoch(3)
    resumed = again.train_dataloader().sampler
    resumed.set_epoch(3)
    assert list(sampler) == list(resumed)  # a resumed run sees the same order
    sampler.set_epoch(4)
    order = list(sampler)
    assert order != list(resumed) and sorted(i for i, _ in order) == list(range(len(sampler)))
    seeds = [seed for _, seed in order]
    assert len(set(seeds)) == len(seeds)  # every sample augmented with its own random stream
    assert not set(seeds) & {seed for _, seed in resumed}  # and other streams in another epoch


def test_sampler_state_continues_the_epoch_where_it_stopped():
    sampler = EpochShuffleSampler(range(50), seed=2)
    sampler.set_epoch(7)
    whole = list(sampler)
    it = iter(sampler)
    head = [next(it) for _ in range(13)]
    state = sampler.state_dict()
    assert state == {"epoch": 7, "yielded": 13}

    restored = EpochShuffleSampler(range(50), seed=2)  # a new process: epoch 0 until restored
    restored.load_state_dict(state)
    assert head + list(restored) == whole
    assert list(restored) == whole  # only the first iteration after a restore is shortened


def test_ranks_share_the_epoch_order_and_split_it():
    ranks = [EpochShuffleSampler(range(11), seed=1, num_replicas=2, rank=r) for r in (0, 1)]
    for sampler in ranks:
        sampler.set_epoch(2)
    shards = [[i for i, _ in sampler] for sampler in ranks]
    assert len(shards[0]) == len(shards[1]) == 6  # padded to an equal count
    assert set(shards[0]) | set(shards[1]) == set(range(11))


@pytest.mark.parametrize("augment", [["hflip"], ["random_crop"]])
def test_augmented_batches_do_not_depend_on_worker_processes(augment):
    """Each sample's augmentation draws from its own seeded stream: the same batches with and
    without workers, and after a restore in the middle of an epoch."""
    batches = {}
    for workers in (0, 2):
        dm = DigitsDataModule(batch_size=32, seed=4, augment=augment, num_workers=workers)
        loader = dm.train_dataloader()
        loader.sampler.set_epoch(1)
        batches[workers] = [x for x, _ in loader]
    assert all(torch.equal(a, b) for a, b in zip(batches[0], batches[2], strict=True))

    dm = DigitsDataModule(batch_size=32, seed=4, augment=augment, num_workers=2)
    loader = dm.train_dataloader()
    loader.sampler.set_epoch(1)
    it = iter(loader)
    head = [next(it)[0] for _ in range(5)]
    state = loader.state_dict()
    fresh = DigitsDataModule(batch_size=32, seed=4, augment=augment, num_workers=2)
    resumed = fresh.train_dataloader()
    resumed.load_state_dict(state)
    tail = [x for x, _ in resumed]
    assert all(torch.equal(a, b) for a, b in zip(head + tail, batches[0], strict=True))


def test_setup_runs_once_and_repr_shows_the_settings():
    dm = DigitsDataModule()
    dm.setup("fit")
    first = dm.datasets["train"]
    dm.setup("test")
    assert dm.datasets["train"] is first
    assert "DigitsDataModule(" in repr(dm) and "batch_size=64" in repr(dm)
