"""Calibrate the cost model and the compiler-flow parameters on the Hailo Model Zoo table, each
row under its own model script.

Run ``python -m benchmarks.calibrate`` (``--help`` for options). The rows are those of
``partitioner/data/model_zoo_v2.18.csv`` (Model Zoo v2.18: 165 networks x Hailo-8 / Hailo-8L)
whose network the zoo can build. Each row is compiled as ``ctxfit compile NAME --hw DEVICE`` does
by default: its Model Zoo script's compile-side lines turned into a model script
(:mod:`partitioner.zoo_scripts`) and resolved into a flow (:func:`partitioner.flows.resolve_flow`:
the caps deciding one context and those pricing its FPS, required FPS, forced multi-context, the
4-bit share), through :func:`partitioner.compile_request.prepare_compile`, the code path of
``ctxfit compile`` itself.

The fit uses a fast **proxy** of the search (seconds for all rows, so that a coordinate search
over the parameters stays within an hour on 2 cores):

1. *single-context flow*: the whole network at the flow's single-context caps (``context_fit``);
   if it fits (and the flow allows one context), its FPS is the ``context_fit`` rate at the flow's
   raised caps (or its required FPS), capped by its PCIe traffic, the same at every batch;
2. *multi-context flow* otherwise: a contiguous split of the topological order at the flow's
   multi-context caps, greedy at each level of a geometric rate grid (a new context when the
   next layer would pass a cap or the edge-layer limit), at least the flow's fewest contexts,
   keeping the level with the best FPS at batch 8; each context then runs at its own
   ``context_fit`` rate at the flow's multi-context FPS caps, and ``T(B) = sum_c S_c + B t_c``.

Every figure that ``benchmarks/RESULTS.md`` reports as *the* error comes from ``ctxfit compile``
itself (``python -m benchmarks.fidelity``): in-sample at the fitted constants, and
leave-one-network-out at the parameters refitted without that network, which this script saves
to ``benchmarks/data/calibration.json`` along with its proxy predictions.

Leave-one-network-out refit: from the in-sample optimum, every single-parameter move of the
local candidate set is evaluated once on all rows; for each network, each parameter takes the
value (its current one or a candidate) with the least loss on the *other* networks' rows
(one round of coordinate search with independent moves, the network's own rows never seen).
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import math
import platform
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np

from benchmarks.common import write_section
from cost_model.caps import ResourceCaps, limits
from cost_model.context import context_fit, raised_timing
from cost_model.hardware import HardwareSpec, PcieLink, preset
from cost_model.lowering import demand_matrix, tensor_rows
from cost_model.params import HAILO8L_COMPILER_LINK_LANES
from cost_model.ranges import HARDWARE_RANGES
from cost_model.throughput import ContextTiming, fps_at_batch, pays_overhead, time_in_batch_s
from partitioner.flows import FLOW_PARAMS, FlowParams

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SAVED = ROOT / "benchmarks" / "data" / "calibration.json"
SECTION = "Calibration"
DEVICES = ("hailo8", "hailo8l")
LEVELS = 24  # geometric rate grid per network and device
BATCHES = (1, 8)
OPTIMIZE_BATCH = 8  # ctxfit compile's default optimize_for_batch


# -- data ----------------------------------------------------------------------------------------
# Batch-1 and batch-8 FPS this close are one context. Five rows differ by 0.1-0.7% (FastDepth
# 2526/2519, SCRFD-2.5G, YOLOv5n-seg, STDC1, MSPN on Hailo-8: a re-measurement, not a context
# switch); no row differs by 1-10%, and a multi-context row gains at least 10% from batching.
SINGLE_TOLERANCE = 0.02
TRANSFORMER_FAMILIES = ("vit", "levit", "whisper", "clip", "segformer", "vit_pose", "deit")


@dataclass(frozen=True, kw_only=True)
class Row:
    """One row of the Model Zoo table that the zoo can build."""

    device: str
    network: str
    task: str
    fps_b1: float
    fps_b8: float

    @property
    def single(self) -> bool:
        """The same FPS at batch 1 and 8 means one context (HAILO.md section 3): within
        ``SINGLE_TOLERANCE``, the measurement noise of the table."""
        return abs(self.fps_b1 - self.fps_b8) <= SINGLE_TOLERANCE * self.fps_b8

    @property
    def family(self) -> str:
        """The task family the results are broken down by."""
        return task_family(self.network, self.task)


def task_family(network: str, task: str) -> str:
    """``classification``, ``detection``, ``segmentation``, ``pose``, ``transformers`` or
    ``other`` (transformers first: a ViT classifier counts as a transformer).

    >>> task_family("vit_base", "classification"), task_family("yolov8n", "object_detection")
    ('transformers', 'detection')
    """
    from partitioner.zoo import ZOO

    entry = ZOO.get(network)
    if entry is not None and entry.family.startswith(TRANSFORMER_FAMILIES):
        return "transformers"
    for key, family in (
        ("classification", "classification"),
        ("detection", "detection"),
        ("segmentation", "segmentation"),
        ("pose", "pose"),
    ):
        if key in task:
            return family
    return "other"


def load_rows() -> list[Row]:
    """The table's rows whose network is in the zoo and that publish both batch figures."""
    from partitioner.zoo import ZOO
    from partitioner.zoo_scripts import zoo_rows

    return [
        Row(
            device=r.device,
            network=r.network,
            task=r.task,
            fps_b1=r.fps_batch1,
            fps_b8=r.fps_batch8,
        )
        for r in zoo_rows()
        if r.network in ZOO and r.fps_batch8 is not None and r.device in DEVICES
    ]


