"""The exceptions fastckpt raises. Everything it raises about a checkpoint is a CheckpointError."""

from __future__ import annotations

from typing import TypeVar


_E = TypeVar("_E", bound=Exception)


def led_by(source: str, error: _E) -> _E:
    """``error``, or one of its type whose message is led by ``source`` (the file or folder it is
    about) when it does not name it already: TensorFlow's texts name a node or a tag, not a file."""
    message = str(error)
    return error if source in message else type(error)(f"{source}: {message}")


class CheckpointError(Exception):
    """Base class of every checkpoint problem fastckpt reports."""


class CorruptCheckpointError(CheckpointError):
    """A checkpoint file does not follow the format (truncated, overwritten, or not a checkpoint)."""


class ChecksumMismatchError(CorruptCheckpointError):
    """A tensor's bytes do not match the crc32c stored with them."""


class InvalidFileError(CorruptCheckpointError, ValueError):
    """A file (or the message read from it) parses but says something that cannot be right: a
    ``checkpoint`` state file naming no checkpoint, a SavedModel without meta graphs, a
    ``SaverDef`` naming operations its graph lacks. Also a ``ValueError``, as TensorFlow raises
    for the ones it checks."""


class NotFoundError(CheckpointError, LookupError):
    """Something does not exist, as ``tf.errors.NotFoundError``: a tensor a checkpoint lacks
    (``TensorNotFoundError``), a checkpoint file (``CheckpointNotFoundError``), an op type that
    is not registered (``Op type not registered 'X' in binary running on HOST. …``), or variables
    a ``Saver`` restores that the checkpoint lacks (``Key v2 not found in checkpoint``)."""


class _NameNotFoundError(NotFoundError, KeyError):
    """A name looked up is missing: also a ``KeyError``, as from TensorFlow."""

    def __str__(self) -> str:  # KeyError would show the message quoted
        return str(self.args[0]) if self.args else ""


class TensorNotFoundError(_NameNotFoundError):
    """The checkpoint holds no tensor of that name (``Key v3 not found in checkpoint P``)."""


class SignatureNotFoundError(_NameNotFoundError):
    """A SavedModel has no signature of that name."""


class MetaGraphNotFoundError(NotFoundError, RuntimeError):
    """A SavedModel has no meta graph with the tags asked for: also a ``RuntimeError``, as
    TensorFlow's loader raises."""


class CheckpointNotFoundError(FileNotFoundError, NotFoundError):
    """A checkpoint file (index or data shard) or a checkpoint folder is missing. (``OSError``
    comes first among the bases: its ``(errno, strerror, filename)`` form needs its ``__new__``.)"""


class NoCheckpointInFolderError(CheckpointNotFoundError, ValueError):
    """A folder holds no checkpoint to open (no ``checkpoint`` state file, or none of the files it
    names): also a ``ValueError``, which ``tf.train.load_checkpoint`` raises there."""


class CheckpointIOError(CheckpointError, OSError):
    """The operating system refused to read or write a checkpoint file (permissions, a folder
    where a file should be, a full disk)."""


class DecodeError(CheckpointError, ValueError):
    """Bytes or text that are not a valid protobuf message of the expected type (a graph, meta
    graph or SavedModel file, or data given to ``FromString``/``ParseFromString``)."""


class GraphImportError(CheckpointError, ValueError):
    """``import_graph_def`` refused a graph or its arguments; the message is TensorFlow's own
    text, and TensorFlow raises ``ValueError`` with it."""


class UnimplementedError(CheckpointError, NotImplementedError):
    """Something TensorFlow does not do either, or that fastckpt does not do, as
    ``tf.errors.UnimplementedError``: a graph using an op removed before the graph's producer
    version, a ``Saver`` asked to write V1 checkpoints, a variant tensor written in the other
    byte order, or valid data a conversion or graph tool cannot handle (yet)."""


class InvalidArgumentError(CheckpointError, ValueError):
    """A checkpoint does not fit what it is restored into (dtype or shape), or cannot give what was
    asked: it was written for a newer reader (its version), or a partitioned tensor's stored
    slices do not cover the part asked for. As ``tf.errors.InvalidArgumentError``, whose message
    it gives (naming the checkpoint's file). Also what the engine says of arguments it refuses
    (an output node no graph holds, a rename that gives two tensors one name)."""
