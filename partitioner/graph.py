"""The layer graph: a :class:`Network` over a networkx DiGraph whose nodes hold frozen Layers.

Graph inputs are tensors, not layers: a layer that reads a graph input lists the input's name in
``Layer.inputs``. Edges run from a producer layer to each consumer layer. Every query is a small
function or property; preconditions (unique names, known inputs, no cycle) are checked once, in
the constructor.

>>> from cost_model.layer import Layer, OpKind
>>> a = Layer(name="a", op=OpKind.CONV, inputs=("x",), input_shapes=((3, 8, 8),),
...           output_shape=(4, 8, 8), kernel=(3, 3), params=112, macs=6912)
>>> b = Layer(name="b", op=OpKind.ACTIVATION, inputs=("a",), input_shapes=((4, 8, 8),),
...           output_shape=(4, 8, 8))
>>> c = Layer(name="c", op=OpKind.ADD, inputs=("a", "b"),
...           input_shapes=((4, 8, 8), (4, 8, 8)), output_shape=(4, 8, 8))
>>> net = Network("tiny", [a, b, c], inputs={"x": (3, 8, 8)}, outputs=["c"])
>>> net.topological_order()
('a', 'b', 'c')
>>> net.fan_out("a"), net.total_params
(2, 112)
>>> Network.from_json(net.to_json()) == net
True
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import networkx as nx

from cost_model.layer import Layer, Precision, Shape
from cost_model.skips import held_rows
from partitioner.errors import GraphError, ModelImportError

SCHEMA_VERSION = 1


class Network:
    """A network as a DAG of fused layers, plus its graph inputs and outputs.

    Raises:
        GraphError: a duplicate layer name, an input that names neither a layer nor a graph
            input, an output that is not a layer, or a cycle.
    """

    def __init__(
        self,
        name: str,
        layers: Iterable[Layer],
        *,
        inputs: Mapping[str, Shape],
        outputs: Sequence[str],
    ) -> None:
        self.name = name
        self.inputs: dict[str, Shape] = {k: tuple(v) for k, v in inputs.items()}
        self.outputs: tuple[str, ...] = tuple(outputs)
        self._graph = _build_graph(list(layers), self.inputs, self.outputs)
        self._order: tuple[str, ...] = tuple(
            nx.lexicographical_topological_sort(
                self._graph, key=lambda n: self._graph.nodes[n]["index"]
            )
        )
        # the rows each join holds while a parallel path catches up, from this graph alone
        held = held_rows([self._graph.nodes[n]["layer"] for n in self._order])
        for name in self._order:
            node = self._graph.nodes[name]
            rows = held.get(name, ())
            if node["layer"].held_rows != rows:
                node["layer"] = replace(node["layer"], held_rows=rows)

    # -- basic access ----------------------------------------------------------------------
    @property
    def graph(self) -> nx.DiGraph:
        """The DiGraph (node -> attribute ``layer``). Treat it as read-only."""
        return self._graph

    def layer(self, name: str) -> Layer:
        """The layer called ``name`` (``KeyError`` if there is none)."""
        return self._graph.nodes[name]["layer"]

    @property
    def layers(self) -> tuple[Layer, ...]:
        """All layers in topological order."""
        return tuple(self.layer(n) for n in self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self) -> Iterator[Layer]:
        return iter(self.layers)

    def __contains__(self, name: object) -> bool:
        return name in self._graph

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Network):
            return NotImplemented
        return (
            self.name == other.name
            and self.inputs == other.inputs
            and self.outputs == other.outputs
            and self.layers == other.layers
        )

    def __repr__(self) -> str:
        return f"Network({self.name!r}, {len(self)} layers)"

    # -- queries -----------------------------------------------------------------------------
    def topological_order(self) -> tuple[str, ...]:
        """Layer names in a deterministic topological order (ties broken by import order)."""
        return self._order

    def predecessors(self, name: str) -> tuple[str, ...]:
        """Producer layers feeding ``name`` (graph inputs excluded)."""
        return tuple(self._graph.predecessors(name))

    def successors(self, name: str) -> tuple[str, ...]:
        """Consumer layers of ``name``'s output tensor."""
        return tuple(self._graph.successors(name))

    def fan_out(self, name: str) -> int:
        """Readers of a tensor (layer or graph input): consumer layers, plus 1 if a graph output.

        Hailo's parser adds shortcut nodes for a tensor with fan-out above 1.
        """
        if name in self.inputs:
            return len(self.input_consumers(name))
        return len(self.successors(name)) + (1 if name in self.outputs else 0)

    def input_consumers(self, input_name: str) -> tuple[str, ...]:
        """Layers that read the graph input ``input_name``."""
        return tuple(n for n in self._order if input_name in self.layer(n).inputs)

    @property
    def total_params(self) -> int:
        """Sum of the layers' parameters."""
        return sum(layer.params for layer in self.layers)

    @property
    def total_macs(self) -> int:
        """Sum of the layers' MACs per frame."""
        return sum(layer.macs for layer in self.layers)

    @property
    def total_weight_bytes(self) -> int:
        """Sum of the layers' weight bytes at their precisions."""
        return sum(layer.weight_bytes for layer in self.layers)

    def tensor_bytes(self, name: str) -> int:
        """Bytes per frame of a tensor: a layer's output or a graph input (8-bit)."""
        if name in self.inputs:
            shape = self.inputs[name]
            out = 1
            for d in shape:
                out *= d
            return out
        return self.layer(name).output_bytes

    # -- derived networks --------------------------------------------------------------------
    def with_precision(self, precision_by_layer: Mapping[str, Precision]) -> Network:
        """A copy with some layers at another precision.

        Raises:
            GraphError: a name that is not a layer of this network.
        """
        unknown = [n for n in precision_by_layer if n not in self]
        if unknown:
            raise GraphError(
                f"no layer named {unknown[0]!r} in {self.name!r}; "
                "run `ctxfit profile` to list the layer names"
            )
        layers = [
            layer.with_precision(precision_by_layer[layer.name])
            if layer.name in precision_by_layer
            else layer
            for layer in self._insertion_order()
        ]
        return Network(self.name, layers, inputs=self.inputs, outputs=self.outputs)

    def _insertion_order(self) -> list[Layer]:
        nodes = sorted(self._graph.nodes, key=lambda n: self._graph.nodes[n]["index"])
        return [self.layer(n) for n in nodes]

    # -- JSON --------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain data with a schema version; :meth:`from_dict` reads it back."""
        return {
            "schema": SCHEMA_VERSION,
            "kind": "ctxfit.network",
            "name": self.name,
            "inputs": {k: list(v) for k, v in self.inputs.items()},
            "outputs": list(self.outputs),
            "layers": [layer.to_dict() for layer in self._insertion_order()],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Network:
        """Build a network from :meth:`to_dict` data.

        Raises:
            ModelImportError: the data is not a ctxfit network of a known schema.
        """
        if not isinstance(data, Mapping) or data.get("kind") != "ctxfit.network":
            raise ModelImportError(
                'this JSON is not a ctxfit layer graph (no "kind": "ctxfit.network"); '
                "save one with `ctxfit profile MODEL --json FILE`"
            )
        if data.get("schema") != SCHEMA_VERSION:
            raise ModelImportError(
                f"layer graph schema {data.get('schema')!r} is not supported "
                f"(this ctxfit reads schema {SCHEMA_VERSION})"
            )
        try:
            layers = [Layer.from_dict(d) for d in data["layers"]]
            inputs = {str(k): tuple(int(d) for d in v) for k, v in data["inputs"].items()}
            outputs = [str(o) for o in data["outputs"]]
        except (KeyError, TypeError, ValueError) as err:
            raise ModelImportError(f"malformed layer graph JSON: {err}") from err
        return cls(str(data.get("name", "network")), layers, inputs=inputs, outputs=outputs)

    def to_json(self) -> str:
        """JSON text of :meth:`to_dict`."""
        return json.dumps(self.to_dict(), indent=1)

    @classmethod
    def from_json(cls, text: str) -> Network:
        """Parse :meth:`to_json` text (``ModelImportError`` on invalid JSON)."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ModelImportError(f"not valid JSON: {err}") from err
        return cls.from_dict(data)

    def save(self, path: str | Path) -> None:
        """Write the JSON form to ``path``."""
        Path(path).write_text(self.to_json() + "\n")

    @classmethod
    def load(cls, path: str | Path) -> Network:
        """Read a network saved by :meth:`save`."""
        return cls.from_json(Path(path).read_text())


def _build_graph(
    layers: list[Layer], inputs: Mapping[str, Shape], outputs: Sequence[str]
) -> nx.DiGraph:
    graph = nx.DiGraph()
    for index, layer in enumerate(layers):
        if layer.name in graph or layer.name in inputs:
            raise GraphError(f"duplicate layer or tensor name {layer.name!r}")
        graph.add_node(layer.name, layer=layer, index=index)
    for layer in layers:
        for src in layer.inputs:
            if src in graph:
                graph.add_edge(src, layer.name)
            elif src not in inputs:
                raise GraphError(
                    f"layer {layer.name!r} reads {src!r}, which is neither a layer "
                    "nor a graph input"
                )
    for out in outputs:
        if out not in graph:
            raise GraphError(f"graph output {out!r} is not a layer")
    if not nx.is_directed_acyclic_graph(graph):
        cycle = nx.find_cycle(graph)
        raise GraphError(f"the layer graph has a cycle through {cycle[0][0]!r}")
    return graph
