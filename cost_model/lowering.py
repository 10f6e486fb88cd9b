"""Lowering one layer at a target frame rate F into nodes and resources.

A layer at F needs ``SC(F) = max(1, ceil(W x F / clock))`` subclusters, where ``W`` is its work
in SC-cycles per frame (one rule per op kind, registered in ``WORK_RULES``):

* MAC layers (conv, deconv, dense, matmul): ``W = MACs x p / (64 x efficiency)``, with ``p = 2``
  for ``a16_w16`` and the efficiency of the kind (depthwise convs have their own).
* layers without MACs (pool, add, concat, resize, softmax, norm, argmax, ...): ``W = E x p / e``,
  with ``E`` the larger of the output elements and the input elements per frame and ``e`` the
  elements one SC handles per cycle;

plus ``hw.sc_cycles_per_row`` for each output row.

A node holds at most 8 SCs, so ``n = ceil(SC / 8)`` nodes; ``n > 1`` adds a combiner node
(``_dc``), and a tensor read by more than one consumer adds ``hw.shortcut_nodes`` shortcut
nodes (``sh_from_``). An op kind in ``hw.fused_ops`` takes SCs but no node of its own (Hailo's
parser folds it into a neighbour); ``hw.extra_nodes_by_op`` adds nodes (one SC each) to kinds
Hailo builds from several layers (:func:`extra_nodes`). Each node takes one LCU, one APU and one
input aligner. The split runs **by output channels**
while every node keeps at least ``min_channels_per_node`` channels (weights are divided, not
replicated), then **spatially**: ``g = min(n, C_out // min_channels_per_node)`` channel groups,
each replicated ``r = ceil(n / g)`` times with its weights. L3 cuts:
``r x ceil(weight_bytes / cut) + sum over inputs of ceil(buffer_bytes / cut)``. The line
buffer of a tensor is priced at its consumer, which knows the rows it needs (its kernel
height + stride): ``rows x width x channels x bytes``, never more than the whole tensor;
the operands of an activation-activation MATMUL and a TRANSPOSE's input are held whole.

A layer splits into at most ``max_nodes_per_layer`` nodes, so its highest reachable rate is
``max_layer_fps = max_nodes_per_layer x 8 x clock / W``. Every demand is non-decreasing in F.

>>> from cost_model.hardware import preset
>>> from cost_model.layer import Layer, OpKind
>>> hw = preset("hailo8").with_params(compute_efficiency=0.5, sc_cycles_per_row=0.0)
>>> conv = Layer(name="conv", op=OpKind.CONV, inputs=("x",), input_shapes=((64, 56, 56),),
...              output_shape=(64, 56, 56), kernel=(3, 3), params=36928, macs=115_605_504)
>>> cost = lower_layer(conv, hw, 1000.0)   # W = 115,605,504 / (64 x 0.5) SC-cycles per frame
>>> cost.subclusters_needed, cost.layer_nodes, cost.resources.lcus  # 9.03 -> 10 SCs, 2 nodes
(10, 2, 3)
>>> cost.split, cost.replication
('channels', 1)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from cost_model import params
from cost_model.errors import PricingError
from cost_model.hardware import HardwareSpec
from cost_model.layer import Layer, OpKind, Precision, Shape, num_elements
from cost_model.resources import Resources

# Slack on ceil() so that a rate landing exactly on a whole number of SCs takes that number.
_EPS = 1e-9

# -- work rules: SC-cycles per frame, one per op kind -------------------------------------------
WorkRule = Callable[[Layer, HardwareSpec], float]


def _precision_factor(layer: Layer) -> int:
    """SC cost multiplier of the layer's precision: 2 for 16-bit, 1 for 8-bit activations."""
    return params.SIXTEEN_BIT_SC_FACTOR if layer.precision is Precision.A16_W16 else 1


def _mac_work(efficiency_field: str) -> WorkRule:
    def rule(layer: Layer, hw: HardwareSpec) -> float:
        if layer.macs <= 0:
            raise PricingError(
                f"layer {layer.name!r} is a {layer.op.value} with {layer.macs} MACs; "
                "the importer must count its multiply-accumulates"
            )
        efficiency = getattr(hw, efficiency_field)
        return layer.macs * _precision_factor(layer) / (hw.macs_per_sc_per_cycle * efficiency)

    rule.__doc__ = f"MACs x precision factor / (MAC per SC per cycle x hw.{efficiency_field})."
    return rule


