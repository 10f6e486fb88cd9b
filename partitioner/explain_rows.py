"""``ctxfit explain``'s exact row search over a zoo YOLO detector (run by
:func:`partitioner.explain._search_blocks` before its greedy search).

Every row of the detector's table has a few states (repeats, a plain CSP block, a block or the
P5 head scale dropped, narrowed, 4-bit weights); :class:`RowTables` reads each state's nodes, L3
cuts and MACs at the lowest rate from a few rebuilt networks (rows are independent, so one
network shows a state of every row). :func:`row_candidates` lists the combinations that fit one
context's LCU and L3 limits keeping 90% of the published MACs, fewest changes first
(:func:`partitioner.block_search.fewest_rows`); :func:`row_search` builds and checks them in
that order; when none can exist, :func:`row_proof` says why in one line from lower bounds.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cost_model.caps import CAP_RESOURCE, ResourceCaps
from cost_model.hardware import HardwareSpec
from cost_model.resources import COMPILER_LABELS, format_over
from partitioner.block_search import MIN_MACS_KEPT
from partitioner.explain import CAP_LIMITS, CAP_OPTION, OutOfTime, caps_line, next_cap
from partitioner.graph import Network
from partitioner.tweaks import NARROW_FACTORS

if TYPE_CHECKING:
    from partitioner.explain import _Explorer


def row_table(
    explorer: _Explorer, net: Network, changes: dict[str, Any] | None
) -> dict[str, tuple[int, int, int]]:
    """Per block of ``net`` prepared with script ``changes``: its layers' nodes, L3 cuts and
    MACs at the lowest rate (one SC per layer: the least any rate needs; no shortcut nodes,
    which only add)."""
    from cost_model.lowering import profile_layer
    from partitioner.blocks import block_of

    out: dict[str, tuple[int, int, int]] = {}
    for layer in explorer.prepare(net, changes).net.layers:
        p = profile_layer(layer, explorer.hw, 1)
        nodes, l3, macs = out.get(block_of(layer.name), (0, 0, 0))
        out[block_of(layer.name)] = (
            nodes + int(p.has_node) + p.extra_nodes,
            l3 + p.weight_cuts + p.buffer_cuts,
            macs + layer.macs,
        )
    return out


def node_limit(hw: HardwareSpec, caps: ResourceCaps) -> tuple[int, str]:
    """The most nodes one context holds under ``caps`` (each takes an LCU, an APU and an input
    aligner), and the resource that sets it."""
    from cost_model.caps import limits

    lim = limits(caps, hw)
    per = {
        "lcus": hw.lcus_per_node,
        "apus": hw.apus_per_node,
        "input_aligners": hw.input_aligners_per_node,
    }
    return min((getattr(lim, r) // max(k, 1), r) for r, k in per.items())


def caps_for(
    hw: HardwareSpec, current: ResourceCaps, nodes: int, l3: int
) -> dict[str, float] | None:
    """The lowest caps (steps of :data:`CAP_STEP` up to :data:`CAP_LIMITS`) above ``current``
    that allow ``nodes`` nodes and ``l3`` L3 cuts: only the raised ones (``None``: not
    reachable)."""
    from cost_model.caps import cap_limit

    totals = hw.totals()
    need = {
        "control": nodes * hw.lcus_per_node,
        "apu": nodes * hw.apus_per_node,
        "input_aligner": nodes * hw.input_aligners_per_node,
        "memory": l3,
    }
    out: dict[str, float] = {}
    for name, used in need.items():
        total = getattr(totals, CAP_RESOURCE[name])
        u = getattr(current, name)
        while cap_limit(u, total) < used:
            step = next_cap(u, getattr(CAP_LIMITS, name))
            if step is None:
                return None
            u = out[name] = step
    return out


class RowTables:
    """Per row of a zoo YOLO table its states as :class:`~partitioner.block_search.RowOption`
    s, read from the networks of :meth:`YoloSpace.state_builds
    <partitioner.tweaks.YoloSpace.state_builds>` (each built and prepared once)."""

    def __init__(self, explorer: _Explorer, space: Any, net: Network, heavy: Sequence[str]) -> None:
        from cost_model.layer import Precision
        from partitioner.tweaks import Atom

        self.explorer, self.space, self.net = explorer, space, net
        script = explorer.base_script
        self.w4 = {
            "precision": (script.precision if script else ()) + (("*", Precision.A8_W4),),
            "precision_lines": (script.precision_lines if script else ()) + (0,),
        }
        low = min(NARROW_FACTORS)
        self.narrowest = [
            Atom(kind="narrow", target=r, value=low, block=f"model.{r}", change="")
            for r in space.narrowable(heavy)
        ]
        self._memo: dict[Any, dict[str, tuple[int, int, int]]] = {}

    def table(self, atoms: Sequence[Any], *, four_bit: bool) -> dict[str, tuple[int, int, int]]:
        """:func:`row_table` of the network with ``atoms`` (every weight in 4 bits or not)."""
        key = (frozenset(atoms), four_bit)
        if key not in self._memo:
            if self.explorer.out_of_time():
                raise OutOfTime
            built = self.space.build(self.net, atoms)
            self._memo[key] = row_table(self.explorer, built, self.w4 if four_bit else None)
        return self._memo[key]

    def searched(self, atoms: Sequence[Any], state: tuple[Any, ...], block: str) -> list[Any]:
        """The state ``state`` of ``block`` as the network ``atoms`` shows it, with its 4-bit
        twin when that saves L3 cuts."""
        from partitioner.block_search import RowOption
        from partitioner.tweaks import Atom

        nodes, l3, macs = self.table(atoms, four_bit=False).get(block, (0, 0, 0))
        l3_w4 = self.table(atoms, four_bit=True).get(block, (0, 0, 0))[1]
        out = [RowOption(atoms=state, nodes=nodes, l3_cuts=l3, macs=macs)]
        if l3_w4 < l3:
            w4 = Atom(kind="w4", target=block, value=None, block=block,
                      change=f"4-bit weights in {block}")  # fmt: skip
            out.append(RowOption(atoms=(*state, w4), nodes=nodes, l3_cuts=l3_w4, macs=macs))
        return out

    def bounded(self, atoms: Sequence[Any], state: tuple[Any, ...], block: str) -> list[Any]:
        """The state with its L3 cuts at their lowest (every weight in 4 bits, the narrowable
        rows at the narrowest factor: both only lower L3 cuts) and its MACs unnarrowed
        (narrowing only lowers MACs)."""
        from partitioner.block_search import RowOption

        nodes, _, macs = self.table(atoms, four_bit=False).get(block, (0, 0, 0))
        low = self.table([*atoms, *self.narrowest], four_bit=True).get(block, (0, 0, 0))[1]
        return [RowOption(atoms=state, nodes=nodes, l3_cuts=low, macs=macs)]

    def options(self, *, bound: bool = False) -> tuple[list[list[Any]], list[list[Any]]]:
        """Per row its options, without and with the last head scale dropped (its rows give
        nothing then); ``bound``: :meth:`bounded` options, else :meth:`searched`."""
        from partitioner.block_search import RowOption

        make = self.bounded if bound else self.searched
        space = self.space
        rows = len(space.rows)
        plain: list[list[Any]] = [[] for _ in range(rows)]
        for atoms, states in space.state_builds():
            for row, state in states.items():
                plain[row] += make(atoms, state, f"model.{row}")
        dead, head = set(space.dead_rows()), space.head_atom()
        nothing = [RowOption(atoms=(), nodes=0, l3_cuts=0, macs=0)]
        with_head = [
            nothing
            if row in dead
            else make([head], (head,), f"model.{row}")
            if row == space.head_row
            else plain[row]
            for row in range(rows)
        ]
        return plain, with_head


ROW_CHECKS = 8
"""Candidates of the row search built and checked at most (each one rebuilt network): the
tables predict each candidate's nodes, L3 cuts and MACs exactly, so the first usually fits."""