def _source_hash() -> str:
    """Hash of the zoo and importer sources: a cached layer graph is reused only while they are
    unchanged."""
    digest = hashlib.sha256()
    for sub in ("partitioner/zoo", "partitioner/importers", "cost_model/layer.py"):
        base = ROOT / sub
        files = sorted(base.rglob("*.py")) if base.is_dir() else [base]
        for path in files:
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def load_networks(
    names: Iterable[str], cache: Path | None, *, reuse: bool = False
) -> tuple[dict, dict[str, str]]:
    """Build and import each network (through a JSON cache); failures are returned by name.

    The cache is keyed by a hash of the zoo and importer sources; ``reuse`` takes the newest
    cached snapshot instead, even if those sources changed since (for quick iterations)."""
    from partitioner.graph import Network  # networkx: allowed here, never in cost_model

    nets: dict = {}
    failed: dict[str, str] = {}
    folder = None
    if cache is not None:
        folder = cache / _source_hash()
        snapshots = sorted(cache.glob("*/"), key=lambda p: p.stat().st_mtime) if reuse else []
        if snapshots:
            folder = snapshots[-1]
        folder.mkdir(parents=True, exist_ok=True)
    for name in sorted(set(names)):
        path = folder / f"{name}.json" if folder else None
        if path is not None and path.is_file():
            nets[name] = Network.load(path)
            continue
        try:
            from partitioner.importers.torch_fx import import_module
            from partitioner.zoo import build_module

            module, shape = build_module(name)
            nets[name] = import_module(module, shape, name=name)
        except Exception as err:  # report and go on: a missing op is the importer's business
            failed[name] = f"{type(err).__name__}: {str(err).splitlines()[0][:120]}"
            continue
        if path is not None:
            nets[name].save(path)
    return nets, failed


# -- the network as arrays, once -----------------------------------------------------------------
@dataclass
class NetArrays:
    """A network in topological order, with what the split needs as plain lists."""

    name: str
    pairs: list  # (Layer, fan_out) in topological order
    out_bytes: list[int]  # output bytes per frame of each layer
    out_rows: list[int]  # rows of each layer's output tensor
    last_consumer: list[int]  # highest consumer index, len(order) if a graph output
    producers: list[list[int]]  # producer indices of each layer's inputs (distinct)
    graph_inputs: list[list[tuple[str, int, int]]]  # (graph input, bytes, rows) each reads
    is_output: list[bool]
    weight_prefix: list[int]  # weight bytes of layers [0, i)
    ends_at: list[list[int]] = field(default_factory=list)  # layers whose last consumer is i

    @classmethod
    def from_network(cls, net) -> NetArrays:  # net: partitioner.graph.Network
        order = net.topological_order()
        index = {name: i for i, name in enumerate(order)}
        n = len(order)
        pairs, out_bytes, out_rows, last, producers, ginputs, is_output = [], [], [], [], [], [], []
        weight_prefix = [0]
        for name in order:
            layer = net.layer(name)
            pairs.append((layer, net.fan_out(name)))
            out_bytes.append(layer.output_bytes)
            out_rows.append(tensor_rows(layer.output_shape))
            weight_prefix.append(weight_prefix[-1] + layer.weight_bytes)
            consumers = [index[c] for c in net.successors(name)]
            last.append(n if name in net.outputs else max(consumers, default=index[name]))
            producers.append(sorted({index[s] for s in layer.inputs if s in index}))
            ginputs.append(
                sorted(
                    {
                        (s, net.tensor_bytes(s), tensor_rows(net.inputs[s]))
                        for s in layer.inputs
                        if s in net.inputs
                    }
                )
            )
            is_output.append(name in net.outputs)
        ends_at: list[list[int]] = [[] for _ in range(n + 1)]
        for i, e in enumerate(last):
            ends_at[e].append(i)
        return cls(
            net.name,
            pairs,
            out_bytes,
            out_rows,
            last,
            producers,
            ginputs,
            is_output,
            weight_prefix,
            ends_at,
        )


# -- the proxy's split --------------------------------------------------------------------------
def _segments_at_level(arr: NetArrays, demand: list, limit: tuple, edge_limit: int):
    """Greedy first fit at one level: list of (start, end), or None when a layer alone fails.

    ``demand`` holds one 5-tuple per layer. Edge layers of the open context [start, i] are the
    distinct tensors it reads from outside plus its outputs still needed after i.
    """
    n = len(arr.pairs)
    segments = []
    start = 0
    l0 = l1 = l2 = l3 = l4 = 0
    ins: set = set()
    outs = 0
    m0, m1, m2, m3, m4 = limit
    i = 0
    while i < n:
        d0, d1, d2, d3, d4 = demand[i]
        added = {("l", p) for p in arr.producers[i] if p < start}
        added.update(("g", g) for g, _, _ in arr.graph_inputs[i])
        new_ins = len(ins | added) if added else len(ins)
        new_outs = outs + (1 if arr.last_consumer[i] > i else 0)
        new_outs -= sum(1 for j in arr.ends_at[i] if start <= j < i)
        if (
            l0 + d0 <= m0
            and l1 + d1 <= m1
            and l2 + d2 <= m2
            and l3 + d3 <= m3
            and l4 + d4 <= m4
            and new_ins + new_outs <= edge_limit
        ):
            l0, l1, l2, l3, l4 = l0 + d0, l1 + d1, l2 + d2, l3 + d3, l4 + d4
            ins |= added
            outs = new_outs
            i += 1
            continue
        if i == start:
            return None  # this layer alone does not fit at this level
        segments.append((start, i - 1))
        start, ins, outs = i, set(), 0
        l0 = l1 = l2 = l3 = l4 = 0
    segments.append((start, n - 1))
    return segments


