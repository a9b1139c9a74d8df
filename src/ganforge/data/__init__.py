"""Datasets (8-bit images stay 8-bit: in memory, or read batch by batch from a file that
``ganforge prepare`` wrote), the resumable batch stream, and the data-vs-generator range check.

Names are imported on first use (see ``ganforge/_lazy.py``).
"""

from ganforge._lazy import lazy_exports

_EXPORTS = {
    "load_array": ".arrays", "Batches": ".batches", "Dataset": ".dataset",
    "load_dataset": ".sources", "load_fashion_mnist": ".fashion_mnist",
    "load_folder": ".folder", "read_idx": ".idx", "write_idx": ".idx", "grid25": ".mixtures",
    "ring8": ".mixtures", "DataRangeError": ".range_check", "OutputRange": ".range_check",
    "check_data_range": ".range_check", "generator_output_range": ".range_check",
    "Samples": ".samples", "PixelSamples": ".samples", "TensorSamples": ".samples",
    "load_prepared": ".prepared", "check_labels": ".labels", "class_counts": ".labels",
    "require_every_class": ".labels", "require_conditional": ".labels",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)
