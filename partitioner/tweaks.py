"""Block-level changes of a network for ``ctxfit explain``: the candidates, how each is built,
and how they are combined.

A change is an :class:`Atom`. Its network is built by a *space*:

* :class:`YoloSpace` (zoo YOLOv5 / YOLOv8 / YOLO11): rebuilt from the source with
  :class:`~partitioner.zoo.yolo.YoloEdits`: one CSP block with fewer repeats, a CSP block
  without its split and concat (:class:`~partitioner.zoo.yolo_blocks.PlainBlock`), an optional
  block dropped (SPPF, SPP, C2PSA), the largest-stride head scale dropped, one stage narrowed.
  Exact: the network is the one the changed model would import as.
* :class:`GraphSpace` (ONNX, saved graphs, factories): a block or a repeated sub-block whose
  one input and one output have the same shape is bypassed on the layer graph (its readers read
  its input). An approximation: the real model without the block may fuse differently.

Both add 4-bit weights for one block (``quantization_param({prefix*}, precision_mode=a8_w4)``),
which is exact in both.

:func:`combine` merges atoms of one network into one change (the lowest repeats of a row, the
narrowest factor of a row); :func:`conflicts` says when two atoms change the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from cost_model.layer import Precision
from partitioner.blocks import block_of
from partitioner.graph import Network
from partitioner.models import ModelRequest

NARROW_FACTORS = (0.75, 0.5)
"""Width factors offered for narrowing one stage."""


@dataclass(frozen=True, kw_only=True)
class Atom:
    """One block-level change.

    Attributes:
        kind: ``repeats``, ``plain``, ``drop``, ``head``, ``narrow``, ``w4`` or ``bypass``.
        target: what it changes (a row number for the YOLO space, a block name otherwise).
        value: the new repeats, the width factor, or ``None``.
        block: the block name it changes (``model.4``).
        change: for people (``model.4 (C2f): 2 -> 1 repeats``).
    """

    kind: str
    target: Any
    value: Any
    block: str
    change: str

    @property
    def slot(self) -> tuple[str, Any]:
        """Atoms with the same slot change the same thing (one of them at a time)."""
        return (self.kind, self.target)


def conflicts(atoms: Sequence[Atom], atom: Atom) -> bool:
    """True when ``atom`` changes what one of ``atoms`` changes, or removes a block another
    changes (a dropped or bypassed block cannot also be edited)."""
    slots = {a.slot for a in atoms}
    if atom.slot in slots:
        return True
    removed = {a.block for a in atoms if a.kind in ("drop", "bypass")}
    if atom.kind in ("drop", "bypass"):
        edited = {a.block for a in atoms}
        return atom.block in edited or any(_inside(b, atom.block) for b in edited)
    return atom.block in removed or any(_inside(atom.block, b) for b in removed)


def change_count(atoms: Sequence[Atom]) -> int:
    """The changes a user makes for ``atoms``: one per architecture atom (a row's repeats, a row
    made plain, a block dropped, the head scale dropped, a row narrowed: each is one edit of the
    table or one ``YoloEdits`` entry), and one for all the ``w4`` atoms together (one
    ``quantization_param({a*, b*}, precision_mode=a8_w4)`` line, :func:`apply_lines`).

    >>> w4 = [_w4_atom(f"model.{i}") for i in (5, 6, 7)]
    >>> drop = Atom(kind="drop", target=9, value=None, block="model.9", change="")
    >>> change_count(w4), change_count([drop, *w4]), change_count([drop]), change_count([])
    (1, 2, 1, 0)
    """
    return sum(a.kind != "w4" for a in atoms) + any(a.kind == "w4" for a in atoms)


def _inside(block: str, outer: str) -> bool:
    return block.startswith(outer + ".")


def w4_pattern(net: Network, block: str) -> str | None:
    """The ``quantization_param`` glob naming the layers of ``block`` (their common prefix), or
    ``None`` when ``net`` has none (another change removed the block)."""
    names = [n for n in net.topological_order() if block_of(n) == block]
    if not names:
        return None
    if len(names) == 1:
        return names[0]
    prefix = names[0]
    for name in names[1:]:
        while not name.startswith(prefix):
            prefix = prefix[:-1]
    return f"{prefix}*"


def w4_rules(net: Network, atoms: Sequence[Atom]) -> tuple[tuple[str, Precision], ...]:
    """The precision rules of the ``w4`` atoms among ``atoms``."""
    patterns = [w4_pattern(net, a.block) for a in atoms if a.kind == "w4"]
    return tuple((p, Precision.A8_W4) for p in patterns if p is not None)


def apply_lines(net: Network, atoms: Sequence[Atom]) -> list[str]:
    """The model-script line of the ``w4`` atoms: one ``quantization_param`` with every
    block's glob (empty when there is none).

    >>> from cost_model.layer import Layer, OpKind
    >>> def conv(name, src):
    ...     return Layer(name=name, op=OpKind.CONV, inputs=(src,), input_shapes=((8, 4, 4),),
    ...                  output_shape=(8, 4, 4))
    >>> net = Network("n", [conv("model.5.conv", "x"), conv("model.6.cv1.conv", "model.5.conv"),
    ...                     conv("model.6.cv2.conv", "model.6.cv1.conv")],
    ...               inputs={"x": (8, 4, 4)}, outputs=["model.6.cv2.conv"])
    >>> apply_lines(net, [_w4_atom("model.5"), _w4_atom("model.6")])
    ['quantization_param({model.5.conv, model.6.cv*}, precision_mode=a8_w4)']
    """
    patterns = [pattern for pattern, _ in w4_rules(net, atoms)]
    if not patterns:
        return []
    return [f"quantization_param({{{', '.join(patterns)}}}, precision_mode=a8_w4)"]


def w4_change(atoms: Sequence[Atom]) -> str:
    """The ``w4`` atoms as one change for people (``4-bit weights in model.5, model.6``), empty
    when there is none."""
    blocks = [a.block for a in atoms if a.kind == "w4"]
    return f"4-bit weights in {', '.join(blocks)}" if blocks else ""


# -- the zoo's YOLO networks, rebuilt -----------------------------------------------------------
YOLO_BUILDERS = {
    "yolov5": ("partitioner.zoo.yolo", "yolov5", "YOLOV5_ROWS", "YOLOV5_SCALES"),
    "yolov5_wo_spp": (
        "partitioner.zoo.yolov5_wo_spp",
        "yolov5_wo_spp",
        "YOLOV5_WO_SPP_ROWS",
        None,
    ),
    "yolov8": ("partitioner.zoo.yolo", "yolov8", "YOLOV8_ROWS", "YOLOV8_SCALES"),
    "yolo11": ("partitioner.zoo.yolo", "yolo11", "YOLO11_ROWS", "YOLO11_SCALES"),
}
"""Builder function name -> (module, function, rows table, scales table)."""


def yolo_recipe(spec: str) -> tuple[str, str, dict[str, Any]] | None:
    """The zoo recipe ``(module, function, fixed args)`` of a YOLO detector ``spec`` that
    :class:`YoloSpace` rebuilds, or ``None``."""
    from partitioner.zoo import recipe, resolve_name

    try:
        entry = resolve_name(spec)
    except Exception:  # noqa: BLE001 - not a zoo name
        return None
    module, function, fixed = recipe(entry.name)
    if function not in YOLO_BUILDERS:
        return None
    return module, function, dict(fixed)


class YoloSpace:
    """Block-level changes of a zoo YOLO detector, rebuilt from its table."""

    approximate = False

    def __init__(self, request: ModelRequest) -> None:
        import importlib

        from partitioner.zoo import resolve_name

        recipe = yolo_recipe(request.spec)
        assert recipe is not None
        self.request = request
        self.entry = resolve_name(request.spec)
        self.function = recipe[1]
        self.fixed = recipe[2]
        module_name, function, rows_name, scales_name = YOLO_BUILDERS[self.function]
        module = importlib.import_module(module_name)
        self.rows = getattr(module, rows_name)
        if scales_name is None:
            from partitioner.zoo.yolo import YOLOV5_SCALES

            self.scale = YOLOV5_SCALES[self.fixed["scale"]]
        else:
            self.scale = getattr(module, scales_name)[self.fixed["scale"]]
        self.build_function = getattr(module, function)

    def repeats(self, row: int) -> int:
        """The scaled repeats of a row (as the builder computes them)."""
        from partitioner.zoo.blocks import scale_repeats

        return scale_repeats(self.rows[row][1], self.scale.depth * (self.request.depth or 1.0))

    def atoms(self, net: Network, heavy_blocks: Sequence[str]) -> list[Atom]:
        """Every block-level change of the table; ``heavy_blocks`` (largest L3 / SC users)
        get narrowing and 4-bit atoms."""
        from partitioner.zoo.yolo import CSP_KINDS, OPTIONAL_KINDS

        out: list[Atom] = []
        for i, (_, _, kind, _) in enumerate(self.rows):
            block = f"model.{i}"
            if kind in CSP_KINDS:
                n = self.repeats(i)
                for k in sorted({n - 1, 1}, reverse=True):
                    if 1 <= k < n:
                        out.append(
                            Atom(
                                kind="repeats",
                                target=i,
                                value=k,
                                block=block,
                                change=f"{block} {kind}: {n} -> {k} repeats",
                            )
                        )
                out.append(
                    Atom(
                        kind="plain",
                        target=i,
                        value=None,
                        block=block,
                        change=f"{block} {kind} -> plain block (no split/concat)",
                    )
                )
            elif kind in OPTIONAL_KINDS:
                out.append(
                    Atom(
                        kind="drop",
                        target=i,
                        value=None,
                        block=block,
                        change=f"drop {block} {kind}",
                    )
                )
        head = len(self.rows) - 1
        out.append(
            Atom(
                kind="head",
                target=head,
                value=None,
                block=f"model.{head}",
                change="drop the stride-32 head scale (P5 output)",
            )
        )
        for block in heavy_blocks:
            row = _row_of(block)
            if row is None or self.rows[row][2] not in (*CSP_KINDS, "Conv"):
                continue
            for factor in NARROW_FACTORS:
                out.append(
                    Atom(
                        kind="narrow",
                        target=row,
                        value=factor,
                        block=block,
                        change=f"narrow {block} {self.rows[row][2]} to {factor:g}x channels",
                    )
                )
            out.append(_w4_atom(block))
        return out  # fmt: skip

    # -- per-row states (the exact row search of :mod:`partitioner.block_search`) ----------------
    @property
    def head_row(self) -> int:
        """The detection head's row (the table's last)."""
        return len(self.rows) - 1

    def csp_rows(self) -> list[int]:
        """Rows that are CSP blocks (repeats and plain apply)."""
        from partitioner.zoo.yolo import CSP_KINDS

        return [i for i, row in enumerate(self.rows) if row[2] in CSP_KINDS]

    def optional_rows(self) -> list[int]:
        """Rows the network runs without (SPPF, SPP, C2PSA)."""
        from partitioner.zoo.yolo import OPTIONAL_KINDS

        return [i for i, row in enumerate(self.rows) if row[2] in OPTIONAL_KINDS]

    def dead_rows(self) -> list[int]:
        """Rows only the head's last scale reads (gone with :meth:`head_atom`)."""
        return sorted(int(b.split(".")[1]) for b in self._dead_blocks())

    def head_atom(self) -> Atom:
        """The largest-stride head scale dropped."""
        return Atom(
            kind="head",
            target=self.head_row,
            value=None,
            block=f"model.{self.head_row}",
            change="drop the stride-32 head scale (P5 output)",
        )

    def state_atoms(self, row: int, *, plain: bool, repeats: int) -> tuple[Atom, ...]:
        """The atoms giving CSP ``row`` ``repeats`` bottlenecks, as a plain block or not."""
        kind, block, n = self.rows[row][2], f"model.{row}", self.repeats(row)
        out = []
        if repeats < n:
            change = f"{block} {kind}: {n} -> {repeats} repeats"
            out.append(Atom(kind="repeats", target=row, value=repeats, block=block, change=change))
        if plain:
            change = f"{block} {kind} -> plain block (no split/concat)"
            out.append(Atom(kind="plain", target=row, value=None, block=block, change=change))
        return tuple(out)

    def drop_atom(self, row: int) -> Atom:
        """Optional ``row`` dropped."""
        block = f"model.{row}"
        change = f"drop {block} {self.rows[row][2]}"
        return Atom(kind="drop", target=row, value=None, block=block, change=change)

    def narrowable(self, blocks: Sequence[str]) -> list[int]:
        """The rows of ``blocks`` that :meth:`atoms` offers narrowing for."""
        from partitioner.zoo.yolo import CSP_KINDS

        rows = [_row_of(b) for b in blocks]
        return [r for r in rows if r is not None and self.rows[r][2] in (*CSP_KINDS, "Conv")]

    def state_builds(self) -> list[tuple[tuple[Atom, ...], dict[int, tuple[Atom, ...]]]]:
        """Networks whose layers give every row state: per network its atoms and, per row, the
        state it shows (the atoms of that row). Rows change independently (a state keeps the
        row's channels), so one network shows a state of every row at once: the published
        network, each CSP row at k repeats (k = 1 .. its repeats) as it is and as a plain
        block, every optional row dropped, and the last head scale dropped (``head`` below)."""
        csp = self.csp_rows()
        out: list[tuple[tuple[Atom, ...], dict[int, tuple[Atom, ...]]]] = [
            ((), {i: () for i in range(len(self.rows))})
        ]
        most = max((self.repeats(i) for i in csp), default=0)
        for plain in (False, True):
            for k in range(1, most + 1):
                states = {
                    i: self.state_atoms(i, plain=plain, repeats=min(k, self.repeats(i)))
                    for i in csp
                    if k <= self.repeats(i) and (plain or k < self.repeats(i))
                }
                if states:
                    out.append((tuple(a for v in states.values() for a in v), states))
        dropped = {i: (self.drop_atom(i),) for i in self.optional_rows()}
        if dropped:
            out.append((tuple(a for v in dropped.values() for a in v), dropped))
        return out

    def removed_layers(self, atom: Atom, net: Network) -> tuple[list[str], float] | None:
        """The layers of ``net`` (the unchanged network) that ``atom`` removes, and the share
        of the rest's demand it keeps (a narrowed row keeps ``factor`` of its SCs and L3); the
        cheap estimate the greedy ranks changes by (each combination is then built). ``None``
        for ``w4`` atoms (checked exactly instead)."""
        i = atom.target
        names = net.topological_order()
        if atom.kind == "drop":
            return [n for n in names if block_of(n) == atom.block], 1.0
        if atom.kind == "repeats":
            gone = [f"model.{i}.m.{j}." for j in range(atom.value, self.repeats(i))]
            return [n for n in names if n.startswith(tuple(gone))], 1.0
        if atom.kind == "plain":
            keep = (f"model.{i}.cv1.", f"model.{i}.m.")
            return [n for n in names if block_of(n) == atom.block and not n.startswith(keep)], 1.0
        if atom.kind == "head":
            dead, head = self._dead_blocks(), len(self.rows) - 1
            last = str(len(_sources(self.rows[head][0], head)) - 1)
            return [
                n
                for n in names
                if block_of(n) in dead
                or (block_of(n) == f"model.{head}" and n.split(".")[3:4] == [last])
            ], 1.0
        if atom.kind == "narrow":
            return [], atom.value
        return None

    def _dead_blocks(self) -> set[str]:
        """Blocks only the head's last scale reads."""
        head = len(self.rows) - 1
        sources = list(_sources(self.rows[head][0], head))[:-1]
        needed: set[int] = set()
        while sources:
            row = sources.pop()
            if row < 0 or row in needed:
                continue
            needed.add(row)
            sources += _sources(self.rows[row][0], row)
        return {f"model.{r}" for r in range(head) if r not in needed}

    def how(self, atoms: Sequence[Atom]) -> str:
        """How to get the change: the zoo knob (``YoloEdits``) of ``partitioner.zoo``."""
        edits = self.edits(atoms)
        fields = {
            k: v
            for k, v in (
                ("repeats", edits.repeats),
                ("plain", edits.plain),
                ("drop", edits.drop),
                ("drop_last_scale", edits.drop_last_scale),
                ("narrow", edits.narrow),
            )
            if v
        }
        if not fields:
            return ""
        args = ", ".join(f"{k}={v!r}" for k, v in fields.items())
        from partitioner.zoo import check_knobs

        r = self.request
        _, knobs = check_knobs(
            self.entry.name, width=r.width, depth=r.depth, resolution=r.resolution
        )  # the call builds the network at these knobs, as explain did: a runnable factory body
        return (
            f"{self.function}({self.fixed['scale']!r}, width={knobs['width']:g}, "
            f"depth={knobs['depth']:g}, edits=YoloEdits({args}))"
        )

    def edits(self, atoms: Sequence[Atom]) -> Any:
        """The :class:`~partitioner.zoo.yolo.YoloEdits` of ``atoms``."""
        from partitioner.zoo.yolo import YoloEdits

        repeats: dict[int, int] = {}
        narrow: dict[int, float] = {}
        for a in atoms:
            if a.kind == "repeats":
                repeats[a.target] = min(a.value, repeats.get(a.target, a.value))
            elif a.kind == "narrow":
                narrow[a.target] = min(a.value, narrow.get(a.target, a.value))
        return YoloEdits(
            repeats=tuple(sorted(repeats.items())),
            plain=tuple(sorted(a.target for a in atoms if a.kind == "plain")),
            drop=tuple(sorted(a.target for a in atoms if a.kind == "drop")),
            drop_last_scale=any(a.kind == "head" for a in atoms),
            narrow=tuple(sorted(narrow.items())),
        )

    def build(self, base: Network, atoms: Sequence[Atom]) -> Network:
        """The network with the architecture atoms applied (``w4`` atoms are script lines),
        imported once and kept in the network cache."""
        from partitioner.netcache import cached_network
        from partitioner.zoo import check_knobs

        edits = self.edits(atoms)
        if edits == type(edits)():
            return base
        r = self.request
        _, knobs = check_knobs(
            self.entry.name, width=r.width, depth=r.depth, resolution=r.resolution
        )
        key = {**knobs, "edits": repr(edits)}

        def build() -> Network:
            import torch

            from partitioner.importers.torch_fx import import_module
            from partitioner.zoo import materialize

            with torch.device("meta"):
                module = self.build_function(
                    **self.fixed, width=knobs["width"], depth=knobs["depth"], edits=edits
                )
            module = materialize(module).eval()
            h, w = self.entry.input_hw_at(int(knobs["resolution"]))
            shape = (1, self.entry.input_chw[0], h, w)
            return import_module(module, shape, name=self.entry.name)

        return cached_network(self.entry.name, key, build)


