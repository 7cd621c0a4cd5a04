"""Data sets held in memory and batch iterators with on-device augmentation."""

from pyronas.data.batches import Batches, split_halves
from pyronas.data.cutout import cutout
from pyronas.data.datasets import (
    DATASETS,
    DataError,
    ImageData,
    find_test_split,
    load_dataset,
    load_digits,
    load_image_folder,
    load_test_split,
)

__all__ = [
    "DATASETS",
    "Batches",
    "DataError",
    "ImageData",
    "cutout",
    "find_test_split",
    "load_dataset",
    "load_digits",
    "load_image_folder",
    "load_test_split",
    "split_halves",
]