@dataclass(frozen=True, kw_only=True)
class RowCandidate:
    """A combination of row states, the caps it raises and the changes a user makes for it
    (``macs``: of the published network's, per row at most its published MACs;
    ``total_macs``: all of them)."""

    atoms: tuple[Any, ...]
    caps: dict[str, float]
    changes: int
    nodes: int
    l3_cuts: int
    macs: int
    total_macs: int

    @property
    def rank(self) -> tuple[int, int, int, int, int, int, int]:
        """Fewest changes, most MACs kept, fewest MACs in all (the least extra work), fewest
        atoms (4-bit blocks), no caps raised, fewest nodes and L3 cuts."""
        return (
            self.changes,
            -self.macs,
            self.total_macs,
            len(self.atoms),
            len(self.caps),
            self.nodes,
            self.l3_cuts,
        )


def row_candidates(
    hw: HardwareSpec,
    current: ResourceCaps,
    highest: ResourceCaps,
    variants: Sequence[Sequence[Sequence[Any]]],
    min_macs: int,
) -> list[RowCandidate]:
    """Every combination :func:`~partitioner.block_search.fewest_rows` lists within one
    context at ``highest`` caps keeping ``min_macs`` of the published network's MACs (per row
    at most its published MACs, :func:`~partitioner.block_search.kept_rows`: the first option
    of each row of ``variants[0]``), best :attr:`RowCandidate.rank` first. A combination over
    the ``current`` caps raises the lowest caps that hold it (:func:`caps_for`), one change
    more (one ``resources_param`` line); each keeps 4-bit weights in the fewest rows the L3
    cuts of the caps it already pays for need (:func:`~partitioner.block_search.fewest_w4`).
    A combination that changes nothing but the caps is left out (the ``caps`` kind's). At equal
    changes and MACs kept, the fewest MACs in all come first (among the combinations the
    dynamic programme keeps: one of several with the same nodes, changes, L3 cuts and MACs
    kept, so this tie-break is not exact)."""
    from cost_model.caps import limits
    from partitioner.block_search import fewest_rows, fewest_w4, kept_rows
    from partitioner.tweaks import change_count

    max_nodes, _ = node_limit(hw, highest)
    max_l3, l3_now = limits(highest, hw).l3_cuts, limits(current, hw).l3_cuts
    published = [r[0].macs for r in variants[0]]
    out: list[RowCandidate] = []
    for variant in variants:
        rows = kept_rows(variant, published)
        for combo in fewest_rows(rows, max_nodes=max_nodes, max_l3=max_l3, min_macs=min_macs):
            if not combo.atoms:
                continue
            raise_to = caps_for(hw, current, combo.nodes, combo.l3_cuts)
            if raise_to is None:
                continue
            options = fewest_w4(rows, combo.options, max_l3=max_l3 if raise_to else l3_now)
            l3 = sum(o.l3_cuts for o in options)
            raise_to = caps_for(hw, current, combo.nodes, l3) if raise_to else {}
            if raise_to is None:
                continue
            atoms = tuple(a for o in options for a in o.atoms)
            raw = [
                next(x.macs for x in variant[i] if x.atoms == o.atoms)
                for i, o in enumerate(options)
            ]
            total = sum(raw)
            out.append(
                RowCandidate(
                    atoms=atoms,
                    caps=raise_to,
                    changes=change_count(atoms) + bool(raise_to),
                    nodes=combo.nodes,
                    l3_cuts=l3,
                    macs=combo.macs,
                    total_macs=total,
                )
            )
    out.sort(key=lambda c: c.rank)
    return out