def _sources(source: Any, row: int) -> list[int]:
    """Absolute row numbers of a table row's ``source`` (``-1`` is the previous row)."""
    listed = (source,) if isinstance(source, int) else tuple(source)
    return [row - 1 if s == -1 else s for s in listed]


def _row_of(block: str) -> int | None:
    head, _, tail = block.partition(".")
    return int(tail) if head == "model" and tail.isdigit() else None


def _w4_atom(block: str) -> Atom:
    return Atom(
        kind="w4", target=block, value=None, block=block, change=f"4-bit weights in {block}"
    )


# -- any layer graph ------------------------------------------------------------------------------
def sub_block_of(name: str) -> str | None:
    """The repeated unit a layer belongs to: its name up to the second numeric component
    (``model.2.m.0.cv1.conv`` -> ``model.2.m.0``, ``layer3.2.conv1`` -> ``None``).

    >>> sub_block_of("model.2.m.0.cv1.conv"), sub_block_of("/model.4/m.1/cv2/conv/Conv")
    ('model.2.m.0', 'model.4.m.1')
    >>> sub_block_of("layer3.2.conv1") is None
    True
    """
    import re

    parts = [p for p in re.split(r"[./]", name) if p]
    numeric = [i for i, p in enumerate(parts[:5]) if p.isdigit() and i > 0]
    if len(numeric) < 2:
        return None
    return ".".join(parts[: numeric[1] + 1])