def _pcie(arr: NetArrays, hw: HardwareSpec, start: int, end: int) -> dict[str, int]:
    """PCIe traffic per frame of a context [start, end] (ContextTiming keyword arguments): the
    tensors it reads from host memory (earlier contexts' outputs, graph inputs) and those it
    writes there (for later contexts, graph outputs), in bytes, and the rows and number of
    those that pay the row and transfer costs (``pays_overhead``)."""
    read: dict = {}  # tensor -> (bytes, rows, pays the overhead)
    between = pays_overhead(hw, graph_tensor=False)
    for i in range(start, end + 1):
        for p in arr.producers[i]:
            if p < start:
                read[("l", p)] = (arr.out_bytes[p], arr.out_rows[p], between)
        for g, nbytes, rows in arr.graph_inputs[i]:
            read[("g", g)] = (nbytes, rows, True)
    written = [
        (arr.out_bytes[j], arr.out_rows[j], between or arr.is_output[j])
        for j in range(start, end + 1)
        if arr.last_consumer[j] > end
    ]
    out_bytes = sum(b for b, _, _ in written)
    out_rows = sum(r for _, r, pays in written if pays)
    out_n = sum(1 for *_, pays in written if pays)
    return {
        "pcie_bytes_per_frame": sum(b for b, _, _ in read.values()) + out_bytes,
        "pcie_rows_per_frame": sum(r for _, r, pays in read.values() if pays) + out_rows,
        "pcie_out_bytes_per_frame": out_bytes,
        "pcie_out_rows_per_frame": out_rows,
        "pcie_transfers_per_frame": sum(1 for *_, pays in read.values() if pays) + out_n,
        "pcie_out_transfers_per_frame": out_n,
    }


# -- each row as ctxfit compile prepares it ------------------------------------------------------
@dataclass
class RowPlan:
    """A row with its Model Zoo script (parsed), the pinned-context count, and the network as
    arrays for each 4-bit share its flow can take (keyed by the share)."""

    row: Row
    script: object  # partitioner.model_script.ModelScript | None
    fixed_contexts: int | None
    arrays: dict[float, NetArrays] = field(default_factory=dict)


def plan_rows(rows: Sequence[Row], nets: dict, shares: Iterable[float]) -> list[RowPlan]:
    """Parse each row's Model Zoo script and build its network's arrays once per 4-bit share
    (``shares``: the implicit-compression values the fit may try), with the script's
    precisions applied as ``ctxfit compile`` applies them."""
    from partitioner.compile_request import prepare_compile
    from partitioner.model_script import parse_model_script
    from partitioner.zoo_scripts import zoo_script

    plans = []
    for row in rows:
        zoo = zoo_script(row.network, row.device)
        script = parse_model_script(zoo.text, source=zoo.row.script) if zoo else None
        plan = RowPlan(row=row, script=script, fixed_contexts=zoo.fixed_contexts if zoo else None)
        for share in sorted(set(shares)):
            params = replace(FLOW_PARAMS, implicit_compression=share)
            prepared = prepare_compile(
                nets[row.network], preset(row.device), script, flow_params=params
            )
            key = round(prepared.settings.flow.compression_fraction, 6)
            if key not in plan.arrays:
                plan.arrays[key] = NetArrays.from_network(prepared.net)
        plans.append(plan)
    return plans


@dataclass(frozen=True, kw_only=True)
class Prediction:
    contexts: int
    fps_b1: float
    fps_b8: float

    @property
    def single(self) -> bool:
        return self.contexts == 1


def _single(arr: NetArrays, hw: HardwareSpec, flow) -> Prediction | None:
    """One context at the flow's FPS caps (its required FPS if it sets one and can reach it)."""
    timing = _timing(arr, hw, flow.single_fps_caps, 0, len(arr.pairs) - 1)
    if timing is None:
        return None
    if flow.target_fps is not None and flow.target_fps < timing.compute_fps:
        timing = replace(timing, compute_fps=flow.target_fps)
    fps = fps_at_batch([timing], 1, hw)
    return Prediction(contexts=1, fps_b1=fps, fps_b8=fps)


def _at_least(segments: list, fewest: int) -> list:
    """Split the longest segment in two until there are ``fewest`` (the proxy's forced split)."""
    segments = list(segments)
    while len(segments) < fewest:
        i = max(range(len(segments)), key=lambda j: segments[j][1] - segments[j][0])
        s, e = segments[i]
        if s == e:
            break
        mid = (s + e) // 2
        segments[i : i + 1] = [(s, mid), (mid + 1, e)]
    return segments


def predict(plan: RowPlan, hw: HardwareSpec, params: FlowParams) -> Prediction | None:
    """What the compiler would do with ``plan``'s row on ``hw`` under its flow (None: nothing
    fits)."""
    from partitioner.flows import resolve_flow

    flow = resolve_flow(plan.script, params=params)  # type: ignore[arg-type]
    arr = plan.arrays[round(flow.compression_fraction, 6)]
    fewest, most = flow.min_contexts, 64
    if plan.fixed_contexts is not None:
        fewest = most = plan.fixed_contexts
    if fewest == 1 and flow.context_switch != "enabled":
        whole = context_fit(arr.pairs, hw, flow.single_caps, base_caps=flow.single_base_caps)
        if whole.fits or plan.fixed_contexts == 1:
            return _single(arr, hw, flow)
    fewest = max(fewest, 2)
    found = _best_split(arr, hw.deciding(), flow, fewest, most)  # at the compiler's link
    if found is None:
        return None
    best, searched = found
    raised = [_timing(arr, hw, flow.multi_fps_caps, s, e) for s, e in best]  # on hw's link
    if any(t is None for t in raised):
        return None
    # as compile prices it: each context raised for FPS, or kept at the split's rate where that
    # adds less to T(B) at the batch the split was chosen for (partitioner.compile)
    timings = [
        min((r, k), key=lambda t: time_in_batch_s(t, OPTIMIZE_BATCH, hw))
        for r, k in zip(raised, searched, strict=True)
    ]
    return Prediction(
        contexts=len(timings),
        fps_b1=fps_at_batch(timings, 1, hw),
        fps_b8=fps_at_batch(timings, 8, hw),
    )


