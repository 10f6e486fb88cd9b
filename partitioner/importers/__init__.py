"""Importers: turn a framework model into a :class:`partitioner.graph.Network`.

:mod:`.builder` holds the framework-neutral :class:`GraphBuilder` that does Hailo-style fusion;
:mod:`.torch_fx` imports ``nn.Module`` objects through torch.fx. The torch importer is loaded
lazily, so importing this package does not import torch.
"""

from __future__ import annotations

from typing import Any

from partitioner.importers.builder import GraphBuilder, TensorRef

__all__ = ["GraphBuilder", "TensorRef", "import_module", "load_factory"]


def __getattr__(name: str) -> Any:
    if name in ("import_module", "load_factory"):
        from partitioner.importers import torch_fx

        return getattr(torch_fx, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
