"""Data sets held in memory and batch iterators with on-device augmentation."""

from pyronas.data.batches import Batches, split_halves
from pyronas.data.datasets import DATASETS, DataError, ImageData, load_dataset, load_digits, load_image_folder

__all__ = [
    "DATASETS",
    "Batches",
    "DataError",
    "ImageData",
    "load_dataset",
    "load_digits",
    "load_image_folder",
    "split_halves",
]