def bypassable(net: Network, names: Sequence[str]) -> tuple[str, str] | None:
    """``(input, output)`` when the layers ``names`` read one tensor from outside, only one of
    them is read outside (and it is no graph output), and both have the same shape; else
    ``None``."""
    inside = set(names)
    reads = {s for n in names for s in net.layer(n).inputs if s not in inside}
    leaving = [n for n in names if any(s not in inside for s in net.successors(n))]
    if len(reads) != 1 or len(leaving) != 1 or any(n in net.outputs for n in names):
        return None
    (src,) = reads
    shape = net.inputs[src] if src in net.inputs else net.layer(src).output_shape
    out = leaving[0]
    if tuple(shape) != tuple(net.layer(out).output_shape):
        return None
    return src, out


def bypass(net: Network, names: Sequence[str]) -> Network:
    """``net`` without the layers ``names``: the readers of their output read their input.

    Raises:
        ValueError: the layers cannot be bypassed (:func:`bypassable` is ``None``).

    >>> from cost_model.layer import Layer, OpKind
    >>> def relu(name, src):
    ...     return Layer(name=name, op=OpKind.ACTIVATION, inputs=(src,), input_shapes=((4,),),
    ...                  output_shape=(4,))
    >>> net = Network("n", [relu("a", "x"), relu("b", "a"), relu("c", "b")],
    ...               inputs={"x": (4,)}, outputs=["c"])
    >>> bypass(net, ["b"]).layer("c").inputs
    ('a',)
    """
    ends = bypassable(net, names)
    if ends is None:
        raise ValueError(f"layers {list(names)[:3]!r}... cannot be bypassed")
    src, out = ends
    gone = set(names)
    layers = []
    for layer in net.layers:
        if layer.name in gone:
            continue
        if out in layer.inputs:
            layer = replace(layer, inputs=tuple(src if s == out else s for s in layer.inputs))
        layers.append(layer)
    return Network(net.name, layers, inputs=dict(net.inputs), outputs=list(net.outputs))


