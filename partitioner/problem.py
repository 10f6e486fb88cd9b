"""The partitioning problem as the solver sees it: integers, ready to solve, and its answers.

A :class:`PartitionProblem` is built once (by :func:`partitioner.pricing.build_problem`, or by
hand in tests) and never changes. Every number the solver needs is already here: layers in
topological order, edges as index pairs, integer resource demands per FPS level, the caps already
multiplied out, and the link and switch figures. The model builder (:mod:`partitioner.cpsat_model`)
and the baselines (:mod:`partitioner.baselines`) loop over it; they never price a layer.

The objective is the batch time of the cost model (docs/HAILO.md section 3)::

    t_c  = max(1 / F_level(c), in_c / link, out_c / link)     (PCIe is full duplex)
    S_c  = switch_overhead + (weight_bytes_c + config_bytes_c(level)) / link + fill x t_c
    T(B) = sum_c (S_c + B x t_c)      (several contexts)
    T(B) = B x t_0                    (one context: nothing is reloaded)

(``cost_model.throughput``), counted in whole :data:`TIME_UNIT_S` (1 microsecond). Each term is
rounded *up* to a whole unit on its own (a level's frame time, a context's PCIe time, a context's
fill time, the reload of all weights and configuration), so the integer objective is never below
the exact one, and the model, the baselines and :func:`batch_time_units` agree to the unit.
``in_c`` counts the graph inputs and the tensors read back from host memory, ``out_c`` the graph
outputs and the tensors written to it; each tensor also costs ``rows x pcie_row_overhead_s +
pcie_transfer_overhead_s``, held as that time's worth of bytes at the link rate (a tensor between
two contexts only when ``overhead_between_contexts``; graph inputs and outputs always).
A context's configuration grows with its level (more nodes), so a context may run below its
fastest level when that saves more reload time than it costs (a PCIe-bound context).

>>> p = chain_problem(lcus=(30, 40, 40), limit=77)
>>> p.layer_names, p.frame_units
(('l0', 'l1', 'l2'), (1000, 500))
>>> part = make_partition(p, (0, 0, 1))
>>> part.level_of, batch_time_units(p, part)   # two contexts of 500 us frames, free switches
((1, 1), 1000)
>>> violations(p, Partition(layer_names=p.layer_names, context_of=(0, 0, 0), level_of=(0,)))
['context 0 uses 110/77 lcus at level 0 (1000 FPS)']
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from fractions import Fraction
from functools import cached_property

import numpy as np

TIME_UNIT_S = 1e-6
"""Integer unit of every time in the solver: 1 microsecond.

Why 1 us: a frame at 5000 FPS is 200 units, so one unit is 0.5% of the fastest frame time the
chip reaches and 0.1% of a 1000-FPS frame; a zoo batch time (B <= 63, <= 16 contexts, switch
costs of milliseconds) stays below 10**8 units, far inside CP-SAT's int64 domains.
"""

LINK_DENOMINATOR_MAX = 1000
"""The link rate in bytes per time unit is held as a fraction with at most this denominator
(2.8 GB/s is exactly 2800 bytes/us; 0.45 GB/s is 450), so PCIe times are exact integer ratios."""

Demand = tuple[int, ...]
"""Integer units of each resource, in ``PartitionProblem.resource_names`` order."""


class Status(str, Enum):
    """How a solve ended (CP-SAT's statuses; UNKNOWN means no solution before the limit)."""

    OPTIMAL = "OPTIMAL"
    FEASIBLE = "FEASIBLE"
    INFEASIBLE = "INFEASIBLE"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, kw_only=True)
class GraphInput:
    """A graph input tensor: its bytes per frame and the layers (indices) that read it.

    It crosses PCIe into every context holding one of its readers, once per context, and is one
    edge layer of each such context.
    """

    name: str
    bytes_per_frame: int
    consumers: tuple[int, ...]
    rows: int = 0