def _best_split(arr: NetArrays, hw: HardwareSpec, flow, fewest: int, most: int):
    """The contiguous split (``(start, end)`` per context) with the best FPS at
    ``OPTIMIZE_BATCH`` over the rate grid, priced on ``hw`` (None: no level fits)."""
    limit = limits(flow.multi_caps, hw).as_tuple()
    max_fps = min(_max_fps(arr, hw))
    levels = np.geomspace(max_fps * 1e-3, max_fps, LEVELS)
    demand = demand_matrix(arr.pairs, hw, levels.tolist())
    nodes = demand[:, :, 0] // max(hw.lcus_per_node, 1)
    best = None
    for k in range(LEVELS):
        segments = _segments_at_level(
            arr, [tuple(row) for row in demand[k].tolist()], limit, hw.edge_layers_per_context
        )
        if segments is None:
            continue
        segments = _at_least(segments, fewest)
        if len(segments) > most:
            continue
        timings = [
            ContextTiming(
                compute_fps=float(levels[k]),
                weight_bytes=arr.weight_prefix[e + 1] - arr.weight_prefix[s],
                config_bytes=int(nodes[k, s : e + 1].sum()) * hw.config_bytes_per_node,
                **_pcie(arr, hw, s, e),
            )
            for s, e in segments
        ]
        score = fps_at_batch(timings, OPTIMIZE_BATCH, hw)
        if best is None or score > best[0]:
            best = (score, segments, timings)
    return None if best is None else (best[1], best[2])


def _timing(arr: NetArrays, hw: HardwareSpec, caps: ResourceCaps, start: int, end: int):
    """The context's timing at its highest rate within ``caps``, no faster than its PCIe traffic
    allows (:func:`cost_model.context.raised_timing`); None when it does not fit."""
    fit = context_fit(arr.pairs[start : end + 1], hw, caps)
    if not fit.fits:
        return None
    return raised_timing(arr.pairs[start : end + 1], hw, fit, **_pcie(arr, hw, start, end))


def _max_fps(arr: NetArrays, hw: HardwareSpec) -> list[float]:
    from cost_model.lowering import profile_layer

    return [profile_layer(layer, hw, fan_out).max_fps for layer, fan_out in arr.pairs]


# -- parameters ----------------------------------------------------------------------------------
# Hardware constants (``cost_model/params.py``, fields of HardwareSpec) and the grids the
# coordinate search tries.
GRIDS: dict[str, Sequence] = {
    "compute_efficiency": (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0),
    "dwconv_efficiency": (0.005, 0.0075, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3),
    "dwconv_kernel_exponent": (0.0, 0.5, 1.0),
    "matmul_efficiency": (0.1, 0.2, 0.3, 0.5, 0.66, 0.8),
    "elements_per_sc_per_cycle": (0.25, 0.5, 1.0, 2.0, 4.0, 8.0),
    "max_nodes_per_layer": (2, 4, 6, 8, 12, 16),
    "l3_cut_bytes": (16384, 24576, 32768, 40960),
    # joins hold the rows a parallel path delivers early (cost_model/skips.py)
    "skip_buffers": (False, True),
    "config_bytes_per_node": (0, 4096, 16384, 32768, 65536),
    "context_switch_overhead_s": (0.0, 0.25e-3, 0.5e-3, 1e-3, 2e-3),
    "pipeline_fill_frames": (0.0, 0.5, 1.0, 2.0),
    "shortcut_nodes": (0, 1),
    "fused_ops": (("activation",), ("activation", "add")),
    "pcie_row_overhead_s": (0.0, 0.25e-6, 0.5e-6, 1e-6, 1.5e-6),
    "pcie_transfer_overhead_s": (0.0, 25e-6, 50e-6, 100e-6, 150e-6, 200e-6),
    "pcie_out_row_overhead_s": (0.0, 0.25e-6, 0.5e-6, 1e-6, 1.5e-6, 2e-6),
    "pcie_overhead_between_contexts": (True, False),
    "sc_cycles_per_row": (0.0, 1000.0, 2000.0, 4000.0, 8000.0),
    "extra_nodes_by_op": (
        (),
        (("norm", 2), ("softmax", 2)),
        (("norm", 4), ("softmax", 3)),
        (("norm", 8), ("softmax", 6)),
    ),
}
# Compiler-flow parameters (partitioner/flows.py FlowParams) and the Model Zoo's host link.
FLOW_GRIDS: dict[str, Sequence] = {
    "raised_control": (0.75, 0.85, 1.0, 1.1, 1.175),
    "raised_compute": (0.75, 0.85, 0.92, 1.0),
    "raised_memory": (0.75, 0.85, 0.92, 1.0),
    "raise_multi_context": (False, True),
    # the multi-context raise's compute ceiling, or None for the single context's
    "multi_raised_compute": (None, 0.75, 0.85, 0.92, 1.0),
    "decide_at_raised_caps": (False, True),
    # one context may pass the 75% caps on nodes or on memory, not both (FlowParams)
    "single_raise_one_class": (False, True),
    "implicit_compression": (0.0, 0.1, 0.2, 0.4),
    "performance_single_cap": (0.75, 0.85, 1.0),
    # Lanes of the Gen3 host link the table was measured on, or 0 for each preset's own link
    # (Hailo-8 x4, Hailo-8L x2).
    "link_lanes": (4, 0),
    # Lanes of the Gen3 link the compiler decides Hailo-8L's partition at (its module's x2, or
    # Hailo-8's x4): cost_model.params.HAILO8L_COMPILER_LINK_LANES.
    "compiler_lanes_8l": (2, 4),
}
INT_PARAMS = {"max_nodes_per_layer", "l3_cut_bytes", "config_bytes_per_node", "shortcut_nodes"}
SHARES = FLOW_GRIDS["implicit_compression"]