class GraphSpace:
    """Block-level changes applied to the layer graph (ONNX, saved graphs, factories)."""

    approximate = True

    def __init__(self, net: Network) -> None:
        self.base = net
        self.groups: dict[str, tuple[str, ...]] = {}
        for name in net.topological_order():
            for group in (block_of(name), sub_block_of(name)):
                if group is not None:
                    self.groups[group] = (*self.groups.get(group, ()), name)

    def atoms(self, net: Network, heavy_blocks: Sequence[str]) -> list[Atom]:
        """A bypass per group that can be bypassed; 4-bit weights for ``heavy_blocks``."""
        out = [
            Atom(kind="bypass", target=group, value=None, block=group,
                 change=f"bypass {group} ({len(names)} layers)")
            for group, names in self.groups.items()
            if len(names) < len(net) and bypassable(net, names) is not None
        ]  # fmt: skip
        return out + [_w4_atom(b) for b in heavy_blocks]

    def removed_layers(self, atom: Atom, net: Network) -> None:
        """Bypasses are checked exactly (cheap on the layer graph): no estimate."""
        return None

    def how(self, atoms: Sequence[Atom]) -> str:
        """What to remove from the model."""
        gone = [a.target for a in atoms if a.kind == "bypass"]
        if not gone:
            return ""
        return f"remove {', '.join(gone)} from the model (its input feeds its readers)"

    def build(self, base: Network, atoms: Sequence[Atom]) -> Network:
        """``base`` with the bypass atoms applied, largest groups first."""
        net = base
        for a in sorted((a for a in atoms if a.kind == "bypass"), key=lambda a: a.target):
            names = [n for n in self.groups[a.target] if n in net]
            if names and bypassable(net, names) is not None:
                net = bypass(net, names)
        return net


__all__ = [
    "NARROW_FACTORS",
    "Atom",
    "GraphSpace",
    "YoloSpace",
    "apply_lines",
    "bypass",
    "bypassable",
    "change_count",
    "conflicts",
    "sub_block_of",
    "w4_pattern",
    "w4_change",
    "w4_rules",
    "yolo_recipe",
]
