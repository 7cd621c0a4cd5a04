"""Settings, devices, output paths and data are refused in one line before anything runs."""

import urllib.error
import zipfile

import numpy as np
import pytest
import torch
from PIL import Image

from pyronas.api import search
from pyronas.data import DataError, load_dataset
from pyronas.registry import METHODS
from pyronas.validate import check_device, check_out_dir

TINY = dict(dataset="digits", channels=4, cells_per_stage=1, batch_size=32, progress=False, epochs=1)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"prior_concentration": "abc"}, "prior_concentration='abc' is not valid for drnas: it must be a number"),
        ({"init_scale": True}, "init_scale=True is not valid for drnas: it must be a number"),
        ({"kl_weight": [1]}, r"kl_weight=\[1\] is not valid for drnas: it must be a number"),
        ({"nonsense": 1}, "has no option 'nonsense'; its options: prior_concentration=1.0, kl_weight=0.0"),
    ],
)
def test_method_options_are_checked_against_the_constructors_signatures(options, message):
    with pytest.raises(ValueError, match=message) as error:
        METHODS["drnas"].check_options(options)
    assert "\n" not in str(error.value)
    converted = METHODS["drnas"].check_options({"prior_concentration": 2, "init_scale": "0.5"})
    assert converted == {"prior_concentration": 2.0, "init_scale": 0.5}  # an int or a JSON text becomes the float
    assert isinstance(converted["prior_concentration"], float)


@pytest.mark.parametrize(
    "method, option, bad, message",
    [("drnas", "prior_concentration", -1, "> 0"), ("drnas", "prior_concentration", 0, "> 0"),
     ("balenas", "kl_weight", -0.1, ">= 0"), ("bayesnas", "init_variance", 0.0, "> 0"),
     ("pgnas", "init_drop", 1.5, "between 0 and 1"), ("pgnas", "temperature", -0.2, "> 0")],
)  # fmt: skip
def test_method_options_out_of_their_declared_range_are_refused(method, option, bad, message):
    spec = METHODS[method]
    assert spec.option_bounds[option] and option in spec.options()  # the bound is declared for a real option
    with pytest.raises(ValueError, match=f"{option}={float(bad)!r} is not valid for {method}: it must be {message}"):
        spec.check_options({option: bad})
    assert spec.check_options({option: spec.options()[option]})  # the default is within its range


def test_every_declared_bound_names_an_option_of_its_method():
    for name, spec in METHODS.items():
        assert set(spec.option_bounds) <= set(spec.options()), name


def test_devices_that_this_machine_lacks_are_one_line_errors():
    with pytest.raises(ValueError, match="not a torch device"):
        check_device("tpu")
    check_device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="finds no cuda device on this machine; use --device cpu"):
            check_device("cuda")
    else:
        with pytest.raises(ValueError, match="does not exist"):
            check_device(f"cuda:{torch.cuda.device_count()}")


def test_output_paths_must_be_writable_folders(tmp_path, monkeypatch):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is a file, not a folder"):
        check_out_dir(tmp_path / "file")
    with pytest.raises(ValueError, match=f"lies below the file {tmp_path / 'file'}"):
        check_out_dir(tmp_path / "file" / "run")
    check_out_dir(tmp_path / "new" / "run")  # a missing folder is created later
    monkeypatch.setattr("pyronas.validate.os.access", lambda path, mode: False)  # as a non-root user would see it
    monkeypatch.setattr("pyronas.validate._read_only", lambda folder: True)
    with pytest.raises(ValueError, match="is on a read-only file system; choose another --out"):
        check_out_dir(tmp_path / "run")


def _image_folder(root, classes, per_class=20):
    rng = np.random.default_rng(0)
    for c in classes:
        (root / c).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def test_unreadable_images_and_a_single_class_are_named(tmp_path, monkeypatch):
    monkeypatch.setenv("PYRONAS_CACHE", str(tmp_path / "cache"))
    folder = _image_folder(tmp_path / "imgs", ["a", "b"])
    (folder / "a" / "broken.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="broken.jpg is not a readable image"):
        load_dataset("folder", folder)
    with pytest.raises(DataError, match="holds 1 class .*two or more"):
        load_dataset("folder", _image_folder(tmp_path / "one", ["only"]))

    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w", zipfile.ZIP_STORED) as z:
        for path in sorted(_image_folder(tmp_path / "z", ["a", "b"]).rglob("*.png")):
            z.write(path, "root/" + str(path.relative_to(tmp_path / "z")))
        info = z.getinfo("root/a/3.png")
    data = bytearray(good.read_bytes())
    start = info.header_offset + 30 + len(info.filename)
    data[start + 40 : start + 50] = bytes(10)  # damage the member's bytes: its CRC no longer matches
    (tmp_path / "bad.zip").write_bytes(bytes(data))
    with pytest.raises(DataError, match="member root/a/3.png is corrupt"):
        load_dataset("folder", tmp_path / "bad.zip")


def test_download_without_network_names_the_folder(tmp_path, monkeypatch):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -2] Name or service not known")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(DataError, match=f"put the extracted cifar-10-batches-py folder in {tmp_path} by hand"):
        load_dataset("cifar10", tmp_path, download=True)


def test_fewer_images_than_a_batch_is_refused(tmp_path):
    with pytest.raises(DataError, match="more than the 10 images of each half"):
        search("drnas", train_size=10, out_dir=tmp_path / "run", **TINY)
    assert not (tmp_path / "run").exists()
