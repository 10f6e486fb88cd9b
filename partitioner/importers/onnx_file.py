"""Read an ONNX file into a :class:`~onnx.ModelProto`: only a regular file, never its weights'
external data, every name a ``str``.

:func:`read_model` is the one place the importer reads a file and the one place names leave the
protobuf. It refuses what is not a regular file before opening it (a directory, a FIFO, which
would block, a device, a socket), and a file over the 2 GiB protobuf limit. Protobuf hands a
string field that is not valid UTF-8 back as ``bytes``; :func:`decode_names` replaces each such
name by its ``errors="replace"`` decoding (``'rel\\ufffd0'``), made unique within its kind (a
tensor name must still name one tensor), so no ``bytes`` ever travels on.

>>> import tempfile
>>> from onnx import helper
>>> x, y = (helper.make_tensor_value_info(n, 1, [1, 4]) for n in "xy")
>>> graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu0")], "g", [x], [y])
>>> data = helper.make_model(graph).SerializeToString().replace(b"relu0", b"rel\\xff0")
>>> path = Path(tempfile.mkdtemp()) / "bad_name.onnx"
>>> _ = path.write_bytes(data)
>>> read_model(path).graph.node[0].name
'rel\\ufffd0'
>>> read_model(path.parent)
Traceback (most recent call last):
...
partitioner.errors.ModelImportError: '...' is a directory, not an ONNX file; give the path of \
the .onnx file itself
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import onnx
from onnx import GraphProto, ModelProto, ValueInfoProto

from partitioner.errors import ModelImportError

MAX_FILE_BYTES = 2**31 - 1  # protobuf's limit on one message; larger models use external data

_TENSOR, _NODE, _TEXT = "tensor", "node", "text"  # name kinds: unique tensors, unique nodes, any


def read_model(path: Path) -> ModelProto:
    """The model proto of ``path``, without its external weight data, every name a ``str``.

    Raises:
        ModelImportError: the path does not exist, is not a regular file (a directory, FIFO,
            device, socket), cannot be read, is over 2 GiB, is not a protobuf ONNX model or is
            truncated, or holds no graph nodes.
    """
    model = _parse(path, _read_bytes(path))
    if not model.HasField("graph") or len(model.graph.node) == 0:
        raise _error(
            f"{str(path)!r} holds no ONNX graph nodes; it is not an ONNX model (or an empty "
            "one): export the model again"
        )
    decode_names(model)
    return model


def _error(message: str) -> ModelImportError:
    return ModelImportError(message)


def _read_bytes(path: Path) -> bytes:
    """The file's bytes; a non-regular file is refused from its ``stat`` without opening it."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise _error(f"model file {str(path)!r} does not exist (check the path)") from None
    except OSError as err:  # a symlink loop, a path through a file, no permission on a dir
        raise _error(f"cannot read {str(path)!r}: {err.strerror or err}") from err
    _check_kind(path, info.st_mode)
    if info.st_size > MAX_FILE_BYTES:
        raise _error(
            f"{str(path)!r} is {info.st_size:,} bytes, over the 2 GiB limit of one ONNX "
            "protobuf; export the model with its weights in an external data file"
        )
    try:  # O_NONBLOCK: if the path was swapped for a FIFO since the stat, do not wait on it
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as err:
        raise _error(f"cannot read {str(path)!r}: {err.strerror}; check its permissions") from err
    with os.fdopen(fd, "rb") as file:
        _check_kind(path, os.fstat(file.fileno()).st_mode)
        try:
            return file.read()
        except OSError as err:
            raise _error(f"cannot read {str(path)!r}: {err.strerror}") from err


def _check_kind(path: Path, mode: int) -> None:
    if stat.S_ISDIR(mode):
        raise _error(
            f"{str(path)!r} is a directory, not an ONNX file; give the path of the .onnx file "
            "itself"
        )
    if not stat.S_ISREG(mode):
        raise _error(
            f"{str(path)!r} is not a regular file (a FIFO, device or socket); give the path of "
            "an .onnx file"
        )


def _parse(path: Path, data: bytes) -> ModelProto:
    try:
        return onnx.load_model_from_string(data)
    except Exception as err:
        text = str(err).strip()
        first = text.splitlines()[0] if text else type(err).__name__
        raise _error(
            f"{str(path)!r} is not a readable ONNX model ({type(err).__name__}: {first}); "
            "check that the file is complete (not truncated) and was written by an ONNX "
            "exporter such as torch.onnx.export"
        ) from err