def _changes(count: int) -> str:
    return f"{count} change" + "s" * (count != 1)


def row_search(
    explorer: _Explorer,
    space: Any,
    net: Network,
    heavy: Sequence[str],
    evaluate: Callable[..., Any],
) -> tuple[list[tuple[Any, dict[str, float]]], str | None]:
    """The exact search over the rows of a zoo YOLO table (:mod:`partitioner.block_search`):
    per row every state (1 .. n repeats of a CSP block, as it is or plain; an optional block
    dropped; the last head scale dropped, its rows with it), each with or without 4-bit
    weights. The combinations within one context's nodes and L3 cuts keeping
    :data:`MIN_MACS_KEPT` of the published network's MACs are ranked by the changes a user
    makes (one per architecture change, one for all 4-bit weights together, one for raised
    caps), then the MACs kept (:func:`row_candidates`); they are built and checked in that
    order (at most :data:`ROW_CHECKS`) and the first that fits is returned with the caps it
    raises. When none keeping :data:`MIN_MACS_KEPT` of the MACs can exist, the one-line proof
    is returned instead (a bound over every combination keeping that share of the changed
    network's MACs: the search's combinations are among them)."""
    started = time.monotonic()
    tables = RowTables(explorer, space, net, heavy)
    variants = tables.options()
    explorer.log(
        f"row search: {len(space.rows)} rows' tables in {time.monotonic() - started:.1f} s"
    )
    hw = explorer.hw
    current = explorer.prepare(net).settings.options.single_caps
    highest = ResourceCaps(
        **{name: max(getattr(current, name), getattr(CAP_LIMITS, name)) for name in CAP_RESOURCE}
    )
    min_macs = math.ceil(MIN_MACS_KEPT * net.total_macs)
    candidates = row_candidates(hw, current, highest, variants, min_macs)
    explorer.log(
        f"row search: {len(candidates)} candidates"
        + (f", the fewest {_changes(candidates[0].changes)}" if candidates else "")
    )
    for c in candidates[:ROW_CHECKS]:
        ev = evaluate(list(c.atoms), c.caps)
        explorer.log(
            f"row search: {_changes(c.changes)} ({len(c.atoms)} atoms), {c.nodes} nodes, "
            f"{c.l3_cuts} L3 cuts, {c.macs / max(net.total_macs, 1):.1%} MACs"
            + (f", {caps_line(c.caps)}" if c.caps else "")
            + f": {'fits' if ev.fits else 'no (' + format_over(ev.fit.over) + ')'}"
        )
        if ev.fits:
            return [(ev, c.caps)], None
    proof = row_proof(
        space, hw, highest, variants, lambda: tables.options(bound=True), tables.narrowest, min_macs
    )
    return [], proof


