"""Datasets in memory, the resumable batch stream, and the data-vs-generator range check."""

from ganforge.data.arrays import load_array
from ganforge.data.batches import Batches
from ganforge.data.dataset import Dataset, load_dataset
from ganforge.data.fashion_mnist import load_fashion_mnist
from ganforge.data.folder import load_folder
from ganforge.data.idx import read_idx, write_idx
from ganforge.data.mixtures import grid25, ring8
from ganforge.data.range_check import (
    DataRangeError,
    OutputRange,
    check_data_range,
    generator_output_range,
)

__all__ = [
    "Batches",
    "DataRangeError",
    "Dataset",
    "OutputRange",
    "check_data_range",
    "generator_output_range",
    "grid25",
    "load_array",
    "load_dataset",
    "load_fashion_mnist",
    "load_folder",
    "read_idx",
    "ring8",
    "write_idx",
]