_dw_mac_work = _mac_work("dwconv_efficiency")
REFERENCE_DW_TAPS = 9  # a 3x3 depthwise conv: the kernel dwconv_efficiency is stated for


def _dwconv_work(layer: Layer, hw: HardwareSpec) -> float:
    """The MAC rule at ``hw.dwconv_efficiency``, scaled by ``(9 / taps) ** (1 - exponent)``
    (``hw.dwconv_kernel_exponent``): at exponent 1 every tap is a MAC lane-cycle, at 0 the cost is
    per output element whatever the kernel (a 5x5 costs a 3x3's per element)."""
    taps = layer.kernel[0] * layer.kernel[1]
    scale = (REFERENCE_DW_TAPS / taps) ** (1.0 - hw.dwconv_kernel_exponent)
    return _dw_mac_work(layer, hw) * scale


def _element_work(layer: Layer, hw: HardwareSpec) -> float:
    """Elements moved (the larger of output and inputs) x precision / elements per SC-cycle."""
    elements = max(layer.output_elements, sum(num_elements(s) for s in layer.input_shapes))
    return elements * _precision_factor(layer) / hw.elements_per_sc_per_cycle


WORK_RULES: dict[OpKind, WorkRule] = {
    OpKind.CONV: _mac_work("compute_efficiency"),
    OpKind.DECONV: _mac_work("compute_efficiency"),
    OpKind.DENSE: _mac_work("compute_efficiency"),
    OpKind.DWCONV: _dwconv_work,
    OpKind.MATMUL: _mac_work("matmul_efficiency"),
    OpKind.MAXPOOL: _element_work,
    OpKind.AVGPOOL: _element_work,
    OpKind.GLOBAL_POOL: _element_work,
    OpKind.ADD: _element_work,
    OpKind.MUL: _element_work,
    OpKind.CONCAT: _element_work,
    OpKind.SPLIT: _element_work,
    OpKind.RESIZE: _element_work,
    OpKind.ACTIVATION: _element_work,
    OpKind.SOFTMAX: _element_work,
    OpKind.NORM: _element_work,
    OpKind.AFFINE: _element_work,
    OpKind.TRANSPOSE: _element_work,
    OpKind.PAD: _element_work,
    OpKind.ARGMAX: _element_work,
}

# Op kinds whose inputs must be held whole (no streaming by rows).
WHOLE_INPUT_OPS = frozenset({OpKind.MATMUL, OpKind.TRANSPOSE})


def layer_work(layer: Layer, hw: HardwareSpec) -> float:
    """SC-cycles of work per frame of ``layer``: its op kind's rule (``WORK_RULES``) plus
    ``hw.sc_cycles_per_row`` per output row.

    Raises:
        PricingError: an op kind with no rule, or a MAC layer with no MACs.
    """
    rule = WORK_RULES.get(layer.op)
    if rule is None:
        raise PricingError(
            f"layer {layer.name!r}: op kind {layer.op!r} has no cost rule; "
            "add one to cost_model.lowering.WORK_RULES"
        )
    return rule(layer, hw) + tensor_rows(layer.output_shape) * hw.sc_cycles_per_row


# -- geometry -------------------------------------------------------------------------------------
def tensor_rows(shape: Shape) -> int:
    """Rows a tensor streams in (``H`` of ``(C, H, W)``, 1 of ``(N, D)`` and of ``(D,)``).

    >>> tensor_rows((3, 640, 640)), tensor_rows((197, 768)), tensor_rows((1000,))
    (640, 1, 1)
    """
    return row_geometry(shape)[0]


def row_geometry(shape: Shape) -> tuple[int, int]:
    """``(rows, elements per row)`` of a per-frame tensor, as a line buffer streams it.

    ``(C, H, W)`` streams H rows of ``C x W``; a sequence ``(N, D)`` (N tokens of D features) is
    one row of ``N x D``, as Hailo lays it out: height 1, width N, D channels (the Model Zoo
    lists the whisper encoders' inputs as ``1x1000x80`` and ``1x500x80``, H x W x C); ``(D,)``
    is one row; leading dimensions of longer shapes fold into the row.

    >>> row_geometry((64, 56, 56)), row_geometry((197, 768)), row_geometry((1000,))
    ((56, 3584), (1, 151296), (1, 1000))
    """
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return 1, shape[0]
    if len(shape) == 2:
        return 1, shape[0] * shape[1]
    rows = shape[-2]
    return rows, num_elements(shape) // rows