def row_proof(
    space: Any,
    hw: HardwareSpec,
    caps: ResourceCaps,
    rows: Sequence[Sequence[Sequence[Any]]],
    bounded: Callable[[], Sequence[Sequence[Sequence[Any]]]],
    narrowest: Sequence[Any],
    min_macs: int,
) -> str | None:
    """The one-line proof that no combination of the row states keeps ``min_macs`` within one
    context at ``caps``, or ``None`` when the lower bounds do not rule it out. ``rows``: the
    row options without and with the last head scale dropped (their nodes and MACs are
    exact); ``bounded()``: the same with each option's L3 cuts at its lowest (every weight in 4
    bits, the ``narrowest`` rows narrowed), asked for only when the node count proves nothing.
    """
    from cost_model.caps import limits
    from partitioner.block_search import min_l3, min_nodes

    max_nodes, resource = node_limit(hw, caps)
    cap = CAP_OPTION[resource]
    label = COMPILER_LABELS[resource]
    total = getattr(hw.totals(), resource)
    csp, optional = space.csp_rows(), space.optional_rows()
    covered = (
        f"{len(csp)} CSP blocks at any repeats from 1, each plain or not"
        + "".join(f", dropping model.{r} {space.rows[r][2]}" for r in optional)
        + ", dropping the P5 head scale"
    )
    share = f"{MIN_MACS_KEPT:.0%} of the MACs"
    fewest = [min_nodes(b, min_macs=min_macs) for b in rows]
    present = [f for f in fewest if f is not None]
    if not present or min(present) > max_nodes:
        need = f"at least {min(present)} {label}" if present else "more MACs than it has"
        return (
            f"none exists: every combination of the block-level changes ctxfit knows "
            f"({covered}; narrowing and 4-bit weights change no layer count) that keeps "
            f"{share} needs {need} (one per fused layer); one context allows at most "
            f"{max_nodes} even at {cap} cap {getattr(caps, cap):g} "
            f"({getattr(caps, cap):.0%} of {total})"
        )
    max_l3 = limits(caps, hw).l3_cuts
    lows = [min_l3(b, max_nodes=max_nodes, min_macs=min_macs) for b in bounded()]
    least = [v for v in lows if v is not None]
    if least and min(least) > max_l3:
        narrowed = ", ".join(a.block for a in narrowest)
        return (
            f"none exists: every combination of the block-level changes ctxfit knows "
            f"({covered}; 4-bit weights in any block"
            + (f"; {narrowed} narrowed down to {min(NARROW_FACTORS):g}x" if narrowed else "")
            + f") that keeps {share} within {max_nodes} {label} needs at least {min(least)} "
            f"L3 cuts; one context allows at most {max_l3} even at memory cap {caps.memory:g}"
        )
    return None
