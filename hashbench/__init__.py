"""hashbench: one harness to train, time and score cross-modal hashing methods."""

__version__ = "0.1.0"

from hashbench import moved
from hashbench.data import CrossModalDataset, DatasetCard, TrainView
from hashbench.errors import UsageError
from hashbench.method import HashMethod, Reference, sign_bits
from hashbench.registry import register_dataset, register_method

moved.install()  # hashbench.runner, hashbench.metrics, ... of the flat 0.1 layout still import

__all__ = [
    "CrossModalDataset",
    "DatasetCard",
    "HashMethod",
    "Reference",
    "TrainView",
    "UsageError",
    "__version__",
    "register_dataset",
    "register_method",
    "sign_bits",
]