@dataclass(frozen=True, kw_only=True)
class Params:
    hw: dict
    flow: dict

    def spec(self, device: str) -> HardwareSpec:
        lanes = self.flow["link_lanes"] or preset(device).link.lanes
        link = PcieLink(generation=3, lanes=lanes)
        values = {
            k: (v if isinstance(v, (tuple, bool)) else int(v) if k in INT_PARAMS else float(v))
            for k, v in self.hw.items()
        }
        if device == "hailo8l":
            compiler = self.flow.get("compiler_lanes_8l", HAILO8L_COMPILER_LINK_LANES)
            values["compiler_link"] = PcieLink(generation=3, lanes=int(compiler))
        return preset(device).with_params(link=link, **values)

    def flow_params(self) -> FlowParams:
        f = self.flow
        raised = ResourceCaps(
            control=f["raised_control"],
            compute=f["raised_compute"],
            memory=f["raised_memory"],
            apu=f["raised_control"],  # one APU and one IA per node, as one LCU
            input_aligner=f["raised_control"],
        )
        multi = f.get("multi_raised_compute")
        return replace(
            FLOW_PARAMS,
            raised_caps=raised,
            raise_multi_context=bool(f["raise_multi_context"]),
            multi_raised_caps=None if multi is None else replace(raised, compute=float(multi)),
            decide_at_raised_caps=bool(f.get("decide_at_raised_caps", False)),
            single_raise_one_class=bool(f.get("single_raise_one_class", False)),
            implicit_compression=float(f["implicit_compression"]),
            performance_single_caps=ResourceCaps.uniform(f["performance_single_cap"]),
        )

    def with_value(self, key: str, value: object) -> Params:
        if key in FLOW_GRIDS:
            return replace(self, flow={**self.flow, key: value})
        return replace(self, hw={**self.hw, key: value})

    def value(self, key: str) -> object:
        return self.flow[key] if key in FLOW_GRIDS else self.hw[key]

    def as_dict(self) -> dict:
        return {"hw": self.hw, "flow": self.flow}


def current_params() -> Params:
    """The constants in the code: ``cost_model/params.py`` and ``partitioner/flows.py``."""
    hw8 = preset("hailo8")
    fp = FLOW_PARAMS
    return Params(
        hw={k: getattr(hw8, k) for k in GRIDS},
        flow={
            "raised_control": fp.raised_caps.control,
            "raised_compute": fp.raised_caps.compute,
            "raised_memory": fp.raised_caps.memory,
            "raise_multi_context": fp.raise_multi_context,
            "multi_raised_compute": (
                None if fp.multi_raised_caps is None else fp.multi_raised_caps.compute
            ),
            "decide_at_raised_caps": fp.decide_at_raised_caps,
            "single_raise_one_class": fp.single_raise_one_class,
            "implicit_compression": fp.implicit_compression,
            "performance_single_cap": fp.performance_single_caps.control,
            "link_lanes": MODEL_ZOO_LINK_LANES,
            "compiler_lanes_8l": HAILO8L_COMPILER_LINK_LANES,
        },
    )


MODEL_ZOO_LINK_LANES = 4
"""[calibrated] The Model Zoo's figures are measured with both chips on a Gen3 x4 host link (the
Hailo-8L rows reload weights faster than the M.2 module's Gen3 x2 carries); ``ctxfit compile``
keeps each preset's own link."""


# -- evaluation ----------------------------------------------------------------------------------
_POOL: dict = {}  # the worker pool and the plans it was forked with


def _predict_job(job: tuple) -> Prediction | None:
    i, params = job
    plan = _POOL["plans"][i]
    return predict(plan, params.spec(plan.row.device), params.flow_params())


def evaluate(plans: Sequence[RowPlan], params: Params, only: Sequence[int] | None = None):
    """Predictions for each plan (None where nothing fits; only the indices ``only``)."""
    import multiprocessing as mp

    if _POOL.get("plans") is not plans:
        if "pool" in _POOL:
            _POOL["pool"].terminate()
        _POOL["plans"] = plans  # inherited by the forked workers
        _POOL["pool"] = mp.get_context("fork").Pool(max(1, min(mp.cpu_count(), 8)))
    indices = list(range(len(plans))) if only is None else list(only)
    order = sorted(indices, key=lambda i: -len(next(iter(plans[i].arrays.values())).pairs))
    results = _POOL["pool"].map(_predict_job, [(i, params) for i in order], chunksize=1)
    preds: list[Prediction | None] = [None] * len(plans)
    for i, pred in zip(order, results, strict=True):
        preds[i] = pred
    return preds


def _log_err(pred: float, pub: float) -> float:
    return math.log(max(pred, 1e-9) / pub)


MISMATCH_PENALTY = 1.0  # loss added for a wrong single/multi verdict (in the loss's log units)
CLIP = math.log(4)
# Context counts published besides the table (HAILO.md section 3).
KNOWN_CONTEXTS = {("hailo8", "vit_base"): 8, ("hailo8l", "yolov8s"): 4}
LOSS_KINDS = ("absolute", "squared")
LOSS = "absolute"
"""[calibration choice] How a row's log FPS errors add up: ``absolute`` (``|log error|``, the
loss whose minimiser is a median, the figure the fidelity goals state) or ``squared`` (the
mean's, which lets a few far rows pull every constant). Measured on the 192-row proxy: the
squared-loss fit had median |error| 20.0% / 17.6% at batch 1 / 8 and 186/192 verdicts
leave-one-network-out; refitted from it with the absolute loss, 18.2% / 17.9% and 187/192
(RESULTS "Calibration"; end to end, "Fidelity")."""


def _error_loss(log_error: float, kind: str) -> float:
    """One log error's loss, clipped at log 4.

    >>> half = -math.log(2)
    >>> round(_error_loss(half, "absolute"), 4), round(_error_loss(half, "squared"), 4)
    (0.6931, 0.4805)
    """
    clipped = min(abs(log_error), CLIP)
    if kind not in LOSS_KINDS:
        raise ValueError(f"loss kind {kind!r}: use one of {LOSS_KINDS}")
    return clipped if kind == "absolute" else clipped**2


