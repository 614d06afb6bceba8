"""fastckpt: TensorFlow checkpoints read and written at the speed of the hardware, without TensorFlow."""

from .errors import (
    CheckpointError,
    CheckpointIOError,
    CheckpointNotFoundError,
    ChecksumMismatchError,
    CorruptCheckpointError,
    TensorNotFoundError,
)
from .reader import CheckpointReader, latest_checkpoint, list_variables, load_checkpoint, load_variable
from .writer import BundleWriter, save

__all__ = [
    "BundleWriter",
    "CheckpointError",
    "CheckpointIOError",
    "CheckpointNotFoundError",
    "CheckpointReader",
    "ChecksumMismatchError",
    "CorruptCheckpointError",
    "TensorNotFoundError",
    "latest_checkpoint",
    "list_variables",
    "load_checkpoint",
    "load_variable",
    "save",
]
__version__ = "0.1.0"
