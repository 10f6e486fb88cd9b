"""Calibrate the cost model's free parameters on the Hailo Model Zoo table.

Run ``python -m benchmarks.calibrate`` (``--help`` for options). For every network of
``data/hailo_model_zoo_calibration.csv`` that the zoo and the torch importer can build, on each
device, it predicts what the compiler does:

1. **single-context flow**: the whole network at the single-context caps
   (``context_fit``); if it fits at all, it is one context and its FPS is the fitted rate (or the
   PCIe rate of its inputs and outputs, whichever is lower), the same at every batch size;
2. **multi-context flow** otherwise: a contiguous split of the topological order at the
   multi-context caps, greedy at each level of a geometric rate grid (open a new context when the
   next layer would pass a cap or the edge-layer limit), keeping the level with the best FPS at
   the optimised batch size; each context then runs at its own ``context_fit`` rate and
   ``T(B) = sum_c S_c + B t_c`` gives FPS at batch 1 and 8.

It then fits the free parameters jointly over all rows (a coordinate search over small grids,
numpy only), and prints predicted against published FPS at batch 1 and 8 and single/multi
context per row, with the median and worst error in-sample and leave-one-network-out.
``--write`` records the table in ``benchmarks/RESULTS.md`` (section "Calibration").
"""

from __future__ import annotations

import argparse
import ast
import csv
import hashlib
import math
import platform
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

import numpy as np

from benchmarks.common import write_section
from cost_model.caps import ResourceCaps, limits
from cost_model.context import context_fit
from cost_model.hardware import HardwareSpec, PcieLink, preset
from cost_model.lowering import demand_matrix, tensor_rows
from cost_model.ranges import HARDWARE_RANGES
from cost_model.throughput import ContextTiming, fps_at_batch

ROOT = Path(__file__).resolve().parent.parent
CSV_CANDIDATES = (
    ROOT / "data" / "hailo_model_zoo_calibration.csv",
    Path("/work/shared/data/hailo_model_zoo_calibration.csv"),
)
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "Calibration"
DEVICES = ("hailo8", "hailo8l")
LEVELS = 32  # geometric rate grid per network and device
BATCHES = (1, 8)


# -- data ----------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Row:
    """One row of the Model Zoo table."""

    device: str
    network: str
    fps_b1: float
    fps_b8: float

    @property
    def single(self) -> bool:
        """Equal FPS at batch 1 and 8 means one context (HAILO.md section 3)."""
        return abs(self.fps_b1 - self.fps_b8) <= 1e-9 * self.fps_b8


def csv_path() -> Path:
    for path in CSV_CANDIDATES:
        if path.is_file():
            return path
    raise SystemExit(f"calibration table not found at {', '.join(map(str, CSV_CANDIDATES))}")