def row_loss(row: Row, pred: Prediction | None, kind: str = LOSS) -> float:
    """The log FPS errors at batch 1 and 8 (each clipped at log 4; ``|e|`` or ``e**2`` by
    ``kind``), + 1 for a wrong single/multi verdict, + the same loss of the log error of a
    published context count."""
    if pred is None:
        return 2 * _error_loss(CLIP, kind) + MISMATCH_PENALTY
    total = sum(
        _error_loss(_log_err(p, q), kind)
        for p, q in ((pred.fps_b1, row.fps_b1), (pred.fps_b8, row.fps_b8))
    )
    if pred.single != row.single:
        total += MISMATCH_PENALTY
    known = KNOWN_CONTEXTS.get((row.device, row.network))
    if known is not None:
        total += _error_loss(math.log(pred.contexts / known), kind)
    return total


def loss(
    plans: Sequence[RowPlan],
    preds: Sequence[Prediction | None],
    skip: str = "",
    kind: str = LOSS,
) -> float:
    """Mean :func:`row_loss` over the rows (those of network ``skip`` left out)."""
    values = [
        row_loss(p.row, q, kind) for p, q in zip(plans, preds, strict=True) if p.row.network != skip
    ]
    return sum(values) / max(len(values), 1)


REFINE_FACTORS = (0.7, 0.85, 1.15, 1.4)  # tried around a continuous parameter's value
LOCAL_FACTORS = (0.85, 1.15)  # the leave-one-out refits search only near the in-sample fit


def candidates(key: str, current: object, *, local: bool = False) -> list:
    """Values the search tries for ``key``: its grid, and for a numeric hardware parameter also
    the current value scaled by ``REFINE_FACTORS``. ``local``: only the grid values next to the
    current one and ``LOCAL_FACTORS``.

    >>> candidates("raise_multi_context", False)
    [True]
    >>> candidates("compute_efficiency", 0.5, local=True)
    [0.4, 0.6, 0.425, 0.575]
    """
    grid = list({**GRIDS, **FLOW_GRIDS}[key])
    values = grid
    numeric = isinstance(current, (int, float)) and not isinstance(current, bool)
    if local:
        if current in grid:
            i = grid.index(current)
            values = grid[max(0, i - 1) : i + 2]
        elif numeric:
            above = [v for v in grid if v > current]
            below = [v for v in grid if v < current]
            values = ([max(below)] if below else []) + ([min(above)] if above else [])
    if key in GRIDS and numeric and current > 0 and key != "shortcut_nodes":
        for factor in LOCAL_FACTORS if local else REFINE_FACTORS:
            value = current * factor
            values = [*values, max(1, round(value)) if key in INT_PARAMS else round(value, 12)]
    out = []
    accepted = HARDWARE_RANGES.get(key)
    for v in values:
        if accepted is not None and not accepted.contains(v):
            continue  # outside what a hardware file may set (an efficiency above 1)
        if v != current and v not in out:
            out.append(v)
    return out


def keys_of(fixed: dict) -> list[str]:
    return [k for k in [*GRIDS, *FLOW_GRIDS] if k not in fixed]


def fit(
    plans: Sequence[RowPlan],
    start: Params,
    *,
    rounds: int = 2,
    fixed: dict | None = None,
    log: bool = False,
    kind: str = LOSS,
) -> tuple[Params, float]:
    """Coordinate search: for each parameter in turn (those in ``fixed`` stay), keep the
    candidate value with the least loss; stop after ``rounds`` rounds or a round without
    improvement."""
    best = start
    for key, value in (fixed or {}).items():
        best = best.with_value(key, value)
    best_loss = loss(plans, evaluate(plans, best), kind=kind)
    for r in range(rounds):
        improved = False
        for key in keys_of(fixed or {}):
            for value in candidates(key, best.value(key)):
                candidate = best.with_value(key, value)
                current = loss(plans, evaluate(plans, candidate), kind=kind)
                if current < best_loss - 1e-12:
                    best, best_loss, improved = candidate, current, True
            if log:
                print(f"  round {r + 1} {key} = {best.value(key)!r}  loss {best_loss:.4f}")
        if not improved:
            break
    return best, best_loss


def leave_one_out(
    plans: Sequence[RowPlan], best: Params, *, fixed: dict | None = None, kind: str = LOSS
) -> tuple[dict[str, Params], list[Prediction | None]]:
    """Per network: parameters refitted without its rows (see the module docstring), and the
    proxy's prediction of its rows at them."""
    base = evaluate(plans, best)
    moves: dict[str, list[tuple[object, list]]] = {}
    for key in keys_of(fixed or {}):
        moves[key] = [(best.value(key), base)] + [
            (v, evaluate(plans, best.with_value(key, v)))
            for v in candidates(key, best.value(key), local=True)
        ]
    per_net: dict[str, Params] = {}
    preds: list[Prediction | None] = [None] * len(plans)
    for name in sorted({p.row.network for p in plans}):
        params = best
        for key, options in moves.items():
            value, _ = min(options, key=lambda o: loss(plans, o[1], skip=name, kind=kind))
            params = params.with_value(key, value)
        per_net[name] = params
        own = [i for i, p in enumerate(plans) if p.row.network == name]
        got = evaluate(plans, params, only=own)
        for i in own:
            preds[i] = got[i]
    return per_net, preds


# -- reporting -----------------------------------------------------------------------------------
def _pct(pred: float, pub: float) -> float:
    return 100.0 * (pred - pub) / pub


def _sm(single: bool) -> str:
    return "single" if single else "multi"