def input_buffer_bytes(layer: Layer, hw: HardwareSpec) -> tuple[int, ...]:
    """Bytes of L3 each input's line buffer takes (at the layer's activation precision).

    Each input keeps the rows its kernel spans, ``(kernel height - 1) x dilation height + 1``,
    plus ``stride height + hw.line_buffer_extra_rows`` (never more than the tensor has): a 3x3
    conv at dilation 4 spans 9 rows. MATMUL and TRANSPOSE inputs are held whole. With
    ``hw.skip_buffers`` each input also keeps its ``layer.held_rows`` (a skip connection's
    rows waiting for a parallel path, :mod:`cost_model.skips`).
    """
    bytes_per_element = layer.precision.activation_bits // 8
    span = (layer.kernel[0] - 1) * layer.dilation[0] + 1
    need_rows = span + layer.stride[0] + hw.line_buffer_extra_rows
    held = layer.held_rows if hw.skip_buffers and layer.held_rows else (0,) * len(layer.inputs)
    out = []
    for shape, waiting in zip(layer.input_shapes, held, strict=True):
        rows, row_elements = row_geometry(shape)
        kept = rows if layer.op in WHOLE_INPUT_OPS else min(rows, need_rows + waiting)
        out.append(kept * row_elements * bytes_per_element)
    return tuple(out)


def line_buffer_bytes(layer: Layer, hw: HardwareSpec) -> int:
    """Total bytes of the layer's input line buffers (see :func:`input_buffer_bytes`)."""
    return sum(input_buffer_bytes(layer, hw))


def output_channels(layer: Layer) -> int:
    """Channels a channel split can divide: C of ``(C, H, W)``, D of ``(N, D)`` or ``(D,)``."""
    shape = layer.output_shape
    return shape[0] if len(shape) >= 3 else shape[-1]


