import pytest
import torch

from pyronas.data import Batches, ImageData, load_digits


def _data(n=40, size=8, flip=True):
    images = torch.arange(n * 3 * size * size, dtype=torch.int64).remainder(256).to(torch.uint8)
    return ImageData(images.view(n, 3, size, size), torch.arange(n) % 4, ["a", "b", "c", "d"], "toy", flip)


def test_epoch_order_depends_only_on_seed_and_epoch():
    a, b = Batches(_data(), 8, seed=3), Batches(_data(), 8, seed=3)
    a.set_epoch(5)
    b.set_epoch(5)
    for (xa, ya), (xb, yb) in zip(a, b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    a.set_epoch(6)
    b.set_epoch(5)
    assert not torch.equal(torch.cat([y for _, y in a]), torch.cat([y for _, y in b]))
    assert len(a) == 5


def test_no_augmentation_gives_normalised_images():
    data = _data()
    batches = Batches(data, 40, augment=False)
    x, y = next(iter(batches))
    assert torch.allclose(x.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5)
    assert x.shape == (40, 3, 8, 8)


def test_crop_shifts_within_padding_and_flip_mirrors():
    data = _data(n=16, flip=False)
    batches = Batches(data, 16, pad=1, mean=torch.zeros(3), std=torch.ones(3))
    base = data.images.float() / 255
    out = batches._crop(base)
    for img, crop in zip(base, out):
        padded = torch.nn.functional.pad(img, (1, 1, 1, 1))
        hits = [
            (dy, dx) for dy in range(3) for dx in range(3) if torch.equal(padded[:, dy : dy + 8, dx : dx + 8], crop)
        ]
        assert hits, "every crop is a shifted window of the zero-padded image"


def test_digits_are_never_flipped():
    batches = Batches(load_digits(), 64, pad=0)
    assert not batches.flip
    x, _ = next(iter(batches))
    assert x.shape == (64, 1, 8, 8)


@pytest.mark.parametrize("draw", ["random", "random-replace"])
def test_random_validation_batches_are_fresh_draws_fixed_by_seed_and_epoch(draw):
    a, b = Batches(_data(), 8, seed=3, draw=draw), Batches(_data(), 8, seed=3, draw=draw)
    a.set_epoch(2)
    b.set_epoch(2)
    first, second = list(a), list(b)
    assert len(first) == len(a) == 5  # an epoch has as many batches as one pass would
    for (xa, ya), (xb, yb) in zip(first, second):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    labels = [y for _, y in first]
    a.set_epoch(3)
    assert not all(torch.equal(y, z) for y, z in zip(labels, (y for _, y in a)))


def test_random_batches_hold_distinct_images_and_may_repeat_across_batches():
    data = _data(n=16, flip=False)
    data = ImageData(data.images, torch.arange(16), [str(i) for i in range(16)], "toy", False)  # label = index
    seen = []
    for epoch in range(4):
        batches = Batches(data, 8, augment=False, draw="random")
        batches.set_epoch(epoch)
        for _, y in batches:
            assert len(set(y.tolist())) == 8
            seen.append(frozenset(y.tolist()))
    one_pass = Batches(data, 8, augment=False)
    assert sorted(torch.cat([y for _, y in one_pass]).tolist()) == list(range(16))  # a pass covers every image
    assert len(seen) > len(set(seen)) or any(a & b for a, b in zip(seen[::2], seen[1::2]))  # draws overlap


def test_random_batches_shard_one_global_draw():
    whole = Batches(_data(), 8, seed=1, draw="random")
    shards = [Batches(_data(), 8, seed=1, draw="random", rank=r, world_size=2) for r in range(2)]
    for (x, y), *parts in zip(whole, *shards):
        assert torch.equal(torch.cat([p[1] for p in parts]), y)
        assert torch.equal(torch.cat([p[0] for p in parts]), x)


def test_unknown_draw_is_refused():
    with pytest.raises(ValueError, match="unknown draw"):
        Batches(_data(), 8, draw="sometimes")