def table(plans: Sequence[RowPlan], preds: Sequence[Prediction | None], title: str) -> list[str]:
    lines = [
        f"### {title}",
        "",
        "| device | network | ctx pred | single? pub/pred | FPS b1 pub | b1 pred | err | "
        "FPS b8 pub | b8 pred | err |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for plan, pred in zip(plans, preds, strict=True):
        row = plan.row
        if pred is None:
            lines.append(
                f"| {row.device} | {row.network} | - | {_sm(row.single)}/- | "
                f"{row.fps_b1:g} | - | - | {row.fps_b8:g} | - | - |"
            )
            continue
        ok = "" if pred.single == row.single else " **x**"
        lines.append(
            f"| {row.device} | {row.network} | {pred.contexts} | "
            f"{_sm(row.single)}/{_sm(pred.single)}{ok} | {row.fps_b1:g} | {pred.fps_b1:.1f} | "
            f"{_pct(pred.fps_b1, row.fps_b1):+.0f}% | {row.fps_b8:g} | {pred.fps_b8:.1f} | "
            f"{_pct(pred.fps_b8, row.fps_b8):+.0f}% |"
        )
    return [*lines, "", *summary([p.row for p in plans], preds), ""]


def summary(rows: Sequence[Row], preds: Sequence[Prediction | None]) -> list[str]:
    """Median and worst |FPS error| at batch 1 and 8 and single/multi right, over all rows and
    per task family."""
    out = []
    groups = {"all": list(range(len(rows)))}
    for i, r in enumerate(rows):
        groups.setdefault(r.family, []).append(i)
    out.append("| rows | n | single/multi right | median b1 | worst b1 | median b8 | worst b8 |")
    out.append("|---|---:|---:|---:|---:|---:|---:|")
    for name, idx in groups.items():
        got = [i for i in idx if preds[i] is not None]
        right = sum(preds[i].single == rows[i].single for i in got)  # type: ignore[union-attr]
        cells = []
        for attr in ("fps_b1", "fps_b8"):
            errs = [abs(_pct(getattr(preds[i], attr), getattr(rows[i], attr))) for i in got]
            cells += [f"{np.median(errs):.1f}%", f"{max(errs):.0f}%"] if errs else ["-", "-"]
        out.append(f"| {name} | {len(idx)} | {right}/{len(idx)} | {' | '.join(cells)} |")
    for i, r in enumerate(rows):
        known = KNOWN_CONTEXTS.get((r.device, r.network))
        if known is not None:
            got_k = preds[i].contexts if preds[i] is not None else "-"  # type: ignore[union-attr]
            out.append(f"- {r.network} on {r.device}: {got_k} contexts (published: {known})")
    return out


def median_errors(rows: Sequence[Row], preds: Sequence[Prediction | None]) -> tuple:
    """(median b1 %, median b8 %, single/multi right, rows) for comparisons."""
    got = [(r, p) for r, p in zip(rows, preds, strict=True) if p is not None]
    b1 = float(np.median([abs(_pct(p.fps_b1, r.fps_b1)) for r, p in got])) if got else math.nan
    b8 = float(np.median([abs(_pct(p.fps_b8, r.fps_b8)) for r, p in got])) if got else math.nan
    return b1, b8, sum(p.single == r.single for r, p in got), len(rows)


def versions() -> str:
    import importlib.metadata as md

    parts = [f"Python {platform.python_version()}", f"numpy {np.__version__}"]
    for pkg in ("torch", "ctxfit"):
        try:
            parts.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            pass
    return ", ".join(parts)


def write_results(section: list[str], path: Path = RESULTS) -> None:
    """Replace (or append) the "## Calibration" section of ``path`` (benchmarks/RESULTS.md) with
    ``section`` (which starts with that heading), through :func:`benchmarks.common.write_section`.
    """
    heading, *body = section
    if heading != f"## {SECTION}":
        raise ValueError(f"the section starts with {heading!r}, not '## {SECTION}'")
    while body and body[0] == "":
        body.pop(0)  # write_section puts the blank line under the heading
    write_section(SECTION, body, path)


ALTERNATIVES: dict[str, dict] = {
    # how far the default flow raises utilization, whether the multi-context flow raises it too,
    # and whether one context is decided at the raised caps or at 75% (the raise for FPS only)
    "no raise": {"raised_control": 0.75, "raised_compute": 0.75, "raised_memory": 0.75,
                 "raise_multi_context": False, "multi_raised_compute": None,
                 "decide_at_raised_caps": False},
    "raise single context": {"raise_multi_context": False, "decide_at_raised_caps": False},
    "raise single and multi": {"raise_multi_context": True, "decide_at_raised_caps": False},
    "raise both, decide one context at the raised caps": {
        "raise_multi_context": True, "decide_at_raised_caps": True},
}  # fmt: skip


def _pred_dict(p: Prediction | None) -> dict | None:
    return None if p is None else asdict(p)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.calibrate", description=__doc__)
    parser.add_argument("--no-fit", action="store_true", help="only evaluate the current constants")
    parser.add_argument("--rounds", type=int, default=2, help="coordinate-search rounds")
    parser.add_argument("--write", action="store_true", help="write benchmarks/RESULTS.md")
    parser.add_argument(
        "--alternatives",
        nargs="+",
        choices=list(ALTERNATIVES),
        default=list(ALTERNATIVES),
        help="the flow alternatives to fit and compare by leave-one-network-out error",
    )
    parser.add_argument("--networks", nargs="+", help="only these networks (a quick look)")
    parser.add_argument(
        "--loss",
        choices=LOSS_KINDS,
        default=LOSS,
        help="how the rows' log FPS errors add up (default: %(default)s; see LOSS)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path("/tmp/ctxfit-calibrate-cache"),
        help="folder for imported layer graphs (default: %(default)s)",
    )
    parser.add_argument(
        "--set",
        action="append",
        metavar="KEY=VALUE",
        help="start the search from this value (a Python literal; repeatable)",
    )
    parser.add_argument(
        "--reuse-cache",
        action="store_true",
        help="use the newest cached layer graphs even if the zoo changed",
    )
    args = parser.parse_args(argv)

    t0 = time.perf_counter()
    all_rows = load_rows()
    if args.networks:
        all_rows = [r for r in all_rows if r.network in args.networks]
    nets, failed = load_networks((r.network for r in all_rows), args.cache, reuse=args.reuse_cache)
    rows = [r for r in all_rows if r.network in nets]
    plans = plan_rows(rows, nets, SHARES)
    print(f"{len(rows)} rows on {len(nets)} networks ({time.perf_counter() - t0:.1f} s to load)")
    for name, why in failed.items():
        print(f"  skipped {name}: {why}")

    start = current_params()
    for item in args.set or ():
        key, _, value = item.partition("=")
        start = start.with_value(key, ast.literal_eval(value))
    results: dict[str, dict] = {}
    for name in [] if args.no_fit else args.alternatives:
        fixed = ALTERNATIVES[name]
        print(f"fitting: {name}")
        params, best = fit(plans, start, rounds=args.rounds, fixed=fixed, log=True, kind=args.loss)
        per_net, loo = leave_one_out(plans, params, fixed=fixed, kind=args.loss)
        results[name] = {
            "params": params,
            "loss": best,
            "loo_params": per_net,
            "insample": evaluate(plans, params),
            "loo": loo,
        }
        start = params  # the next alternative starts from here
    if args.no_fit:
        results["current constants"] = {
            "params": start,
            "loss": loss(plans, evaluate(plans, start), kind=args.loss),
            "loo_params": {},
            "insample": evaluate(plans, start),
            "loo": None,
        }
    chosen = min(
        results,
        key=lambda n: (
            loss(plans, results[n]["loo"], kind=args.loss)
            if results[n]["loo"]
            else results[n]["loss"]
        ),
    )
    section = _section(args, plans, nets, failed, results, chosen, time.perf_counter() - t0)
    print("\n".join(section))
    if args.write:
        write_results(section)
        _save(plans, results, chosen, kind=args.loss)
    return 0


def _section(args, plans, nets, failed, results, chosen, wall) -> list[str]:
    rows = [p.row for p in plans]
    section = [
        f"## {SECTION}",
        "",
        f"`python -m benchmarks.calibrate{' --write' if args.write else ''}"
        f"{'' if args.loss == LOSS else ' --loss ' + args.loss}` on "
        f"{platform.node() or 'this machine'} ({platform.machine()}, {platform.system()}), "
        f"{date.today().isoformat()}; {versions()}.",
        "",
        f"{len(rows)} rows of `partitioner/data/model_zoo_v2.18.csv` on {len(nets)} networks, "
        "each under its own Model Zoo script (`ctxfit compile NAME --hw DEVICE`'s default). "
        "These are the **proxy's** figures (see `benchmarks/calibrate.py`); the end-to-end "
        "figures of `ctxfit compile` itself are in the section Fidelity.",
        "",
    ]
    if failed:
        section.append(
            "Not calibrated (the zoo cannot build them): "
            + ", ".join(f"`{n}` ({why})" for n, why in failed.items())
        )
        section.append("")
    section += [
        "Flow alternatives (how far the default flow raises utilization, whether the "
        "multi-context flow raises it too, and whether one context is decided at the raised "
        "caps or at 75% with the raise for FPS only), each fitted in full; the one with the "
        f"least leave-one-network-out loss ({args.loss} log error, `LOSS`) is chosen:",
        "",
        "| alternative | loss in-sample | loss LOO | median b1 LOO | median b8 LOO | "
        "single/multi LOO |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        loo_loss = loss(plans, r["loo"], kind=args.loss) if r["loo"] else math.nan
        b1, b8, right, n = median_errors(rows, r["loo"] or r["insample"])
        mark = " (chosen)" if name == chosen else ""
        section.append(
            f"| {name}{mark} | {r['loss']:.4f} | {loo_loss:.4f} | {b1:.1f}% | {b8:.1f}% | "
            f"{right}/{n} |"
        )
    best = results[chosen]
    section += ["", f"Fitted values ({chosen}):", ""]
    section += [f"- `{k}` = {best['params'].value(k)!r}" for k in {**GRIDS, **FLOW_GRIDS}]
    section += [""]
    section += table(plans, best["insample"], f"Proxy, in-sample ({chosen})")
    if best["loo"]:
        section += table(plans, best["loo"], f"Proxy, leave one network out ({chosen})")
    section.append(f"Wall time {wall:.0f} s.")
    return section


def _save(
    plans: Sequence[RowPlan], results: dict, chosen: str, path: Path = SAVED, kind: str = LOSS
) -> None:
    """The chosen fit, its leave-one-out parameters and the proxy's predictions, for
    ``benchmarks.fidelity``."""
    best = results[chosen]
    data = {
        "date": date.today().isoformat(),
        "chosen": chosen,
        "loss": kind,
        "params": best["params"].as_dict(),
        "loo_params": {n: p.as_dict() for n, p in best["loo_params"].items()},
        "proxy": [
            {
                "device": p.row.device,
                "network": p.row.network,
                "insample": _pred_dict(a),
                "loo": _pred_dict(b) if best["loo"] else None,
            }
            for p, a, b in zip(
                plans, best["insample"], best["loo"] or [None] * len(plans), strict=True
            )
        ],
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=1, default=_jsonable) + "\n")


def _jsonable(value: object) -> object:
    if isinstance(value, tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def params_from_dict(data: dict) -> Params:
    """A :class:`Params` saved by :func:`_save` (lists back to tuples)."""

    def tup(v: object) -> object:
        return tuple(tup(x) for x in v) if isinstance(v, list) else v

    return Params(hw={k: tup(v) for k, v in data["hw"].items()}, flow=dict(data["flow"]))


if __name__ == "__main__":
    sys.exit(main())