def _cuts(nbytes: int, cut_bytes: int) -> int:
    return -(-nbytes // cut_bytes)


def extra_nodes(layer: Layer, hw: HardwareSpec) -> int:
    """Nodes beyond its own that ``layer`` takes because Hailo builds it from several layers
    (``hw.extra_nodes_by_op``): norms over tokens (rank <= 2: layer norm, which computes
    statistics). A standalone batch norm is an AFFINE layer (Hailo's one ``mul_and_add``
    layer, over tokens as over a feature map), and a NORM on a feature map ``(C, H, W)`` is
    priced as one layer too."""
    if layer.op is OpKind.NORM and len(layer.output_shape) >= 3:
        return 0
    return dict(hw.extra_nodes_by_op).get(layer.op.value, 0)


# -- the F-independent part of a layer's price -------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class LayerProfile:
    """What lowering needs of a layer, computed once per (layer, hardware, fan-out).

    Attributes:
        name: the layer's name.
        work_sc_cycles: SC-cycles per frame (``W``).
        weight_bytes: parameter bytes at the layer's precision.
        weight_cuts: L3 cuts one copy of the weights takes.
        buffer_bytes: input line-buffer bytes; ``buffer_cuts`` the L3 cuts they take (each
            input's buffer in whole cuts of its own).
        channel_groups_max: most channel groups a split can make.
        shortcut: the output fans out (``hw.shortcut_nodes`` shortcut nodes are added).
        has_node: False for an op kind in ``hw.fused_ops``: Hailo's parser folds it into a
            neighbouring layer, so it takes SCs for its work but no node (LCU, APU, IA).
        extra_nodes: nodes (one SC each) an op kind built from several Hailo layers adds
            (``hw.extra_nodes_by_op``).
        max_fps: highest F any split reaches.
        macs: multiply-accumulates per frame.
    """

    name: str
    op: OpKind
    work_sc_cycles: float
    weight_bytes: int
    weight_cuts: int
    buffer_bytes: int
    buffer_cuts: int
    channel_groups_max: int
    shortcut: bool
    has_node: bool
    extra_nodes: int
    max_fps: float
    macs: int


@lru_cache(maxsize=65536)
def profile_layer(layer: Layer, hw: HardwareSpec, fan_out: int = 1) -> LayerProfile:
    """The F-independent price of ``layer`` on ``hw`` (cached).

    Raises:
        PricingError: no rule for the op kind, or a MAC layer without MACs.
    """
    work = layer_work(layer, hw)
    buffers = input_buffer_bytes(layer, hw)
    max_sc = hw.max_nodes_per_layer * hw.max_subclusters_per_node
    return LayerProfile(
        name=layer.name,
        op=layer.op,
        work_sc_cycles=work,
        weight_bytes=layer.weight_bytes,
        weight_cuts=_cuts(layer.weight_bytes, hw.l3_cut_bytes),
        buffer_bytes=sum(buffers),
        buffer_cuts=sum(_cuts(b, hw.l3_cut_bytes) for b in buffers),  # one buffer per input
        channel_groups_max=max(1, output_channels(layer) // hw.min_channels_per_node),
        shortcut=fan_out > 1,
        has_node=layer.op.value not in hw.fused_ops,
        extra_nodes=extra_nodes(layer, hw),
        max_fps=max_sc * hw.clock_hz / work,
        macs=layer.macs,
    )


# -- the F-dependent part, vectorised over layers (and levels) ---------------------------------
@dataclass(frozen=True)
class ProfileTable:
    """Profiles of many layers as numpy columns, for pricing them all at once."""

    names: tuple[str, ...]
    work: np.ndarray
    weight_cuts: np.ndarray
    buffer_cuts: np.ndarray
    channel_groups_max: np.ndarray
    shortcut: np.ndarray
    has_node: np.ndarray
    extra_nodes: np.ndarray
    max_fps: np.ndarray
    weight_bytes: np.ndarray
    macs: np.ndarray

    @classmethod
    def from_profiles(cls, profiles: Sequence[LayerProfile]) -> ProfileTable:
        """Stack profiles into columns (in the given order)."""

        def column(attr: str, dtype: type) -> np.ndarray:
            return np.array([getattr(p, attr) for p in profiles], dtype=dtype)

        return cls(
            names=tuple(p.name for p in profiles),
            work=column("work_sc_cycles", np.float64),
            weight_cuts=column("weight_cuts", np.int64),
            buffer_cuts=column("buffer_cuts", np.int64),
            channel_groups_max=column("channel_groups_max", np.int64),
            shortcut=column("shortcut", np.int64),
            has_node=column("has_node", np.int64),
            extra_nodes=column("extra_nodes", np.int64),
            max_fps=column("max_fps", np.float64),
            weight_bytes=column("weight_bytes", np.int64),
            macs=column("macs", np.int64),
        )

    def __len__(self) -> int:
        return len(self.names)


@dataclass(frozen=True)
class Lowered:
    """Integer columns of a lowering at one or more rates (shape ``(..., layers)``)."""

    subclusters_needed: np.ndarray  # SCs for the layer's own work
    layer_nodes: np.ndarray  # compute nodes (excluding combiner and shortcut)
    nodes: np.ndarray  # all nodes: compute + combiner + shortcut
    replication: np.ndarray  # copies of the weights (spatial parts)
    channel_groups: np.ndarray
    demand: np.ndarray  # (..., layers, 5) in RESOURCE_NAMES order


def lower_table(table: ProfileTable, hw: HardwareSpec, fps: float | np.ndarray) -> Lowered:
    """Lower every layer of ``table`` at ``fps`` (a scalar, or an array of shape ``(levels, 1)``
    to get a ``(levels, layers)`` result). Vectorised twin of :func:`demand_from_sc`; property
    tests keep the two equal."""
    rate = np.asarray(fps, dtype=np.float64)
    sc = np.maximum(1, np.ceil(table.work * rate / hw.clock_hz - _EPS)).astype(np.int64)
    n = -(-sc // hw.max_subclusters_per_node)
    combiner = (n > 1).astype(np.int64)
    shortcut = np.broadcast_to(table.shortcut * hw.shortcut_nodes, n.shape)
    groups = np.minimum(n, table.channel_groups_max)
    replication = -(-n // groups)
    extra = np.broadcast_to(table.extra_nodes, n.shape)
    nodes = (n + combiner) * table.has_node + shortcut + extra
    subclusters = sc + combiner * table.has_node * hw.combiner_subclusters
    subclusters = subclusters + shortcut * hw.shortcut_subclusters + extra
    l3 = replication * table.weight_cuts + table.buffer_cuts
    demand = np.stack(
        [
            nodes * hw.lcus_per_node,
            subclusters,
            l3,
            nodes * hw.apus_per_node,
            nodes * hw.input_aligners_per_node,
        ],
        axis=-1,
    )
    return Lowered(
        subclusters_needed=sc,
        layer_nodes=n,
        nodes=nodes,
        replication=replication,
        channel_groups=groups,
        demand=demand,
    )


# -- the public per-layer result ----------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class LayerCost:
    """A layer lowered at one rate.

    Attributes:
        layer: the layer's name.
        op: its op kind.
        fps: the rate it was lowered at.
        subclusters_needed: SCs for its own work at ``fps`` (before combiner/shortcut).
        layer_nodes: compute nodes it was split into (``_d0.._dN``).
        nodes: all its nodes, with the combiner (``_dc``) and the shortcut (``sh_from_``).
        split: ``"none"``, ``"channels"``, ``"spatial"`` or ``"channels+spatial"``.
        replication: copies of its weights in L3 (spatial parts).
        resources: its demand.
        weight_bytes: bytes loaded over PCIe at a context switch (one copy).
        config_bytes: configuration bytes loaded at a context switch.
        macs: multiply-accumulates per frame.
        max_fps: the highest rate any split reaches.
        reachable: ``fps <= max_fps``; when False the resources are what ``fps`` would need
            and the layer caps the rate (see ``notes``).
        notes: human-readable remarks.
    """

    layer: str
    op: OpKind
    fps: float
    subclusters_needed: int
    layer_nodes: int
    nodes: int
    split: str
    replication: int
    resources: Resources
    weight_bytes: int
    config_bytes: int
    macs: int
    max_fps: float
    reachable: bool = True
    notes: tuple[str, ...] = field(default=())


def _split_name(layer_nodes: int, groups: int, replication: int) -> str:
    if layer_nodes == 1:
        return "none"
    if replication == 1:
        return "channels"
    return "spatial" if groups == 1 else "channels+spatial"


def subclusters_at(profile: LayerProfile, hw: HardwareSpec, fps: float) -> int:
    """SCs a layer's own work needs at ``fps``: ``max(1, ceil(W x F / clock))``."""
    return max(1, math.ceil(profile.work_sc_cycles * fps / hw.clock_hz - _EPS))


def sc_step_fps(profile: LayerProfile, hw: HardwareSpec, sc: int) -> float:
    """The highest rate at which ``sc`` SCs still suffice: ``sc x clock / W``."""
    return sc * hw.clock_hz / profile.work_sc_cycles


def demand_from_sc(profile: LayerProfile, hw: HardwareSpec, sc: int) -> tuple[int, ...]:
    """Scalar twin of :func:`lower_table` for one layer with ``sc`` SCs of its own work (kept
    equal by a test). Returns ``(layer_nodes, nodes, groups, replication, *demand)``."""
    n = -(-sc // hw.max_subclusters_per_node)
    combiner = 1 if n > 1 and profile.has_node else 0
    shortcut = hw.shortcut_nodes if profile.shortcut else 0
    groups = min(n, profile.channel_groups_max)
    replication = -(-n // groups)
    nodes = (n if profile.has_node else 0) + combiner + shortcut + profile.extra_nodes
    subclusters = (
        sc
        + combiner * hw.combiner_subclusters
        + shortcut * hw.shortcut_subclusters
        + profile.extra_nodes
    )
    l3 = replication * profile.weight_cuts + profile.buffer_cuts
    return (
        n,
        nodes,
        groups,
        replication,
        nodes * hw.lcus_per_node,
        subclusters,
        l3,
        nodes * hw.apus_per_node,
        nodes * hw.input_aligners_per_node,
    )


def _cost_at(profile: LayerProfile, fps: float, hw: HardwareSpec) -> LayerCost:
    sc = subclusters_at(profile, hw, fps)
    n_layer, nodes, groups, replication, *demand = demand_from_sc(profile, hw, sc)
    reachable = fps <= profile.max_fps * (1 + _EPS)
    notes: tuple[str, ...] = ()
    if not reachable:
        notes = (
            f"layer {profile.name!r} caps the rate at {profile.max_fps:.4g} FPS "
            f"({hw.max_nodes_per_layer} nodes x {hw.max_subclusters_per_node} SCs); "
            f"{fps:.4g} FPS is out of reach",
        )
    lcus, subclusters, l3_cuts, apus, input_aligners = demand
    return LayerCost(
        layer=profile.name,
        op=profile.op,
        fps=fps,
        subclusters_needed=sc,
        layer_nodes=n_layer,
        nodes=nodes,
        split=_split_name(n_layer, groups, replication),
        replication=replication,
        resources=Resources(
            lcus=lcus,
            subclusters=subclusters,
            l3_cuts=l3_cuts,
            apus=apus,
            input_aligners=input_aligners,
        ),
        weight_bytes=profile.weight_bytes,
        config_bytes=nodes * hw.config_bytes_per_node,
        macs=profile.macs,
        max_fps=profile.max_fps,
        reachable=reachable,
        notes=notes,
    )


def _check_fps(fps: float) -> None:
    if not (isinstance(fps, (int, float)) and math.isfinite(fps) and fps > 0):
        raise PricingError(f"target rate {fps!r} FPS must be a positive finite number")


def lower_layer(layer: Layer, hw: HardwareSpec, fps: float, *, fan_out: int = 1) -> LayerCost:
    """Lower ``layer`` at ``fps`` frames per second on ``hw``.

    ``fan_out`` is how many readers its output tensor has (``Network.fan_out``); above 1 a
    shortcut node is added. A rate above :func:`max_layer_fps` is priced anyway and returned
    with ``reachable=False`` and a note naming the layer.

    Raises:
        PricingError: a non-positive rate, an op kind with no rule, a MAC layer without MACs.
    """
    _check_fps(fps)
    return _cost_at(profile_layer(layer, hw, fan_out), float(fps), hw)


def price_layers(
    layers: Sequence[tuple[Layer, int]], hw: HardwareSpec, fps: float
) -> list[LayerCost]:
    """:func:`lower_layer` for many ``(layer, fan_out)`` pairs, in order."""
    _check_fps(fps)
    return [
        _cost_at(profile_layer(layer, hw, fan_out), float(fps), hw) for layer, fan_out in layers
    ]


@dataclass(frozen=True, kw_only=True)
class LevelPrices:
    """Every layer priced at every rate, as integer arrays (what :func:`lower_layer` gives one
    ``(layer, rate)`` at a time).

    Attributes:
        demand: ``(levels, layers, 5)`` resources in ``RESOURCE_NAMES`` order
            (``LayerCost.resources``).
        config_bytes: ``(levels, layers)`` configuration bytes (``LayerCost.config_bytes``).
        reachable: ``(levels, layers)`` the rate is within the layer's ``max_fps``
            (``LayerCost.reachable``).
    """

    demand: np.ndarray
    config_bytes: np.ndarray
    reachable: np.ndarray


def price_matrix(
    layers: Sequence[tuple[Layer, int]], hw: HardwareSpec, levels: Sequence[float]
) -> LevelPrices:
    """:func:`lower_layer` for every ``(layer, fan_out)`` pair at every rate in one vectorised
    pass: the same numbers, ``O(levels x layers)`` numpy work instead of as many Python calls.

    Raises:
        PricingError: as :func:`lower_layer`.
    """
    for fps in levels:
        _check_fps(fps)
    table = ProfileTable.from_profiles(
        [profile_layer(layer, hw, fan_out) for layer, fan_out in layers]
    )
    rates = np.asarray(levels, dtype=np.float64).reshape(-1, 1)
    lowered = lower_table(table, hw, rates)
    return LevelPrices(
        demand=lowered.demand,
        config_bytes=lowered.nodes * hw.config_bytes_per_node,
        reachable=rates <= table.max_fps * (1 + _EPS),
    )


def demand_matrix(
    layers: Sequence[tuple[Layer, int]], hw: HardwareSpec, levels: Sequence[float]
) -> np.ndarray:
    """Integer demands of every layer at every rate: shape ``(levels, layers, 5)``, resources in
    ``RESOURCE_NAMES`` order. Same numbers as :func:`lower_layer`, computed in one pass."""
    return price_matrix(layers, hw, levels).demand


def max_layer_fps(layer: Layer, hw: HardwareSpec) -> float:
    """Highest rate any split of ``layer`` reaches: ``max_nodes_per_layer x 8 x clock / W``.

    Raises:
        PricingError: as :func:`lower_layer`.
    """
    return profile_layer(layer, hw, 1).max_fps
