"""SavedModels: ``load_saved_model`` reads ``saved_model.pb`` (or ``.pbtxt``) and opens the
variables checkpoint beside it; ``read_saved_model``, ``get_saved_model_tag_sets`` and
``get_meta_graph_def`` are those of TensorFlow's ``saved_model_utils`` (``saved_model_cli``)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Union

from . import _fastckpt
from ._fastckpt import MetaGraphDef, SavedModel, SignatureDef
from .errors import CheckpointNotFoundError, InvalidFileError, MetaGraphNotFoundError
from .reader import CheckpointReader

PathLike = Union[str, "os.PathLike[str]"]


class LoadedSavedModel:
    """What ``load_saved_model`` found in a SavedModel folder."""

    def __init__(self, export_dir: str, saved_model: SavedModel, meta_graph: MetaGraphDef) -> None:
        self.export_dir = export_dir
        #: The whole ``SavedModel`` message.
        self.saved_model = saved_model
        #: The chosen meta graph (by tags, else the first).
        self.meta_graph = meta_graph
        prefix = variables_prefix(export_dir)
        #: The variables checkpoint (``variables/variables``), or ``None`` when there is none.
        self.variables = CheckpointReader(prefix) if os.path.exists(prefix + ".index") else None

    @property
    def meta_graphs(self) -> list[MetaGraphDef]:
        """Every meta graph of the SavedModel."""
        return list(self.saved_model.meta_graphs)

    @property
    def tags(self) -> list[str]:
        """The tags of the chosen meta graph."""
        return list(self.meta_graph.meta_info_def.tags)

    @property
    def signatures(self) -> dict[str, SignatureDef]:
        """The chosen meta graph's signatures by key (``"serving_default"``, …)."""
        return dict(self.meta_graph.signature_def.items())

    def __repr__(self) -> str:
        return f"LoadedSavedModel({self.export_dir!r}, tags={self.tags}, signatures={sorted(self.signatures)})"


def variables_prefix(export_dir: PathLike) -> str:
    """The prefix of a SavedModel folder's variables checkpoint."""
    return os.path.join(os.fspath(export_dir), "variables", "variables")


def is_saved_model_dir(path: PathLike) -> bool:
    """Whether ``path`` is a SavedModel folder (it holds ``saved_model.pb`` or ``.pbtxt``), as
    ``tf.train.Checkpoint.restore`` tells one from a checkpoint."""
    path = os.fspath(path)
    return os.path.isdir(path) and any(
        os.path.exists(os.path.join(path, name)) for name in ("saved_model.pb", "saved_model.pbtxt")
    )


def read_saved_model(export_dir: PathLike) -> SavedModel:
    """The ``SavedModel`` message of a folder: ``saved_model.pb`` (binary) if present, else
    ``saved_model.pbtxt`` (text), as TensorFlow's loader looks for them."""
    export_dir = os.fspath(export_dir)
    for name, fmt in (("saved_model.pb", "binary"), ("saved_model.pbtxt", "text")):
        path = os.path.join(export_dir, name)
        if os.path.exists(path):
            message, _ = _fastckpt.read_message(path, "tensorflow.SavedModel", fmt)
            assert isinstance(message, SavedModel)
            return message
    if os.path.exists(os.path.join(export_dir, "saved_model.cpb")):
        raise NotImplementedError(f"{export_dir}: chunked SavedModels (saved_model.cpb) are not supported")
    raise CheckpointNotFoundError(
        f"SavedModel file does not exist at: {export_dir}{os.sep}{{saved_model.pbtxt|saved_model.pb}}"
    )


def get_saved_model_tag_sets(saved_model_dir: PathLike) -> list[list[str]]:
    """The tags of each meta graph of the SavedModel, in file order, as
    ``saved_model_utils.get_saved_model_tag_sets``."""
    return [list(meta.meta_info_def.tags) for meta in read_saved_model(saved_model_dir).meta_graphs]


def get_meta_graph_def(saved_model_dir: PathLike, tag_set: str) -> MetaGraphDef:
    """The meta graph whose tags are exactly ``tag_set`` (tags joined by ``,``; ``""`` is the
    empty set), as ``saved_model_utils.get_meta_graph_def``: ``MetaGraphNotFoundError`` (a
    ``RuntimeError``) with TensorFlow's text, listing the tag sets there are, when none matches."""
    wanted = {tag for tag in tag_set.split(",") if tag}
    available = []
    meta: MetaGraphDef
    for meta in read_saved_model(saved_model_dir).meta_graphs:
        tags = list(meta.meta_info_def.tags)
        if set(tags) == wanted:
            return meta
        available.append(",".join(set(tags)))  # in a set's order, as TensorFlow joins them
    raise MetaGraphNotFoundError(
        f"MetaGraphDef associated with tag-set {tag_set} could not be found in the SavedModel. "
        f"Please use one of the following tag-sets: {available}"
    )


def load_saved_model(export_dir: PathLike, tags: str | Iterable[str] | None = None) -> LoadedSavedModel:
    """Reads a SavedModel folder: its ``SavedModel`` message, the meta graph whose tag set equals
    ``tags`` (the first one when ``tags`` is ``None``), its signatures, and a
    ``CheckpointReader`` on ``variables/variables``."""
    export_dir = os.fspath(export_dir)
    saved_model = read_saved_model(export_dir)
    meta_graphs = list(saved_model.meta_graphs)
    if not meta_graphs:
        raise InvalidFileError(f"the SavedModel in {export_dir} holds no meta graph")
    if tags is None:
        chosen = meta_graphs[0]
    else:
        if not isinstance(tags, (str, list, tuple, set, frozenset)):
            tags = list(tags)
        wanted = {tags} if isinstance(tags, str) else set(tags)
        found = [m for m in meta_graphs if set(m.meta_info_def.tags) == wanted]
        if not found:
            # TensorFlow's loader's text: the tags as given, each meta graph's as a set (it names
            # no folder: the tags asked for are what is wrong, not the SavedModel).
            available = [set(m.meta_info_def.tags) for m in meta_graphs]
            raise MetaGraphNotFoundError(
                f"MetaGraphDef associated with tags {str(tags).strip('[]')} could not be found in SavedModel, "
                f"with available tags '{available}'. To inspect available tag-sets in the SavedModel, "
                "please use the SavedModel CLI: `saved_model_cli`."
            )
        chosen = found[0]
    return LoadedSavedModel(export_dir, saved_model, chosen)