# -- names -------------------------------------------------------------------------------------
def decode_names(model: ModelProto) -> int:
    """Replace every name protobuf returns as ``bytes`` (not valid UTF-8) by a ``str``.

    A name is decoded with ``errors="replace"``; a tensor or node name that then equals another
    name of its kind gets ``_1``, ``_2``... appended; the same bytes always map to the same name,
    so a renamed tensor still connects its producer and readers. Walks subgraphs (``If``,
    ``Loop``) and functions too, without recursion. Returns how many fields were replaced.
    """
    slots = list(_name_slots(model))
    raw = [(slot, kind) for slot, kind in slots if isinstance(_get(slot), bytes)]
    if not raw:
        return 0
    taken: dict[str, set[str]] = {_TENSOR: set(), _NODE: set()}
    for slot, kind in slots:
        value = _get(slot)
        if kind in taken and isinstance(value, str):
            taken[kind].add(value)
    chosen: dict[tuple[str, bytes], str] = {}
    for slot, kind in raw:
        value = _get(slot)
        name = chosen.get((kind, value))
        if name is None:
            name = value.decode("utf-8", errors="replace")
            if kind in taken:
                name = _unique(name, taken[kind])
                taken[kind].add(name)
            chosen[(kind, value)] = name
        _set(slot, name)
    return len(raw)


def _unique(name: str, taken: set[str]) -> str:
    if name not in taken:
        return name
    k = 1
    while f"{name}_{k}" in taken:
        k += 1
    return f"{name}_{k}"


Slot = tuple[Any, Any]  # (message, field name) or (repeated field, index)


def _get(slot: Slot) -> Any:
    owner, key = slot
    return owner[key] if isinstance(key, int) else getattr(owner, key)


def _set(slot: Slot, value: str) -> None:
    owner, key = slot
    if isinstance(key, int):
        owner[key] = value
    else:
        setattr(owner, key, value)


def _name_slots(model: ModelProto) -> Iterator[tuple[Slot, str]]:
    """Every string field of ``model`` that the importer reads, with its kind."""
    for entry in model.opset_import:
        yield (entry, "domain"), _TEXT
    graphs: list[GraphProto] = [model.graph]
    for function in model.functions:
        yield (function, "name"), _TEXT
        yield (function, "domain"), _TEXT
        yield from _items(function.input, _TENSOR)
        yield from _items(function.output, _TENSOR)
        for entry in function.opset_import:
            yield (entry, "domain"), _TEXT
        yield from _node_slots(function.node, graphs)
    while graphs:
        graph = graphs.pop()
        yield (graph, "name"), _TEXT
        for info in (*graph.input, *graph.output, *graph.value_info):
            yield from _info_slots(info)
        for tensor in graph.initializer:
            yield (tensor, "name"), _TENSOR
            for entry in tensor.external_data:
                yield (entry, "key"), _TEXT
                yield (entry, "value"), _TEXT
        for sparse in graph.sparse_initializer:
            yield (sparse.values, "name"), _TENSOR
            yield (sparse.indices, "name"), _TENSOR
        yield from _node_slots(graph.node, graphs)


def _node_slots(nodes: Any, subgraphs: list[GraphProto]) -> Iterator[tuple[Slot, str]]:
    """Slots of ``nodes``; the subgraphs in their attributes are added to ``subgraphs``."""
    for node in nodes:
        yield (node, "name"), _NODE
        yield (node, "op_type"), _TEXT
        yield (node, "domain"), _TEXT
        yield from _items(node.input, _TENSOR)
        yield from _items(node.output, _TENSOR)
        for attr in node.attribute:
            yield (attr, "name"), _TEXT
            yield (attr, "ref_attr_name"), _TEXT
            if attr.HasField("g"):
                subgraphs.append(attr.g)
            subgraphs.extend(attr.graphs)


def _info_slots(info: ValueInfoProto) -> Iterator[tuple[Slot, str]]:
    yield (info, "name"), _TENSOR
    if info.type.HasField("tensor_type"):
        for dim in info.type.tensor_type.shape.dim:
            if dim.HasField("dim_param"):
                yield (dim, "dim_param"), _TEXT


def _items(values: Any, kind: str) -> Iterator[tuple[Slot, str]]:
    for index in range(len(values)):
        yield (values, index), kind
