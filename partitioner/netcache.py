"""A disk cache of imported zoo networks, so that a second ``ctxfit`` run never imports torch.

Importing a zoo network (build the torch module, trace it with torch.fx, fuse) costs seconds,
most of them ``import torch``; the resulting :class:`~partitioner.graph.Network` is a pure
function of the zoo entry, its effective knobs (width, depth, resolution), the source files that
build and import it (:data:`SOURCES`), the torch and Python versions. Each cache file holds that
key and the network's JSON (:meth:`Network.to_dict`); a hit rebuilds the network from the JSON.

Where: ``$CTXFIT_CACHE_DIR`` if set and non-empty, else ``$XDG_CACHE_HOME/ctxfit/networks``
(an absolute ``XDG_CACHE_HOME`` only, as the XDG spec says), else ``~/.cache/ctxfit/networks``.
``CTXFIT_NO_CACHE`` set to anything but ``""`` or ``0`` disables the cache (an empty
``CTXFIT_CACHE_DIR`` counts as unset). Files are written atomically (a temp file, then
``os.replace``), so concurrent runs are safe; a file that cannot be read or parsed, or whose key
differs, is a miss and is rewritten; a directory that cannot be written means no cache, silently.
Entries for old sources are never read again; delete the directory at any time.

Only zoo networks are cached: a file the user gives (``.onnx``, ``file.py:factory``, ``.json``)
can change behind ctxfit's back.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import os
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from partitioner.graph import Network

FORMAT = 1  # bump when the file layout or the key changes meaning
ROOT = Path(__file__).resolve().parent.parent  # holds partitioner/ and cost_model/

# The files a zoo network's layer graph depends on (globs relative to ROOT).
SOURCES = (
    "partitioner/zoo/*.py",  # the architectures, the recipes, the knob checks
    "partitioner/importers/*.py",  # torch.fx import and Hailo-style fusion
    "partitioner/graph.py",  # Network and its JSON form
    "partitioner/models.py",  # input shape -> resolution
    "partitioner/netcache.py",  # the key itself
    "cost_model/layer.py",  # Layer, its derived fields and JSON form
)


def cache_dir() -> Path | None:
    """The cache directory, or None when the cache is disabled or no home is known."""
    if os.environ.get("CTXFIT_NO_CACHE", "") not in ("", "0"):
        return None
    explicit = os.environ.get("CTXFIT_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    if os.path.isabs(xdg):
        return Path(xdg) / "ctxfit" / "networks"
    try:
        return Path.home() / ".cache" / "ctxfit" / "networks"
    except RuntimeError:  # no HOME and no passwd entry
        return None


@functools.cache
def source_hash() -> str:
    """SHA-256 over the :data:`SOURCES` files (relative path and bytes), in path order.

    Raises:
        OSError: a source file cannot be read.
    """
    digest = hashlib.sha256()
    paths = sorted({p for pattern in SOURCES for p in ROOT.glob(pattern)})
    for path in paths:
        digest.update(path.relative_to(ROOT).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.cache
def torch_version() -> str | None:
    """torch's ``version.py`` text (version, git commit), read without importing torch."""
    spec = importlib.util.find_spec("torch")
    if spec is None or spec.origin is None:
        return None
    try:
        return (Path(spec.origin).parent / "version.py").read_text(encoding="utf-8")
    except OSError:
        return spec.origin


def cache_key(name: str, knobs: Mapping[str, float]) -> dict[str, Any]:
    """Everything the network built for zoo entry ``name`` with ``knobs`` depends on.

    Raises:
        OSError: a source file cannot be read.
    """
    torch = torch_version()
    return {
        "format": FORMAT,
        "name": name,
        "knobs": {k: knobs[k] for k in sorted(knobs)},
        "python": list(sys.version_info[:2]),
        "torch": None if torch is None else hashlib.sha256(torch.encode()).hexdigest(),
        "sources": source_hash(),
    }


def cached_network(name: str, knobs: Mapping[str, float], build: Callable[[], Network]) -> Network:
    """The network of zoo entry ``name`` with ``knobs``: from the cache, else ``build()``
    (whose errors propagate) and store it. The cache never raises."""
    directory = cache_dir()
    if directory is None:
        return build()
    try:
        key = cache_key(name, knobs)
    except OSError:
        return build()
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    path = directory / f"{name}-{digest[:20]}.json"
    net = _read(path, key)
    if net is None:
        net = build()
        _write(path, key, net)
    return net


def _read(path: Path, key: Mapping[str, Any]) -> Network | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("key") != key:
            return None
        return Network.from_dict(data["network"])
    except Exception:  # missing, unreadable, truncated or foreign: a miss, rewritten
        return None


def _write(path: Path, key: Mapping[str, Any], net: Network) -> None:
    text = json.dumps({"key": key, "network": net.to_dict()}, separators=(",", ":"))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(text)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise
    except OSError:  # read-only or full disk, a file where the directory should be: no cache
        pass
