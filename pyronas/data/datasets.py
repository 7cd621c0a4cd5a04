"""Image classification data held in memory as uint8 tensors.

Sources: scikit-learn's digits (embedded, no download), CIFAR-10/100 through torchvision,
and any torchvision ``ImageFolder`` directory or a zip of one.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import urllib.error
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from pyronas.names import DATASETS

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp")


class DataError(RuntimeError):
    """A data set that cannot be found or read."""


@dataclass
class ImageData:
    """Images ``uint8 [N, C, H, W]`` and labels ``int64 [N]`` of one data set split."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str]
    name: str
    flip: bool = True  # whether horizontal flips preserve the label (not for digits)

    def __post_init__(self):
        if self.images.dtype != torch.uint8 or self.images.dim() != 4:
            raise DataError(
                f"{self.name}: images must be uint8 [N, C, H, W], got {self.images.dtype} {list(self.images.shape)}"
            )
        if len(self.images) != len(self.labels):
            raise DataError(f"{self.name}: {len(self.images)} images but {len(self.labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return self.images.shape[1]

    def subset(self, index: torch.Tensor) -> ImageData:
        """The images at ``index`` (a 1-d index tensor)."""
        return ImageData(self.images[index], self.labels[index], self.classes, self.name, self.flip)

    def resized(self, size: int) -> ImageData:
        """The images resampled to ``size x size`` (bilinear, antialiased when shrinking); ``self`` if already so."""
        if self.images.shape[-2:] == (size, size):
            return self
        images = torch.nn.functional.interpolate(
            self.images.float(), size=(size, size), mode="bilinear", antialias=True, align_corners=False
        )
        return ImageData(images.round().clamp(0, 255).to(torch.uint8), self.labels, self.classes, self.name, self.flip)


def load_digits() -> ImageData:
    """scikit-learn's 1,797 handwritten digits, 8x8 grey levels scaled to 0..255 (embedded data)."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    images = torch.from_numpy(np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8))[:, None]
    return ImageData(
        images,
        torch.from_numpy(bunch.target.astype(np.int64)),
        [str(c) for c in bunch.target_names],
        "digits",
        flip=False,
    )


def load_cifar(name: str, root: str | os.PathLike, *, train: bool = True, download: bool = False) -> ImageData:
    """CIFAR-10 or CIFAR-100 through torchvision (``download=True`` fetches it into ``root``)."""
    from torchvision import datasets

    cls = {"cifar10": datasets.CIFAR10, "cifar100": datasets.CIFAR100}[name]
    try:
        ds = cls(root=str(root), train=train, download=download)
    except (urllib.error.URLError, OSError) as e:  # no network (URLError is an OSError), or a folder not writable
        reason = getattr(e, "reason", None) or e.strerror or e
        raise DataError(
            f"cannot download {name} into {root} ({reason}); without a network, put the extracted "
            f"{'cifar-10-batches-py' if name == 'cifar10' else 'cifar-100-python'} folder in {root} by hand "
            "and drop --download"
        ) from None
    except RuntimeError as e:
        raise DataError(
            f"{name} not found in {root} ({e}); pass --download to fetch it, "
            "or --data-dir pointing at the extracted cifar-*-batches-py folder's parent"
        ) from None
    images = torch.from_numpy(np.ascontiguousarray(ds.data.transpose(0, 3, 1, 2)))
    return ImageData(images, torch.as_tensor(ds.targets, dtype=torch.int64), list(ds.classes), name)


def _cache_dir() -> Path:
    return Path(os.environ.get("PYRONAS_CACHE", Path.home() / ".cache" / "pyronas"))


def _decode(data: bytes | str | Path, image_size: int | None, name: str) -> np.ndarray:
    """One image as ``uint8 [H, W, 3]``; ``DataError`` naming ``name`` if it cannot be decoded."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as img:
            img = img.convert("RGB")
            if image_size is not None and img.size != (image_size, image_size):
                img = img.resize((image_size, image_size), Image.BILINEAR)
            return np.asarray(img, dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as e:  # PIL's UnidentifiedImageError is an OSError
        raise DataError(f"{name} is not a readable image ({type(e).__name__}); remove or replace it") from None


def _read_member(archive: zipfile.ZipFile, path: Path, member: str) -> bytes:
    try:
        return archive.read(member)
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as e:
        raise DataError(f"{path}: member {member} is corrupt ({e}); re-create the zip") from None


def _two_classes(classes: list[str], source: str | Path) -> None:
    if len(classes) < 2:
        raise DataError(
            f"{source} holds {len(classes)} class ({', '.join(classes)}); a classifier needs two or more class folders"
        )


def _stack(arrays: list[np.ndarray], source: str) -> torch.Tensor:
    shapes = {a.shape for a in arrays}
    if len(shapes) != 1:
        raise DataError(f"images in {source} differ in size ({sorted(shapes)[:3]}...); pass --image-size N")
    return torch.from_numpy(np.stack(arrays).transpose(0, 3, 1, 2).copy())


def _read_zip(path: Path, image_size: int | None) -> ImageData:
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise DataError(f"cannot open {path} as a zip of an ImageFolder: {e}") from None
    with archive:
        members = sorted(n for n in archive.namelist() if n.lower().endswith(IMAGE_EXTENSIONS))
        if not members:
            raise DataError(f"{path} holds no images; expected <root>/<class>/<image> entries")
        classes = sorted({Path(n).parent.name for n in members})
        _two_classes(classes, path)
        index = {c: i for i, c in enumerate(classes)}
        arrays = [_decode(_read_member(archive, path, n), image_size, f"{path}: {n}") for n in members]
        labels = [index[Path(n).parent.name] for n in members]
    return ImageData(_stack(arrays, str(path)), torch.tensor(labels), classes, path.stem)


def _read_folder(path: Path, image_size: int | None) -> ImageData:
    from torchvision.datasets import ImageFolder

    try:
        folder = ImageFolder(str(path), loader=lambda p: p)
    except (FileNotFoundError, OSError) as e:
        raise DataError(f"{path} is not an ImageFolder (<root>/<class>/<image>): {e}") from None
    _two_classes(list(folder.classes), path)
    arrays = [_decode(p, image_size, p) for p, _ in folder.samples]
    return ImageData(_stack(arrays, str(path)), torch.tensor(folder.targets), list(folder.classes), path.name)


def load_image_folder(path: str | os.PathLike, *, image_size: int | None = None, cache: bool = True) -> ImageData:
    """An ``ImageFolder`` directory or a zip of one, decoded once and cached under ``$PYRONAS_CACHE``.

    The cache (default ``~/.cache/pyronas``) is keyed by the absolute path, size and mtime.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"data folder {path} does not exist; pass --data-dir with an ImageFolder folder or zip")
    stat = path.stat()
    key = hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{image_size}".encode()).hexdigest()[:16]
    cached = _cache_dir() / f"{path.name}-{key}.pt"
    if cache and cached.is_file():
        try:
            blob = torch.load(cached, weights_only=True)
            return ImageData(blob["images"], blob["labels"], list(blob["classes"]), blob["name"])
        except Exception:  # a damaged cache entry is rebuilt below
            cached.unlink(missing_ok=True)
    data = _read_zip(path, image_size) if path.is_file() else _read_folder(path, image_size)
    if cache:  # best effort: a cache that cannot be written (a full or read-only disk) is skipped
        tmp = cached.with_suffix(f".tmp{os.getpid()}")
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            torch.save({"images": data.images, "labels": data.labels, "classes": data.classes, "name": data.name}, tmp)
            os.replace(tmp, cached)
        except (OSError, RuntimeError):
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
    return data


def load_dataset(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    train: bool = True,
    download: bool = False,
    image_size: int | None = None,
) -> ImageData:
    """Load a data set by name: ``digits``, ``cifar10``, ``cifar100`` or ``folder``.

    ``image_size`` resamples every image to ``image_size x image_size`` (a folder's when decoding, once, cached).
    """
    if image_size is not None and image_size < 1:
        raise DataError(f"image size must be >= 1 pixel, got {image_size}")
    if name == "digits":
        data = load_digits()
        return data if image_size is None else data.resized(image_size)
    if name in ("cifar10", "cifar100"):
        root = data_dir if data_dir is not None else Path.home() / ".cache" / "pyronas" / "torchvision"
        data = load_cifar(name, root, train=train, download=download)
        return data if image_size is None else data.resized(image_size)
    if name == "folder":
        if data_dir is None:
            raise DataError("--dataset folder needs --data-dir: an ImageFolder folder or a zip of one")
        if not train:
            test = find_test_split(data_dir)
            if test is None:
                raise DataError(f"no test split beside {data_dir}: expected its name with 'train' replaced by 'test'")
            data_dir = test
        return load_image_folder(data_dir, image_size=image_size)
    raise DataError(f"unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}")


def find_test_split(train_path: str | os.PathLike) -> Path | None:
    """The test split beside a folder data set's training split, or ``None`` if there is none.

    The last path component with ``train`` replaced by ``test``: ``cifar10-train-jpeg.zip`` ->
    ``cifar10-test-jpeg.zip``, ``.../train/`` -> ``.../test/``.
    """
    path = Path(train_path).expanduser()
    if "train" not in path.name:
        return None
    candidate = path.with_name(path.name.replace("train", "test"))
    return candidate if candidate.exists() else None


def load_test_split(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    download: bool = False,
    image_size: int | None = None,
) -> ImageData | None:
    """The test split of a data set, or ``None`` when it has none (``digits``; a folder without a sibling).

    CIFAR's test split comes from the same torchvision root; a folder's from :func:`find_test_split`.
    """
    if name == "digits" or (name == "folder" and (data_dir is None or find_test_split(data_dir) is None)):
        return None
    return load_dataset(name, data_dir, train=False, download=download, image_size=image_size)
