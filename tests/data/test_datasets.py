import hashlib
import io
import pickle
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from pyronas.data import DataError, load_dataset, load_digits, load_image_folder, load_test_split, split_halves


def _write_images(root, classes=("cat", "dog"), per_class=3, size=6):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(root / c / f"{i}.png")


def test_digits_is_embedded():
    data = load_digits()
    assert data.images.shape == (1797, 1, 8, 8) and data.images.dtype == torch.uint8
    assert data.num_classes == 10 and int(data.images.max()) == 255
    assert not data.flip


def test_image_folder_and_zip_agree(tmp_path, monkeypatch):
    monkeypatch.setenv("PYRONAS_CACHE", str(tmp_path / "cache"))
    _write_images(tmp_path / "imgs" / "train")
    folder = load_image_folder(tmp_path / "imgs" / "train")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for p in sorted((tmp_path / "imgs").rglob("*.png")):
            z.write(p, p.relative_to(tmp_path / "imgs"))
    (tmp_path / "imgs.zip").write_bytes(buffer.getvalue())
    zipped = load_image_folder(tmp_path / "imgs.zip")
    assert folder.classes == zipped.classes == ["cat", "dog"]
    assert torch.equal(folder.images, zipped.images) and torch.equal(folder.labels, zipped.labels)
    assert list((tmp_path / "cache").glob("*.pt")), "decoded images are cached"
    again = load_image_folder(tmp_path / "imgs.zip")
    assert torch.equal(again.images, zipped.images)


def test_shared_cifar10_zip(cifar10_test_zip):
    data = load_image_folder(cifar10_test_zip)
    assert data.images.shape == (10_000, 3, 32, 32)
    assert data.classes[:2] == ["airplane", "automobile"] and data.num_classes == 10
    assert torch.bincount(data.labels).tolist() == [1000] * 10


def test_missing_data_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("folder", tmp_path / "nowhere")
    with pytest.raises(DataError, match="needs --data-dir"):
        load_dataset("folder")
    with pytest.raises(DataError, match="pass --download"):
        load_dataset("cifar10", tmp_path)
    with pytest.raises(DataError, match="unknown dataset"):
        load_dataset("mnist")
    (tmp_path / "broken.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="cannot open"):
        load_image_folder(tmp_path / "broken.zip", cache=False)


def test_split_halves_is_disjoint_and_fixed():
    data = load_digits()
    a, b = split_halves(data)
    a2, _ = split_halves(data)
    assert len(a) == len(b) == len(data) // 2
    assert torch.equal(a.images, a2.images)
    small, _ = split_halves(data, size=100)
    assert len(small) == 100 and torch.equal(small.images, a.images[:100])


def _write_cifar10(root, monkeypatch) -> dict[str, np.ndarray]:
    """A tiny CIFAR-10 in torchvision's extracted layout (``cifar-10-batches-py``), checksums registered."""
    from torchvision.datasets import CIFAR10

    folder = root / CIFAR10.base_folder
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    rows = {}

    def write(name, record) -> list[str]:
        path = folder / name
        path.write_bytes(pickle.dumps(record))
        return [name, hashlib.md5(path.read_bytes()).hexdigest()]

    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    listed = []
    for name in names:
        data = rng.integers(0, 256, (2, 3 * 32 * 32), dtype=np.uint8)  # rows: 1024 red, 1024 green, 1024 blue
        labels = rng.integers(0, 10, 2).tolist()
        rows[name] = (data, labels)
        listed.append(write(name, {"data": data, "labels": labels}))
    classes = [f"class{i}" for i in range(10)]
    _, meta_md5 = write("batches.meta", {"label_names": classes})
    monkeypatch.setattr(CIFAR10, "train_list", listed[:5])
    monkeypatch.setattr(CIFAR10, "test_list", listed[5:])
    monkeypatch.setattr(CIFAR10, "meta", dict(CIFAR10.meta, md5=meta_md5))
    return rows


def test_cifar10_from_torchvisions_layout(tmp_path, monkeypatch):
    """The offline half of the torchvision path: an extracted CIFAR-10 folder is read as NCHW uint8."""
    rows = _write_cifar10(tmp_path, monkeypatch)
    train = load_dataset("cifar10", tmp_path)
    expected = np.concatenate([rows[f"data_batch_{i}"][0] for i in range(1, 6)]).reshape(-1, 3, 32, 32)
    assert train.images.dtype == torch.uint8 and train.images.shape == (10, 3, 32, 32)
    assert torch.equal(train.images, torch.from_numpy(expected))
    assert train.labels.tolist() == sum((rows[f"data_batch_{i}"][1] for i in range(1, 6)), [])
    assert train.num_classes == 10 and train.classes[3] == "class3" and train.flip
    test = load_test_split("cifar10", tmp_path)
    assert torch.equal(test.images, torch.from_numpy(rows["test_batch"][0].reshape(-1, 3, 32, 32)))


def test_image_size_resamples_embedded_data():
    data = load_dataset("digits", image_size=16)
    assert data.images.shape[1:] == (1, 16, 16) and data.images.dtype == torch.uint8
    original = load_dataset("digits")
    # a flat image stays flat; the mean grey level is kept up to rounding
    assert abs(float(data.images.float().mean()) - float(original.images.float().mean())) < 1.0
    assert load_dataset("digits", image_size=8).images.equal(original.images)
    with pytest.raises(DataError, match="image size"):
        load_dataset("digits", image_size=0)