def load_rows(path: Path) -> list[Row]:
    with path.open() as f:
        return [
            Row(
                device=r["device"],
                network=r["network"],
                fps_b1=float(r["fps_batch1"]),
                fps_b8=float(r["fps_batch8"]),
            )
            for r in csv.DictReader(f)
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


# -- prediction ----------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Settings:
    """How the Model Zoo compiled: the caps of each flow and the batch the split optimises."""

    single_cap: float = 1.0
    multi_cap: float = 1.0
    optimize_batch: int = 1
    # Lanes of the Gen3 host link the table was measured on, or 0 for each preset's own link
    # (Hailo-8 x4, Hailo-8L x2). The Hailo-8L rows reload weights at 2.6-4.5 GB/s, more than
    # Gen3 x2 carries (1.97 GB/s raw), unless part of their weights is 4-bit: the fit decides.
    link_lanes: int = 4


@dataclass(frozen=True, kw_only=True)
class Prediction:
    contexts: int
    fps_b1: float
    fps_b8: float

    @property
    def single(self) -> bool:
        return self.contexts == 1


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


def _pcie(arr: NetArrays, start: int, end: int) -> dict[str, int]:
    """PCIe traffic per frame of a context [start, end] (ContextTiming keyword arguments): the
    tensors it reads from host memory (earlier contexts' outputs, graph inputs) and those it
    writes there (for later contexts, graph outputs), in bytes and rows."""
    read: dict = {}
    for i in range(start, end + 1):
        for p in arr.producers[i]:
            if p < start:
                read[("l", p)] = (arr.out_bytes[p], arr.out_rows[p])
        for g, nbytes, rows in arr.graph_inputs[i]:
            read[("g", g)] = (nbytes, rows)
    written = [
        (arr.out_bytes[j], arr.out_rows[j])
        for j in range(start, end + 1)
        if arr.last_consumer[j] > end
    ]
    out_bytes, out_rows = sum(b for b, _ in written), sum(r for _, r in written)
    return {
        "pcie_bytes_per_frame": sum(b for b, _ in read.values()) + out_bytes,
        "pcie_rows_per_frame": sum(r for _, r in read.values()) + out_rows,
        "pcie_out_bytes_per_frame": out_bytes,
        "pcie_out_rows_per_frame": out_rows,
    }


def _timing(arr: NetArrays, hw: HardwareSpec, caps: ResourceCaps, start: int, end: int):
    fit = context_fit(arr.pairs[start : end + 1], hw, caps)
    if not fit.fits:
        return None
    return fit.timing(**_pcie(arr, start, end))


def predict(arr: NetArrays, hw: HardwareSpec, settings: Settings) -> Prediction | None:
    """What the compiler would do with ``arr`` on ``hw`` (None: nothing fits)."""
    single = _timing(arr, hw, ResourceCaps.uniform(settings.single_cap), 0, len(arr.pairs) - 1)
    if single is not None:
        fps = fps_at_batch([single], 1, hw)
        return Prediction(contexts=1, fps_b1=fps, fps_b8=fps)
    caps = ResourceCaps.uniform(settings.multi_cap)
    limit = limits(caps, hw).as_tuple()
    max_fps = min(_max_fps(arr, hw))
    levels = np.geomspace(max_fps * 1e-3, max_fps, LEVELS)
    demand = demand_matrix(arr.pairs, hw, levels.tolist())
    nodes = demand[:, :, 0] // max(hw.lcus_per_node, 1)
    best = None
    seen: set = set()
    for k in range(LEVELS):
        segments = _segments_at_level(
            arr, [tuple(row) for row in demand[k].tolist()], limit, hw.edge_layers_per_context
        )
        if segments is None or (tuple(segments), k) in seen:
            continue
        timings = []
        for s, e in segments:
            timings.append(
                ContextTiming(
                    compute_fps=float(levels[k]),
                    weight_bytes=arr.weight_prefix[e + 1] - arr.weight_prefix[s],
                    config_bytes=int(nodes[k, s : e + 1].sum()) * hw.config_bytes_per_node,
                    **_pcie(arr, s, e),
                )
            )
        score = fps_at_batch(timings, settings.optimize_batch, hw)
        if best is None or score > best[0]:
            best = (score, segments)
    if best is None:
        return None
    timings = [_timing(arr, hw, caps, s, e) for s, e in best[1]]
    if any(t is None for t in timings):
        return None
    return Prediction(
        contexts=len(timings),
        fps_b1=fps_at_batch(timings, 1, hw),
        fps_b8=fps_at_batch(timings, 8, hw),
    )


def _max_fps(arr: NetArrays, hw: HardwareSpec) -> list[float]:
    from cost_model.lowering import profile_layer

    return [profile_layer(layer, hw, fan_out).max_fps for layer, fan_out in arr.pairs]


# -- fitting -------------------------------------------------------------------------------------
# Free parameters and the grids the coordinate search tries. HardwareSpec fields apply to both
# devices; Settings fields are the Model Zoo's compile settings.
GRIDS: dict[str, Sequence[float]] = {
    "compute_efficiency": (0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 1.0),
    "dwconv_efficiency": (0.01, 0.02, 0.03, 0.05, 0.08, 0.11, 0.15, 0.2),
    "matmul_efficiency": (0.1, 0.2, 0.3, 0.5, 0.66, 0.8),
    "elements_per_sc_per_cycle": (1.0, 2.0, 4.0, 8.0, 16.0, 32.0),
    "max_nodes_per_layer": (2, 4, 6, 8, 12, 16, 24, 32),
    "l3_cut_bytes": (8192, 12288, 16384, 20480, 24576, 32768, 40960),
    "config_bytes_per_node": (0, 1024, 4096, 16384, 65536),
    "context_switch_overhead_s": (0.0, 0.25e-3, 0.5e-3, 1e-3, 2e-3, 4e-3),
    "pipeline_fill_frames": (0.0, 0.5, 1.0, 2.0, 4.0),
    "shortcut_nodes": (0, 1),
    "fused_ops": (("activation",), ("activation", "add")),
    "pcie_row_overhead_s": (0.0, 0.5e-6, 1e-6, 1.5e-6, 2e-6, 3e-6),
    "sc_cycles_per_row": (0.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0),
    "extra_nodes_by_op": (
        (),
        (("norm", 2), ("softmax", 2)),
        (("norm", 4), ("softmax", 3)),
        (("norm", 6), ("softmax", 4)),
        (("norm", 8), ("softmax", 6)),
        (("norm", 10), ("softmax", 8)),
    ),
}
SETTINGS_GRIDS: dict[str, Sequence[float]] = {
    "single_cap": (0.75, 0.85, 1.0, 1.2),
    "multi_cap": (0.6, 0.75, 0.85, 1.0, 1.2),
    "link_lanes": (4, 0),
}
INT_PARAMS = {"max_nodes_per_layer", "l3_cut_bytes", "config_bytes_per_node", "shortcut_nodes"}
MISMATCH_PENALTY = 1.0  # loss added for a wrong single/multi verdict (in squared-log units)
# Context counts published besides the table (HAILO.md section 3); a prediction off by a factor
# f adds log(f)^2 to the loss, like an FPS error.
KNOWN_CONTEXTS = {("hailo8", "vit_base"): 8, ("hailo8l", "yolov8s"): 4}


@dataclass(frozen=True, kw_only=True)
class Params:
    hw: dict[str, float]
    settings: Settings

    def spec(self, device: str) -> HardwareSpec:
        lanes = self.settings.link_lanes or preset(device).link.lanes
        link = PcieLink(generation=3, lanes=lanes, efficiency=self.hw_link_eff)
        values = {
            k: (v if isinstance(v, tuple) else int(v) if k in INT_PARAMS else float(v))
            for k, v in self.hw.items()
        }
        values.pop("pcie_efficiency", None)
        return preset(device).with_params(link=link, **values)

    @property
    def hw_link_eff(self) -> float:
        return float(self.hw.get("pcie_efficiency", PcieLink(generation=3, lanes=4).efficiency))

    def with_value(self, key: str, value: float) -> Params:
        if key in SETTINGS_GRIDS:
            return replace(self, settings=replace(self.settings, **{key: value}))
        return replace(self, hw={**self.hw, key: value})

    def value(self, key: str) -> float:
        return getattr(self.settings, key) if key in SETTINGS_GRIDS else self.hw[key]


def current_params() -> Params:
    hw8 = preset("hailo8")
    return Params(hw={k: getattr(hw8, k) for k in GRIDS}, settings=Settings())


_POOL: dict = {}  # the worker pool and the arrays it was forked with


def _predict_row(job: tuple) -> Prediction | None:
    network, device, params = job
    return predict(_POOL["arrays"][network], params.spec(device), params.settings)


def evaluate(rows: Sequence[Row], arrays: dict[str, NetArrays], params: Params):
    """Predictions for each row (None where nothing fits), on all cores."""
    import multiprocessing as mp

    if _POOL.get("arrays") is not arrays:
        if "pool" in _POOL:
            _POOL["pool"].terminate()
        _POOL["arrays"] = arrays  # inherited by the forked workers
        ctx = mp.get_context("fork")
        _POOL["pool"] = ctx.Pool(max(1, min(mp.cpu_count(), 8)))
    jobs = [(r.network, r.device, params) for r in rows]
    # the big networks first so the workers finish together
    order = sorted(range(len(jobs)), key=lambda i: -len(arrays[jobs[i][0]].pairs))
    results = _POOL["pool"].map(_predict_row, [jobs[i] for i in order], chunksize=1)
    preds: list[Prediction | None] = [None] * len(jobs)
    for i, pred in zip(order, results, strict=True):
        preds[i] = pred
    return preds


def _log_err(pred: float, pub: float) -> float:
    return math.log(max(pred, 1e-9) / pub)


def loss(rows: Sequence[Row], preds: Sequence[Prediction | None]) -> float:
    """Mean over rows of the squared log errors at batch 1 and 8 (each clipped at log 4 so one
    outlier cannot dominate), plus a penalty for a wrong single/multi verdict and the squared
    log error of the context counts in ``KNOWN_CONTEXTS``."""
    total = 0.0
    for row, pred in zip(rows, preds, strict=True):
        if pred is None:
            total += 2 * math.log(4) ** 2 + MISMATCH_PENALTY
            continue
        for p, q in ((pred.fps_b1, row.fps_b1), (pred.fps_b8, row.fps_b8)):
            total += min(_log_err(p, q) ** 2, math.log(4) ** 2)
        if pred.single != row.single:
            total += MISMATCH_PENALTY
        known = KNOWN_CONTEXTS.get((row.device, row.network))
        if known is not None:
            total += min(math.log(pred.contexts / known) ** 2, math.log(4) ** 2)
    return total / max(len(rows), 1)


REFINE_FACTORS = (0.7, 0.85, 1.15, 1.4)  # tried around a continuous parameter's value


LOCAL_FACTORS = (0.85, 1.15)  # the leave-one-out refits search only near the in-sample fit


def candidates(key: str, current: object, *, local: bool = False) -> list:
    """Values the search tries for ``key``: its grid, and for a numeric hardware parameter also
    the current value scaled by ``REFINE_FACTORS`` (so it can leave the grid). ``local``: only
    the grid values next to the current one and ``LOCAL_FACTORS``."""
    grid = list({**GRIDS, **SETTINGS_GRIDS}[key])
    values = grid
    if local:
        if current in grid:
            i = grid.index(current)
            values = grid[max(0, i - 1) : i + 2]
        elif isinstance(current, (int, float)) and not isinstance(current, bool):
            above = [v for v in grid if v > current]
            below = [v for v in grid if v < current]
            values = ([max(below)] if below else []) + ([min(above)] if above else [])
        else:
            values = grid
    numeric = isinstance(current, (int, float)) and not isinstance(current, bool)
    if key in GRIDS and numeric:
        if current > 0 and key != "shortcut_nodes":
            for factor in LOCAL_FACTORS if local else REFINE_FACTORS:
                value = current * factor
                values.append(max(1, round(value)) if key in INT_PARAMS else round(value, 12))
    out = []
    accepted = HARDWARE_RANGES.get(key)
    for v in values:
        if accepted is not None and not accepted.contains(v):
            continue  # outside what a hardware file may set (an efficiency above 1)
        if v != current and v not in out:
            out.append(v)
    return out


def fit(
    rows: Sequence[Row],
    arrays: dict[str, NetArrays],
    start: Params,
    *,
    rounds: int = 2,
    keys: Sequence[str] | None = None,
    log: bool = False,
    local: bool = False,
) -> tuple[Params, float]:
    """Coordinate search: for each parameter in turn, keep the candidate value with the least
    loss; stop after ``rounds`` rounds or a round without improvement."""
    best = start
    best_loss = loss(rows, evaluate(rows, arrays, best))
    for r in range(rounds):
        improved = False
        for key in keys or [*GRIDS, *SETTINGS_GRIDS]:
            for value in candidates(key, best.value(key), local=local):
                candidate = best.with_value(key, value)
                current = loss(rows, evaluate(rows, arrays, candidate))
                if current < best_loss - 1e-12:
                    best, best_loss, improved = candidate, current, True
            if log:
                print(f"  round {r + 1} {key} = {best.value(key)!r}  loss {best_loss:.4f}")
        if not improved:
            break
    return best, best_loss


METHOD = (
    "Method: a network is one context if it fits at the single-context caps (`single_cap`), "
    "with the FPS `context_fit` finds, capped by its PCIe traffic; otherwise it is split "
    "contiguously in topological order at `multi_cap`, greedily at each of 32 rate levels "
    "(the level with the best batch-1 FPS wins), each context then runs at its own "
    "`context_fit` rate and `T(B) = sum_c S_c + B t_c`. Both devices on a Gen3 x4 host link "
    "(`link_lanes`). Loss: mean squared log FPS error at batch 1 and 8 (clipped at log 4), "
    "+1 per wrong single/multi verdict, + squared log error of the published context counts. "
    "Search: coordinate descent over grids plus +-15-40% refinements. The hardware values are "
    "the constants of `cost_model/params.py`; the caps are `MODEL_ZOO_*_CAPS` in "
    "`cost_model/caps.py`. `ctx pred` is the predicted context count; an **x** marks a wrong "
    "single/multi verdict."
)


# -- reporting -----------------------------------------------------------------------------------
def _pct(pred: float, pub: float) -> float:
    return 100.0 * (pred - pub) / pub


def table(rows: Sequence[Row], preds: Sequence[Prediction | None], title: str) -> list[str]:
    lines = [
        f"### {title}",
        "",
        "| device | network | ctx pred | single? pub/pred | FPS b1 pub | b1 pred | err | "
        "FPS b8 pub | b8 pred | err |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row, pred in zip(rows, preds, strict=True):
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
    lines += ["", *summary(rows, preds), ""]
    return lines


def _sm(single: bool) -> str:
    return "single" if single else "multi"


def summary(rows: Sequence[Row], preds: Sequence[Prediction | None]) -> list[str]:
    out = []
    for batch, pub_key, pred_key in ((1, "fps_b1", "fps_b1"), (8, "fps_b8", "fps_b8")):
        errs = [
            abs(_pct(getattr(p, pred_key), getattr(r, pub_key)))
            for r, p in zip(rows, preds, strict=True)
            if p is not None
        ]
        missing = sum(p is None for p in preds)
        worst = max(errs) if errs else float("nan")
        out.append(
            f"- batch {batch}: median |error| {np.median(errs):.1f}%, worst {worst:.0f}%"
            + (f" ({missing} rows without a prediction)" if missing else "")
        )
    right = sum(p is not None and p.single == r.single for r, p in zip(rows, preds, strict=True))
    out.append(f"- single/multi context right on {right}/{len(rows)} rows")
    for r, p in zip(rows, preds, strict=True):
        known = KNOWN_CONTEXTS.get((r.device, r.network))
        if known is not None:
            got = p.contexts if p is not None else "-"
            out.append(f"- {r.network} on {r.device}: {got} contexts (published: {known})")
    return out


def leave_one_out(rows, arrays, start: Params, *, rounds: int) -> list[Prediction | None]:
    """Fit on all networks but one (both devices), predict that one; for every network."""
    preds: list[Prediction | None] = [None] * len(rows)
    for name in sorted({r.network for r in rows}):
        train = [r for r in rows if r.network != name]
        params, _ = fit(train, arrays, start, rounds=rounds, local=True)
        for i, r in enumerate(rows):
            if r.network == name:
                preds[i] = predict(arrays[name], params.spec(r.device), params.settings)
    return preds


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.calibrate", description=__doc__)
    parser.add_argument("--no-fit", action="store_true", help="only evaluate the current constants")
    parser.add_argument("--no-loo", action="store_true", help="skip leave-one-network-out")
    parser.add_argument("--rounds", type=int, default=2, help="coordinate-search rounds")
    parser.add_argument("--write", action="store_true", help="write benchmarks/RESULTS.md")
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
    all_rows = load_rows(csv_path())
    nets, failed = load_networks((r.network for r in all_rows), args.cache, reuse=args.reuse_cache)
    rows = [r for r in all_rows if r.network in nets]
    arrays = {name: NetArrays.from_network(net) for name, net in nets.items()}
    print(f"{len(rows)} rows on {len(nets)} networks ({time.perf_counter() - t0:.1f} s to load)")
    for name, why in failed.items():
        print(f"  skipped {name}: {why}")

    start = current_params()
    for item in args.set or ():
        key, _, value = item.partition("=")
        start = start.with_value(key, ast.literal_eval(value))
    if args.no_fit:
        params, best = start, loss(rows, evaluate(rows, arrays, start))
    else:
        params, best = fit(rows, arrays, start, rounds=args.rounds, log=True)
    preds = evaluate(rows, arrays, params)
    section = [
        f"## {SECTION}",
        "",
        f"`python -m benchmarks.calibrate{' --write' if args.write else ''}` on "
        f"{platform.node() or 'this machine'} ({platform.machine()}, {platform.system()}), "
        f"{date.today().isoformat()}; {versions()}.",
        "",
        f"{len(rows)} rows of `data/hailo_model_zoo_calibration.csv` on {len(nets)} networks.",
        "",
        METHOD,
    ]
    if failed:
        section.append(
            "Skipped (the importer cannot build them yet): "
            + ", ".join(f"`{n}` ({why})" for n, why in failed.items())
        )
    section += ["", "Fitted values (loss " + f"{best:.4f}):", ""]
    section += [f"- `{k}` = {params.value(k)!r}" for k in {**GRIDS, **SETTINGS_GRIDS}]
    section += [""]
    section += table(rows, preds, "In-sample")
    if not args.no_loo and not args.no_fit:
        loo = leave_one_out(rows, arrays, params, rounds=1)
        section += table(
            rows,
            loo,
            "Leave one network out: each network (both devices) predicted by parameters refitted "
            "without it (one round of local search from the in-sample optimum)",
        )
    section.append(f"Wall time {time.perf_counter() - t0:.0f} s.")
    print("\n".join(section))
    if args.write:
        write_results(section)
    return 0


if __name__ == "__main__":
    sys.exit(main())