@dataclass(frozen=True, kw_only=True)
class PartitionProblem:
    """Everything the partitioner needs, as integers, for one network, hardware, caps and batch.

    Attributes:
        name: the network's name, for messages.
        layer_names: layer names in topological order; layer ``i`` is ``layer_names[i]``.
        edges: ``(producer, consumer)`` index pairs, producer < consumer, no duplicates.
        output_bytes: bytes per frame of each layer's output tensor.
        output_rows: rows it streams over PCIe in (``H`` of ``(C, H, W)``); empty means 0.
        is_output: whether each layer's output is a graph output (it leaves over PCIe).
        graph_inputs: the graph inputs, with their bytes per frame and readers.
        weight_bytes: bytes of each layer's weights, reloaded at every switch when multi-context.
        config_bytes: ``config_bytes[level][layer]``, the layer's configuration at that level
            (grows with its nodes), reloaded likewise.
        levels_fps: the FPS grid a context chooses from, ascending.
        demand: ``demand[level][layer]`` is the layer's integer need of each resource when its
            context runs at ``levels_fps[level]``, or ``None`` when the layer cannot run that
            fast. Non-decreasing in the level, and a layer that cannot reach a level cannot reach
            the ones above; every layer reaches level 0.
        resource_names: names of the resources, in the order of ``limits`` and each demand.
        limits: units of each resource one context may use (caps already applied:
            ``ceil(0.60 x 128) = 77`` LCUs).
        edge_layer_limit: tensors one context may take in or give out (hailort: 20).
        link_bytes_per_s: host link payload rate (each direction).
        pcie_row_overhead_s: fixed PCIe cost of each row of a crossing tensor read by the chip
            (host-to-device).
        pcie_out_row_overhead_s: the same for a row the chip writes out (device-to-host).
        pcie_transfer_overhead_s: fixed PCIe cost of each crossing tensor (one DMA transfer).
        overhead_between_contexts: whether a tensor written out for a later context (and read
            back there) pays those two costs too, or only its bytes (graph inputs and outputs
            always pay them; :func:`cost_model.throughput.pays_overhead`).
        switch_overhead_s: fixed firmware cost of loading one context.
        pipeline_fill_frames: frame times a context spends filling and draining its pipeline at
            each switch (multi-context only; held as a fraction with denominator <= 1000).
        batch: frames per batch, B.

    Raises:
        ValueError: inconsistent lengths, an edge against the order, a demand that decreases
            with the level, or a level grid that is not ascending (a bug in whoever built it).
    """

    name: str = "network"
    layer_names: tuple[str, ...]
    edges: tuple[tuple[int, int], ...]
    output_bytes: tuple[int, ...]
    output_rows: tuple[int, ...] = ()
    is_output: tuple[bool, ...]
    graph_inputs: tuple[GraphInput, ...] = ()
    weight_bytes: tuple[int, ...]
    config_bytes: tuple[tuple[int, ...], ...]
    levels_fps: tuple[float, ...]
    demand: tuple[tuple[Demand | None, ...], ...]
    resource_names: tuple[str, ...]
    limits: tuple[int, ...]
    edge_layer_limit: int
    link_bytes_per_s: float
    pcie_row_overhead_s: float = 0.0
    pcie_transfer_overhead_s: float = 0.0
    pcie_out_row_overhead_s: float | None = None  # None: pcie_row_overhead_s
    overhead_between_contexts: bool = True
    switch_overhead_s: float
    pipeline_fill_frames: float = 0.0
    batch: int = 1

    TIME_UNIT_S = TIME_UNIT_S  # class attribute (not a field): the objective's unit

    def __post_init__(self) -> None:
        for message in _schema_errors(self):
            raise ValueError(f"malformed partition problem {self.name!r}: {message}")

    # -- sizes ---------------------------------------------------------------------------------
    @property
    def num_layers(self) -> int:
        """Number of layers."""
        return len(self.layer_names)

    @property
    def num_levels(self) -> int:
        """Number of FPS levels."""
        return len(self.levels_fps)

    def index(self, name: str) -> int:
        """Index of the layer called ``name`` (``KeyError`` if there is none)."""
        return self._index[name]

    @cached_property
    def _index(self) -> dict[str, int]:
        return {name: i for i, name in enumerate(self.layer_names)}

    # -- graph -----------------------------------------------------------------------------------
    @cached_property
    def consumers(self) -> tuple[tuple[int, ...], ...]:
        """Consumer layer indices of each layer's output, ascending."""
        out: list[list[int]] = [[] for _ in self.layer_names]
        for u, v in self.edges:
            out[u].append(v)
        return tuple(tuple(sorted(c)) for c in out)

    @cached_property
    def producers(self) -> tuple[tuple[int, ...], ...]:
        """Producer layer indices feeding each layer, ascending."""
        out: list[list[int]] = [[] for _ in self.layer_names]
        for u, v in self.edges:
            out[v].append(u)
        return tuple(tuple(sorted(p)) for p in out)

    @cached_property
    def inputs_read(self) -> tuple[tuple[int, ...], ...]:
        """Indices into ``graph_inputs`` of the graph inputs each layer reads."""
        out: list[list[int]] = [[] for _ in self.layer_names]
        for g, graph_input in enumerate(self.graph_inputs):
            for v in graph_input.consumers:
                out[v].append(g)
        return tuple(tuple(sorted(set(r))) for r in out)

    @property
    def input_bytes(self) -> tuple[int, ...]:
        """Graph-input bytes per frame each layer reads."""
        return tuple(
            sum(self.graph_inputs[g].bytes_per_frame for g in gs) for gs in self.inputs_read
        )

    # -- levels ----------------------------------------------------------------------------------
    @cached_property
    def max_level(self) -> tuple[int, ...]:
        """Highest level each layer can reach."""
        return tuple(
            max(lv for lv in range(self.num_levels) if self.demand[lv][i] is not None)
            for i in range(self.num_layers)
        )

    @cached_property
    def frame_units(self) -> tuple[int, ...]:
        """Frame time of each level, ``ceil(1 / (F x TIME_UNIT_S))`` units (descending)."""
        return tuple(_ceil(1.0 / (fps * TIME_UNIT_S)) for fps in self.levels_fps)

    # -- link --------------------------------------------------------------------------------
    @cached_property
    def link_bytes_per_unit(self) -> Fraction:
        """Link rate in bytes per time unit, as an exact fraction (2.8 GB/s -> 2800)."""
        rate = Fraction(self.link_bytes_per_s * TIME_UNIT_S).limit_denominator(LINK_DENOMINATOR_MAX)
        if rate <= 0:
            raise ValueError(
                f"link rate {self.link_bytes_per_s!r} B/s is below one byte per time unit"
            )
        return rate

    def pcie_units(self, num_bytes: int) -> int:
        """Time units to move ``num_bytes`` over the link, rounded up.

        >>> chain_problem(lcus=(1,)).pcie_units(2801)   # 2.8 GB/s = 2800 B/us
        2
        """
        rate = self.link_bytes_per_unit
        return -(-num_bytes * rate.denominator // rate.numerator)

    @cached_property
    def output_load(self) -> tuple[int, ...]:
        """PCIe load of each layer's output when its context writes it out (a graph output, or
        read in a later context): bytes plus its rows' and its transfer's overhead as bytes
        (``(rows x pcie_out_row_overhead_s + pcie_transfer_overhead_s) x link``); a tensor that
        is not a graph output pays only its bytes unless :attr:`overhead_between_contexts`."""
        return self._loads(self._out_row_bytes)

    def _loads(self, row_bytes: int) -> tuple[int, ...]:
        rows = self.output_rows or (0,) * self.num_layers
        return tuple(
            b + (r * row_bytes + self._transfer_bytes if pays else 0)
            for b, r, pays in zip(
                self.output_bytes,
                rows,
                (self.overhead_between_contexts or out for out in self.is_output),
                strict=True,
            )
        )

    @cached_property
    def read_load(self) -> tuple[int, ...]:
        """PCIe load of each layer's output when a later context reads it back: as
        :attr:`output_load`, the overhead only when :attr:`overhead_between_contexts`.

        >>> from dataclasses import replace
        >>> p = replace(chain_problem(lcus=(1, 1)), output_rows=(10, 10), pcie_row_overhead_s=1e-6)
        >>> p.output_load, p.read_load   # 10 rows x 1 us at 2.8 GB/s: 28,000 bytes each
        ((30800, 30800), (30800, 30800))
        >>> q = replace(p, overhead_between_contexts=False)
        >>> q.output_load, q.read_load   # l1 is the graph output
        ((2800, 30800), (2800, 2800))
        """
        if self.overhead_between_contexts:
            return self._loads(self._row_bytes)
        return self.output_bytes

    @cached_property
    def input_load(self) -> tuple[int, ...]:
        """PCIe load of each graph input, as :attr:`output_load`."""
        return tuple(
            g.bytes_per_frame + g.rows * self._row_bytes + self._transfer_bytes
            for g in self.graph_inputs
        )

    @cached_property
    def _row_bytes(self) -> int:
        return round(self.pcie_row_overhead_s * self.link_bytes_per_s)

    @cached_property
    def _out_row_bytes(self) -> int:
        out = self.pcie_out_row_overhead_s
        return self._row_bytes if out is None else round(out * self.link_bytes_per_s)

    @cached_property
    def _transfer_bytes(self) -> int:
        return round(self.pcie_transfer_overhead_s * self.link_bytes_per_s)

    @property
    def switch_fixed_units(self) -> int:
        """Fixed overhead of one context switch, in time units (rounded)."""
        return round(self.switch_overhead_s / TIME_UNIT_S)

    @cached_property
    def total_weight_bytes(self) -> int:
        """Bytes of all weights (reloaded once per batch when multi-context)."""
        return sum(self.weight_bytes)

    @cached_property
    def fill_fraction(self) -> Fraction:
        """``pipeline_fill_frames`` as an exact fraction."""
        return Fraction(self.pipeline_fill_frames).limit_denominator(LINK_DENOMINATOR_MAX)

    def fill_units(self, frame_units: int) -> int:
        """Pipeline fill of a context with frame time ``frame_units``, rounded up.

        >>> from dataclasses import replace
        >>> replace(chain_problem(lcus=(1,)), pipeline_fill_frames=0.5).fill_units(3)
        2
        """
        fill = self.fill_fraction
        return -(-frame_units * fill.numerator // fill.denominator)

    def reload_units(self, config_bytes: int) -> int:
        """Time to reload all weights plus ``config_bytes`` of configuration, rounded up."""
        return self.pcie_units(self.total_weight_bytes + config_bytes)


def _ceil(x: float) -> int:
    """Ceiling that forgives float noise (``1 / (1000 x 1e-6)`` is 1000, not 1001)."""
    return max(1, math.ceil(x - 1e-9 * max(1.0, abs(x))))


def _schema_errors(p: PartitionProblem) -> list[str]:
    """Everything wrong with a problem's shape, as messages (empty when well formed)."""
    n, levels, res = p.num_layers, p.num_levels, len(p.resource_names)
    errors = [
        f"{fname} has {len(getattr(p, fname))} entries for {n} layers"
        for fname in ("output_bytes", "is_output", "weight_bytes")
        if len(getattr(p, fname)) != n
    ]
    if len(p.config_bytes) != levels or any(len(row) != n for row in p.config_bytes):
        errors.append(f"config_bytes must be [{levels} levels][{n} layers]")
    if p.output_rows and len(p.output_rows) != n:
        errors.append(f"output_rows has {len(p.output_rows)} entries for {n} layers")
    if len(set(p.layer_names)) != n:
        errors.append("duplicate layer names")
    if len(p.limits) != res:
        errors.append(f"{len(p.limits)} limits for {res} resources")
    if not levels or any(f <= 0 for f in p.levels_fps):
        errors.append("the level grid must hold at least one positive FPS")
    if any(a >= b for a, b in zip(p.levels_fps, p.levels_fps[1:], strict=False)):
        errors.append(f"levels_fps {p.levels_fps!r} is not strictly ascending")
    if len(set(p.edges)) != len(p.edges) or any(not 0 <= u < v < n for u, v in p.edges):
        errors.append("edges must be distinct (producer, consumer) pairs with producer < consumer")
    if any(v < 0 or v >= n for g in p.graph_inputs for v in g.consumers):
        errors.append("a graph input names a consumer index out of range")
    if p.batch < 1 or p.edge_layer_limit < 1 or not p.pipeline_fill_frames >= 0:
        errors.append("batch and edge_layer_limit must be >= 1, pipeline_fill_frames >= 0")
    if len(p.demand) != levels or any(len(row) != n for row in p.demand):
        errors.append(f"demand must be [{levels} levels][{n} layers]")
    return errors or _demand_errors(p)


def _demand_errors(p: PartitionProblem) -> list[str]:
    res = len(p.resource_names)
    for i, name in enumerate(p.layer_names):
        if p.demand[0][i] is None:
            return [f"layer {name!r} cannot reach the lowest level"]
        previous: Demand | None = None
        for lv in range(p.num_levels):
            d = p.demand[lv][i]
            if d is None:
                if any(p.demand[k][i] is not None for k in range(lv, p.num_levels)):
                    return [f"layer {name!r} is unreachable at level {lv} but not above it"]
                break
            if len(d) != res or any(x < 0 for x in d):
                return [f"layer {name!r} level {lv}: demand {d!r} is not {res} units >= 0"]
            if previous is not None and any(a < b for a, b in zip(d, previous, strict=True)):
                return [f"layer {name!r}: demand {d!r} at level {lv} is below the level under it"]
            previous = d
    return []


# -- derived data for the solver ---------------------------------------------------------------
def context_windows(problem: PartitionProblem, num_contexts: int) -> tuple[tuple[int, int], ...]:
    """``(first, last)`` context each layer can sit in, with at most ``num_contexts`` contexts.

    A layer and its ancestors fill contexts ``0..c``, so ``c + 1`` is at least their lowest-level
    demand over the limit (per resource); the layer and its descendants fill ``c..K-1`` likewise.
    Valid for every feasible partition; ``first > last`` means no partition with K contexts.

    >>> context_windows(chain_problem(lcus=(30, 40, 40, 30), limit=77), 3)
    ((0, 1), (0, 1), (1, 2), (1, 2))
    """
    n = problem.num_layers
    base = [problem.demand[0][i] or () for i in range(n)]
    before = _closure_sums(problem.producers, base, range(n))
    after = _closure_sums(problem.consumers, base, range(n - 1, -1, -1))

    def needed(total: Sequence[int]) -> int:
        return max((-(-t // lim) for t, lim in zip(total, problem.limits, strict=True)), default=1)

    return tuple(
        (max(0, needed(before[i]) - 1), num_contexts - max(1, needed(after[i]))) for i in range(n)
    )


def _closure_sums(
    links: Sequence[Sequence[int]], base: Sequence[Demand], order: Sequence[int]
) -> list[tuple[int, ...]]:
    """Per layer, the sum of ``base`` over itself and everything reachable through ``links``
    (producers: ancestors; consumers: descendants); ``order`` visits links before the layer."""
    n = len(base)
    reach = np.zeros((n, n), dtype=bool)
    for i in order:
        reach[i, i] = True
        for j in links[i]:
            reach[i] |= reach[j]
    weights = np.asarray(base, dtype=np.int64).reshape(n, -1)
    sums = np.empty((n, weights.shape[1]), dtype=np.int64)
    for lo in range(0, n, _CLOSURE_BLOCK):  # in blocks: an int64 copy of reach is 8 n^2 bytes
        sums[lo : lo + _CLOSURE_BLOCK] = reach[lo : lo + _CLOSURE_BLOCK].astype(np.int64) @ weights
    return [tuple(int(x) for x in row) for row in sums]


_CLOSURE_BLOCK = 256


def redundant_resources(problem: PartitionProblem) -> frozenset[int]:
    """Resources whose cap is implied by another's at every level.

    ``r`` is implied by ``s`` when ``d_r x limit_s <= d_s x limit_r`` for every layer and level
    (then ``sum d_s <= limit_s`` gives ``sum d_r <= limit_r``); of two resources that imply each
    other the later one is dropped. With one APU and one input aligner per node, both follow
    from the LCU cap.
    """
    res = range(len(problem.resource_names))
    rows = [d for level in problem.demand for d in level if d is not None]
    lim = problem.limits

    def implied_by(r: int, s: int) -> bool:
        return all(d[r] * lim[s] <= d[s] * lim[r] for d in rows)

    dropped: set[int] = set()
    for r in res:
        for s in res:
            if s != r and s not in dropped and implied_by(r, s):
                if not implied_by(s, r) or s < r:
                    dropped.add(r)
                    break
    return frozenset(dropped)


# -- answers -------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Partition:
    """Layers assigned to contexts ``0..K-1`` in data-flow order, and each context's FPS level.

    ``context_of[i]`` is the context of ``layer_names[i]``; ``level_of[c]`` indexes the problem's
    ``levels_fps``. Every context holds at least one layer.
    """

    layer_names: tuple[str, ...]
    context_of: tuple[int, ...]
    level_of: tuple[int, ...]

    @property
    def num_contexts(self) -> int:
        """Number of contexts, K."""
        return len(self.level_of)

    def layers_in(self, context: int) -> tuple[int, ...]:
        """Indices of the layers in ``context``, ascending."""
        return tuple(i for i, c in enumerate(self.context_of) if c == context)

    @property
    def assignment(self) -> dict[str, int]:
        """``{layer name: context}``."""
        return dict(zip(self.layer_names, self.context_of, strict=True))


@dataclass(frozen=True, kw_only=True)
class PartitionResult:
    """The solver's only output.

    Attributes:
        status: how the solve ended.
        partition: the best partition found, or ``None`` (INFEASIBLE / UNKNOWN).
        objective_units: its batch time ``T(B)`` in time units (:func:`batch_time_units`).
        bound_units: the solver's proven lower bound on ``T(B)`` for this K, in time units.
        wall_seconds: time the solve took.
        num_contexts: K the model allowed (contexts used may be fewer unless exact).
        batch: B the objective was computed for.
        from_hint: the partition is the starting hint (a baseline), because the solver found
            nothing better before it stopped; ``status`` is then FEASIBLE.
        work_seconds: the solver work spent, in seconds of the deterministic budget
            (deterministic units over the calibrated rate, see
            :meth:`~partitioner.cpsat_model.PartitionModel.solve`); the wall time when the solve
            was not deterministic. The search charges its budget with it, so that the same input
            gives the same answer on any load.
        neighbourhood: the model searched only within this many contexts of its starting
            partition's context of each layer (a heuristic for large networks, see
            :class:`~partitioner.cpsat_model.PartitionModel`); the status is then never
            ``OPTIMAL`` and ``bound_units`` is ``None``. ``None``: the exact model.
    """

    status: Status
    partition: Partition | None
    objective_units: int | None
    bound_units: int | None
    wall_seconds: float
    num_contexts: int
    batch: int
    from_hint: bool = False
    work_seconds: float = 0.0
    neighbourhood: int | None = None

    @property
    def gap(self) -> float | None:
        """Relative gap ``(objective - bound) / objective``; 0 when optimal, None without both."""
        if self.objective_units is None or self.bound_units is None:
            return None
        if self.objective_units == 0:
            return 0.0
        return max(0.0, (self.objective_units - self.bound_units) / self.objective_units)

    @property
    def objective_s(self) -> float | None:
        """Batch time in seconds."""
        return None if self.objective_units is None else self.objective_units * TIME_UNIT_S

    @property
    def fps(self) -> float | None:
        """Frames per second at the batch, ``B / T(B)``."""
        t = self.objective_s
        return None if not t else self.batch / t


# -- evaluation (pure Python; the baselines, tests and the solver's self-check use it) ----------
def usage(problem: PartitionProblem, layers: Sequence[int], level: int) -> Demand | None:
    """Sum of the layers' demands at ``level``; ``None`` if one of them cannot reach it."""
    total = [0] * len(problem.resource_names)
    for i in layers:
        d = problem.demand[level][i]
        if d is None:
            return None
        for r, units in enumerate(d):
            total[r] += units
    return tuple(total)


def fits(problem: PartitionProblem, layers: Sequence[int], level: int) -> bool:
    """Whether the layers fit one context's limits at ``level``."""
    u = usage(problem, layers, level)
    return u is not None and all(a <= b for a, b in zip(u, problem.limits, strict=True))


def best_level(problem: PartitionProblem, layers: Sequence[int]) -> int | None:
    """Highest level at which the layers fit one context, or ``None`` if not even the lowest.

    >>> p = chain_problem(lcus=(30, 40, 40), limit=77)
    >>> best_level(p, [0]), best_level(p, [0, 1, 2])
    (1, None)
    """
    lo, hi = 0, problem.num_levels - 1
    if not fits(problem, layers, lo):
        return None
    while lo < hi:  # demands grow with the level, so fitting is monotone: bisect
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if fits(problem, layers, mid) else (lo, mid - 1)
    return lo


@dataclass(frozen=True, kw_only=True)
class ContextTraffic:
    """What crosses one context's boundary per frame: edge layers, and the PCIe load into the
    chip (graph inputs, tensors read back) and out of it (graph outputs, tensors written out),
    in bytes with the row overhead included (:attr:`PartitionProblem.output_load`,
    :attr:`~PartitionProblem.read_load`)."""

    edge_layers: int
    in_bytes: int
    out_bytes: int

    @property
    def pcie_bytes(self) -> int:
        """Both directions together."""
        return self.in_bytes + self.out_bytes


def traffic(problem: PartitionProblem, context_of: Sequence[int]) -> tuple[ContextTraffic, ...]:
    """Edge layers and PCIe load per frame of each context.

    A tensor counts for context c when it crosses into c (produced before c, read in c), out of
    c (produced in c, read after c, or a graph output), or is a graph input read in c; each once
    per context however many layers read it.
    """
    k = max(context_of) + 1
    ins: list[set[int]] = [set() for _ in range(k)]
    outs: list[set[int]] = [set() for _ in range(k)]
    for u, readers in enumerate(problem.consumers):
        cu = context_of[u]
        for v in readers:
            if context_of[v] != cu:
                ins[context_of[v]].add(u)
                outs[cu].add(u)
        if problem.is_output[u]:
            outs[cu].add(u)
    gin: list[set[int]] = [set() for _ in range(k)]
    for g, graph_input in enumerate(problem.graph_inputs):
        for v in graph_input.consumers:
            gin[context_of[v]].add(g)
    load, read, input_load = problem.output_load, problem.read_load, problem.input_load
    return tuple(
        ContextTraffic(
            edge_layers=len(ins[c]) + len(outs[c]) + len(gin[c]),
            in_bytes=sum(read[u] for u in ins[c]) + sum(input_load[g] for g in gin[c]),
            out_bytes=sum(load[u] for u in outs[c]),
        )
        for c in range(k)
    )


def context_frame_units(problem: PartitionProblem, level: int, flow: ContextTraffic) -> int:
    """``t_c`` in units: the slowest of the level's frame time and the two PCIe directions."""
    return max(
        problem.frame_units[level],
        problem.pcie_units(flow.in_bytes),
        problem.pcie_units(flow.out_bytes),
    )


def config_bytes_of(problem: PartitionProblem, layers: Sequence[int], level: int) -> int:
    """Configuration bytes of the layers at ``level``."""
    row = problem.config_bytes[level]
    return sum(row[i] for i in layers)


def batch_time_units(problem: PartitionProblem, partition: Partition) -> int:
    """``T(B)`` of a partition in time units, at the levels it names (see the module docstring)."""
    k = partition.num_contexts
    frames = [
        context_frame_units(problem, partition.level_of[c], flow)
        for c, flow in enumerate(traffic(problem, partition.context_of))
    ]
    if k == 1:
        return problem.batch * frames[0]
    rows, levels = problem.config_bytes, partition.level_of
    config = sum(rows[levels[c]][i] for i, c in enumerate(partition.context_of))
    return (
        k * problem.switch_fixed_units
        + problem.reload_units(config)
        + sum(problem.batch * t + problem.fill_units(t) for t in frames)
    )


def rounding_units(problem: PartitionProblem, num_contexts: int) -> int:
    """The most :func:`batch_time_units` can exceed the exact ``T(B)`` by, in units: each
    context's frame term is rounded up once and counted B times, its switch and fill once each,
    and the reload of every weight once.

    >>> rounding_units(chain_problem(lcus=(1, 1), batch=8), 3)   # 3 x (8 + 2) + 1
    31
    """
    return num_contexts * (problem.batch + 2) + 1


def violations(problem: PartitionProblem, partition: Partition) -> list[str]:
    """Every rule the partition breaks, as messages with numbers (empty when valid)."""
    n, k = problem.num_layers, partition.num_contexts
    if len(partition.context_of) != n or partition.layer_names != problem.layer_names:
        return [f"the partition names {len(partition.context_of)} layers, the problem {n}"]
    if any(not 0 <= c < k for c in partition.context_of):
        return [f"a context index is outside 0..{k - 1}"]
    out = [f"context {c} is empty" for c in range(k) if not partition.layers_in(c)]
    for u, v in problem.edges:
        if partition.context_of[u] > partition.context_of[v]:
            out.append(
                f"layer {problem.layer_names[v]!r} (context {partition.context_of[v]}) reads "
                f"{problem.layer_names[u]!r} from a later context {partition.context_of[u]}"
            )
    for c in range(k):
        out.extend(_context_violations(problem, partition, c))
    if not out:
        for c, t in enumerate(traffic(problem, partition.context_of)):
            if t.edge_layers > problem.edge_layer_limit:
                out.append(
                    f"context {c} has {t.edge_layers}/{problem.edge_layer_limit} edge layers"
                )
    return out


def _context_violations(problem: PartitionProblem, partition: Partition, c: int) -> list[str]:
    level = partition.level_of[c]
    fps = f"{problem.levels_fps[level]:g} FPS"
    layers = partition.layers_in(c)
    slow = [problem.layer_names[i] for i in layers if problem.max_level[i] < level]
    if slow:
        return [f"context {c}: layer {slow[0]!r} cannot run at level {level} ({fps})"]
    used = usage(problem, layers, level) or ()
    return [
        f"context {c} uses {a}/{b} {name} at level {level} ({fps})"
        for name, a, b in zip(problem.resource_names, used, problem.limits, strict=True)
        if a > b
    ]


def make_partition(problem: PartitionProblem, context_of: Sequence[int]) -> Partition | None:
    """A partition from each layer's context, each context at its cheapest level.

    Contexts are renumbered ``0..K-1`` in order (empty ones dropped). One context runs at its
    highest level that fits; with several, each runs at the level ``l`` (among those that fit)
    that minimises ``B x t_c + fill(t_c) + config_bytes_c(l) / link``, the highest on a tie.
    ``None`` when a context does not fit even at the lowest level.
    """
    used = sorted(set(context_of))
    renumber = {c: k for k, c in enumerate(used)}
    contexts = tuple(renumber[c] for c in context_of)
    flows = traffic(problem, contexts)
    members: list[list[int]] = [[] for _ in used]
    for i, c in enumerate(contexts):
        members[c].append(i)
    levels = []
    for c, layers in enumerate(members):
        top = best_level(problem, layers)
        if top is None:
            return None
        levels.append(top if len(used) == 1 else _cheapest_level(problem, layers, top, flows[c]))
    return Partition(layer_names=problem.layer_names, context_of=contexts, level_of=tuple(levels))


def level_cost(problem: PartitionProblem, frame_units: int, config_bytes: int) -> int:
    """A context's share of a multi-context ``T(B)``, ``B x t + fill(t) + config / link``, times
    the link rate's numerator so that it is an integer (the config term is not rounded: the
    reload is rounded once, for all contexts together).

    >>> level_cost(chain_problem(lcus=(1,)), 10, 5600)   # 10 units + 5600 B at 2800 B/unit
    33600
    """
    rate = problem.link_bytes_per_unit
    per_batch = problem.batch * frame_units + problem.fill_units(frame_units)
    return per_batch * rate.numerator + config_bytes * rate.denominator


def _cheapest_level(
    problem: PartitionProblem, layers: Sequence[int], top: int, flow: ContextTraffic
) -> int:
    costs = [
        level_cost(
            problem,
            context_frame_units(problem, lv, flow),
            config_bytes_of(problem, layers, lv),
        )
        for lv in range(top + 1)
    ]
    best = min(costs)
    return max(lv for lv, cost in enumerate(costs) if cost == best)


def assignment_partition(
    problem: PartitionProblem, assignment: Mapping[str, int]
) -> Partition | None:
    """:func:`make_partition` from ``{layer name: context}`` (``KeyError`` on a missing layer)."""
    return make_partition(problem, [assignment[name] for name in problem.layer_names])


# -- a tiny hand-made problem for examples and tests -----------------------------------------
def chain_problem(
    *,
    lcus: Sequence[int],
    limit: int = 77,
    levels_fps: Sequence[float] = (1000.0, 2000.0),
    growth: Sequence[float] = (1.0, 1.0),
    output_bytes: int = 2800,
    edge_layer_limit: int = 20,
    batch: int = 1,
    switch_overhead_s: float = 0.0,
    edges: Sequence[tuple[int, int]] | None = None,
    outputs: Sequence[int] | None = None,
) -> PartitionProblem:
    """A small hand-made problem: one resource (LCUs), a 2.8 GB/s link (2800 bytes per unit).

    Layer ``i`` (named ``l<i>``) needs ``ceil(lcus[i] x growth[level])`` LCUs at each level; its
    output is ``output_bytes`` (1 unit over the link by default). The layers form the chain
    ``l0 -> l1 -> ...`` unless ``edges`` are given; the outputs of ``outputs`` (default: the last
    layer) are graph outputs; one graph input ``x`` of 2800 bytes is read by every layer without
    producers. No weights and no configuration: change them with ``dataclasses.replace``.
    """
    n = len(lcus)
    links = tuple((i, i + 1) for i in range(n - 1)) if edges is None else tuple(edges)
    sinks = (n - 1,) if outputs is None else tuple(outputs)
    sources = tuple(i for i in range(n) if all(v != i for _, v in links))
    demand = tuple(tuple((math.ceil(x * g),) for x in lcus) for g in growth[: len(levels_fps)])
    return PartitionProblem(
        name="chain",
        layer_names=tuple(f"l{i}" for i in range(n)),
        edges=links,
        output_bytes=(output_bytes,) * n,
        is_output=tuple(i in sinks for i in range(n)),
        graph_inputs=(GraphInput(name="x", bytes_per_frame=2800, consumers=sources),),
        weight_bytes=(0,) * n,
        config_bytes=((0,) * n,) * len(demand),
        levels_fps=tuple(levels_fps),
        demand=demand,
        resource_names=("lcus",),
        limits=(limit,),
        edge_layer_limit=edge_layer_limit,
        link_bytes_per_s=2.8e9,
        switch_overhead_s=switch_overhead_s,
        batch=batch,
    )


__all__ = [
    "TIME_UNIT_S",
    "ContextTraffic",
    "Demand",
    "GraphInput",
    "Partition",
    "PartitionProblem",
    "PartitionResult",
    "Status",
    "assignment_partition",
    "batch_time_units",
    "best_level",
    "chain_problem",
    "config_bytes_of",
    "context_frame_units",
    "context_windows",
    "level_cost",
    "fits",
    "make_partition",
    "redundant_resources",
    "traffic",
    "usage",
    "violations",
]
