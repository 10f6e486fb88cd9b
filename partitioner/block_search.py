"""The search for block-level changes (:mod:`partitioner.tweaks`) that make a network fit one
context, for ``ctxfit explain``.

1. All changes together (each slot at its strongest) are checked first: when even they do not
   fit, no combination does (every change lowers or keeps each resource), and one line says
   why.
2. Each change alone is built and checked (the network cache keeps rebuilt networks, so a
   second run reads them from disk). Those that fit alone are candidates.
3. A greedy combination: the change with the most of the missing resources per share of MACs
   lost is added until the sum of the measured savings fits; the combination is then built
   and checked, and the greedy goes on from its real usage if it does not fit yet. Changes the
   result does not need are dropped again (largest MAC loss first).

Every candidate is then compiled by the caller (``explain``) with the same flow as ``ctxfit
compile``: nothing is extrapolated. The greedy runs twice: architecture changes only, then with
4-bit weights of single blocks allowed.

For networks rebuilt from a table (zoo YOLO), rows change independently: a row's layers, MACs
and lowest-rate demand depend only on its own state (repeats, plain, dropped) and the channels
around it, which those states keep. :func:`row_pareto` combines per-row :class:`RowOption`
tables exactly (a dynamic programme over the rows): :func:`best_rows` gives the combination
keeping the most MACs within a node and L3 limit (then built and checked like any other), and
:func:`min_nodes` / :func:`min_l3` are the lower bounds behind explain's proof that no
combination exists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from cost_model.context import ContextFit
from cost_model.resources import RESOURCE_NAMES
from partitioner.graph import Network
from partitioner.tweaks import Atom, conflicts

MAX_ROUNDS = 4
"""Greedy rounds (build, check, go on from the real usage) before giving up."""

MAX_PRUNE = 4
"""Changes of a fitting combination tried without (each one build and check)."""

CHANGE_COST = 0.02
"""Cost of one more change in the greedy's ratio, so that fewer changes win at equal MACs."""

MIN_MACS_KEPT = 0.9
"""A suggestion keeping less than this share of the MACs on the chip is listed last, marked."""


@dataclass(frozen=True, kw_only=True)
class Evaluated:
    """A combination of changes, built and checked by the cost model (at the flow's caps)."""

    atoms: tuple[Atom, ...]
    net: Network
    fit: ContextFit
    prepared: Any

    @property
    def fits(self) -> bool:
        """One context fits."""
        return self.fit.fits


Evaluate = Callable[[Sequence[Atom]], Evaluated]
Log = Callable[[str], None]


def _usage(fit: ContextFit) -> dict[str, int]:
    return {r: getattr(fit.usage, r) for r in RESOURCE_NAMES}


def _missing(fit: ContextFit) -> dict[str, int]:
    """Per resource over its limit: by how much."""
    return {r: used - limit for r, used, limit in fit.over if r in RESOURCE_NAMES}


def strongest(atoms: Sequence[Atom]) -> list[Atom]:
    """One atom per slot, the strongest (fewest repeats, narrowest), none conflicting."""
    best: dict[Any, Atom] = {}
    for a in atoms:
        old = best.get(a.slot)
        if old is None or (a.value is not None and old.value is not None and a.value < old.value):
            best[a.slot] = a
    chosen: list[Atom] = []
    order = {"drop": 0, "bypass": 0, "head": 1}
    for a in sorted(best.values(), key=lambda a: order.get(a.kind, 2)):
        if not conflicts(chosen, a):
            chosen.append(a)
    return chosen


@dataclass(frozen=True, kw_only=True)
class Measured:
    """One change alone: what it saves of each resource and the share of MACs it keeps."""

    atom: Atom
    saves: dict[str, int]
    macs_kept: float
    fits: bool


def measure(atoms: Sequence[Atom], base: Evaluated, evaluate: Evaluate, log: Log) -> list[Measured]:
    """Build and check every change alone."""
    before = _usage(base.fit)
    out = []
    for a in atoms:
        ev = evaluate([a])
        after = _usage(ev.fit)
        kept = ev.net.total_macs / max(base.net.total_macs, 1)
        out.append(
            Measured(
                atom=a,
                saves={r: before[r] - after[r] for r in RESOURCE_NAMES},
                macs_kept=kept,
                fits=ev.fits,
            )
        )
        log(f"{a.change}: {'fits' if ev.fits else 'no'} ({len(ev.net)} layers, {kept:.0%} MACs)")
    return out


def estimate(
    atoms: Sequence[Atom],
    base: Evaluated,
    removed: Callable[[Atom], Any],
    evaluate: Evaluate,
    log: Log,
) -> list[Measured]:
    """Each change's savings estimated from the unchanged network's layer costs when
    ``removed(atom)`` names the layers it removes (``(names, factor)``: a narrowed block keeps
    ``factor`` of its SCs and L3 cuts), else built and checked (:func:`measure`)."""
    costs = {c.layer: c.resources for c in base.fit.layer_costs}
    total = max(base.net.total_macs, 1)
    out = []
    exact = []
    for a in atoms:
        found = removed(a)
        if found is None:
            exact.append(a)
            continue
        names, factor = found
        if factor < 1.0:
            names = [n for n in base.net.topological_order() if n.startswith(a.block + ".")]
            share = 1.0 - factor
            saves = {r: 0 for r in RESOURCE_NAMES}
            for r in ("subclusters", "l3_cuts"):
                saves[r] = int(share * sum(getattr(costs[n], r) for n in names if n in costs))
            kept = 1 - share * sum(base.net.layer(n).macs for n in names) / total
        else:
            saves = {
                r: sum(getattr(costs[n], r) for n in names if n in costs) for r in RESOURCE_NAMES
            }
            kept = 1 - sum(base.net.layer(n).macs for n in names) / total
        out.append(Measured(atom=a, saves=saves, macs_kept=kept, fits=False))
    return out + measure(exact, base, evaluate, log)


def greedy(
    measured: Sequence[Measured],
    base: Evaluated,
    evaluate: Evaluate,
    log: Log,
) -> Evaluated | None:
    """The greedy combination (module docstring, step 3), or ``None`` when it runs out of
    changes or rounds before one context fits."""
    chosen: list[Measured] = []
    current = base
    for _ in range(MAX_ROUNDS):
        missing = _missing(current.fit)
        estimate = dict(missing)
        while any(v > 0 for v in estimate.values()):
            pick = _best(measured, chosen, estimate)
            if pick is None:
                break
            chosen.append(pick)
            for r in estimate:
                estimate[r] -= pick.saves[r]
        if not chosen:
            return None
        current = evaluate([m.atom for m in chosen])
        log(
            f"together: {', '.join(m.atom.change for m in chosen)}: "
            f"{'fits' if current.fits else 'no'} ({len(current.net)} layers)"
        )
        if current.fits:
            return prune(current, evaluate, log)
        if _best(measured, chosen, _missing(current.fit)) is None:
            return None
    return None


def _best(
    measured: Sequence[Measured], chosen: Sequence[Measured], missing: dict[str, int]
) -> Measured | None:
    """The change with the most of the ``missing`` resources per MACs lost."""
    taken = [m.atom for m in chosen]
    best, best_ratio = None, 0.0
    for m in measured:
        if m in chosen or conflicts(taken, m.atom):
            continue
        gain = sum(min(max(m.saves[r], 0), need) / need for r, need in missing.items() if need > 0)
        if gain <= 0:
            continue
        ratio = gain / (max(1.0 - m.macs_kept, 0.0) + CHANGE_COST)
        if ratio > best_ratio:
            best, best_ratio = m, ratio
    return best


def prune(found: Evaluated, evaluate: Evaluate, log: Log) -> Evaluated:
    """Drop changes ``found`` does not need, the largest MAC loss first."""
    atoms = list(found.atoms)
    if len(atoms) < 2:
        return found
    for a in sorted(atoms, key=lambda a: a.kind != "head")[:MAX_PRUNE]:
        if len(atoms) < 2:
            break
        rest = [x for x in atoms if x != a]
        ev = evaluate(rest)
        if ev.fits:
            log(f"without {a.change}: still fits")
            atoms, found = rest, ev
    return found


@dataclass(frozen=True, kw_only=True)
class RowOption:
    """One state of one row (a block of the table) and what its layers need at the lowest rate.

    Attributes:
        atoms: the changes giving this state (empty: the row as published).
        nodes: nodes of its layers (each takes one LCU, one APU, one input aligner).
        l3_cuts: L3 cuts of its layers (weights and line buffers).
        macs: MACs of its layers.
    """

    atoms: tuple[Atom, ...]
    nodes: int
    l3_cuts: int
    macs: int


Front = dict[int, list[tuple[int, int, tuple[RowOption, ...]]]]
"""Nodes -> the combinations with that many nodes that no other beats on both L3 cuts (fewer)
and MACs (more): ``(l3_cuts, macs, options)``, L3 rising, MACs rising."""


def row_pareto(
    rows: Sequence[Sequence[RowOption]], *, max_nodes: int | None = None, max_l3: int | None = None
) -> Front:
    """Every undominated combination of one option per row (module docstring), exactly.

    Combinations over ``max_nodes`` nodes or ``max_l3`` L3 cuts are left out (each row's
    demand is >= 0, so a partial sum over a limit stays over).

    >>> a = [RowOption(atoms=(), nodes=2, l3_cuts=5, macs=10),
    ...      RowOption(atoms=(), nodes=1, l3_cuts=3, macs=6)]
    >>> {n: [(l3, m) for l3, m, _ in v] for n, v in sorted(row_pareto([a, a]).items())}
    {2: [(6, 12)], 3: [(8, 16)], 4: [(10, 20)]}
    """
    front: Front = {0: [(0, 0, ())]}
    for options in rows:
        grown: dict[int, list[tuple[int, int, tuple[RowOption, ...]]]] = {}
        for nodes, entries in front.items():
            for o in options:
                n = nodes + o.nodes
                if max_nodes is not None and n > max_nodes:
                    continue
                bucket = grown.setdefault(n, [])
                for l3, macs, chosen in entries:
                    if max_l3 is None or l3 + o.l3_cuts <= max_l3:
                        bucket.append((l3 + o.l3_cuts, macs + o.macs, (*chosen, o)))
        front = {n: _undominated(v) for n, v in grown.items() if v}
    return front


def _undominated(
    entries: list[tuple[int, int, tuple[RowOption, ...]]],
) -> list[tuple[int, int, tuple[RowOption, ...]]]:
    entries.sort(key=lambda e: (e[0], -e[1]))
    kept: list[tuple[int, int, tuple[RowOption, ...]]] = []
    for e in entries:
        if not kept or e[1] > kept[-1][1]:
            kept.append(e)
    return kept


def best_rows(
    rows: Sequence[Sequence[RowOption]], *, max_nodes: int, max_l3: int, min_macs: int
) -> tuple[RowOption, ...] | None:
    """The combination within ``max_nodes`` and ``max_l3`` with the most MACs, when it keeps at
    least ``min_macs`` (fewest nodes, then fewest L3 cuts at equal MACs); else ``None``.

    >>> keep = RowOption(atoms=(), nodes=3, l3_cuts=9, macs=10)
    >>> cut = RowOption(atoms=(), nodes=1, l3_cuts=4, macs=7)
    >>> [o.macs for o in best_rows([[keep, cut]] * 2, max_nodes=4, max_l3=20, min_macs=15)]
    [10, 7]
    >>> best_rows([[keep, cut]] * 2, max_nodes=4, max_l3=20, min_macs=18) is None
    True
    """
    best: tuple[tuple[int, int, int], tuple[RowOption, ...]] | None = None
    for nodes, entries in row_pareto(rows, max_nodes=max_nodes, max_l3=max_l3).items():
        l3, macs, chosen = entries[-1]  # the most MACs at this node count
        key = (-macs, nodes, l3)
        if macs >= min_macs and (best is None or key < best[0]):
            best = (key, chosen)
    return None if best is None else best[1]


def thin(
    rows: Sequence[Sequence[RowOption]],
    chosen: Sequence[RowOption],
    *,
    max_nodes: int,
    max_l3: int,
    min_macs: int,
) -> tuple[RowOption, ...]:
    """``chosen`` (one option per row) with changes it does not need undone: each row in turn
    takes the option with the fewest atoms that are a subset of its own, where the totals stay
    within the limits (4-bit weights first: they are the cheapest to keep or drop).

    >>> from partitioner.tweaks import Atom
    >>> w4 = Atom(kind="w4", target="b", value=None, block="b", change="")
    >>> full = RowOption(atoms=(), nodes=2, l3_cuts=9, macs=10)
    >>> small = RowOption(atoms=(w4,), nodes=2, l3_cuts=5, macs=10)
    >>> [len(o.atoms) for o in thin([[full, small]] * 2, [small, small], max_nodes=4, max_l3=14,
    ...                              min_macs=0)]
    [0, 1]
    """
    out = list(chosen)

    def within(options: Sequence[RowOption]) -> bool:
        return (
            sum(o.nodes for o in options) <= max_nodes
            and sum(o.l3_cuts for o in options) <= max_l3
            and sum(o.macs for o in options) >= min_macs
        )

    order = sorted(range(len(out)), key=lambda i: -sum(a.kind == "w4" for a in out[i].atoms))
    for i in order:
        mine = set(out[i].atoms)
        for o in sorted(rows[i], key=lambda o: len(o.atoms)):
            if set(o.atoms) < mine and within([*out[:i], o, *out[i + 1 :]]):
                out[i] = o
                break
    return tuple(out)


def min_nodes(rows: Sequence[Sequence[RowOption]], *, min_macs: int) -> int | None:
    """The fewest nodes of any combination keeping at least ``min_macs`` (``None``: none does).

    >>> keep = RowOption(atoms=(), nodes=3, l3_cuts=0, macs=10)
    >>> cut = RowOption(atoms=(), nodes=1, l3_cuts=0, macs=7)
    >>> min_nodes([[keep, cut]] * 2, min_macs=17), min_nodes([[keep, cut]] * 2, min_macs=21)
    (4, None)
    """
    most: dict[int, int] = {0: 0}  # nodes -> the most MACs
    for options in rows:
        grown: dict[int, int] = {}
        for nodes, macs in most.items():
            for o in options:
                n = nodes + o.nodes
                grown[n] = max(grown.get(n, -1), macs + o.macs)
        most = grown
    return min((n for n, m in most.items() if m >= min_macs), default=None)


def min_l3(rows: Sequence[Sequence[RowOption]], *, max_nodes: int, min_macs: int) -> int | None:
    """The fewest L3 cuts of any combination within ``max_nodes`` keeping at least
    ``min_macs`` (``None``: none does).

    >>> keep = RowOption(atoms=(), nodes=3, l3_cuts=9, macs=10)
    >>> cut = RowOption(atoms=(), nodes=1, l3_cuts=4, macs=7)
    >>> min_l3([[keep, cut]] * 2, max_nodes=6, min_macs=17), min_l3([[keep]], max_nodes=2,
    ...                                                             min_macs=0)
    (13, None)
    """
    found = [
        l3
        for entries in row_pareto(rows, max_nodes=max_nodes).values()
        for l3, macs, _ in entries
        if macs >= min_macs
    ]
    return min(found, default=None)


__all__ = [
    "MIN_MACS_KEPT",
    "RowOption",
    "best_rows",
    "min_l3",
    "min_nodes",
    "row_pareto",
    "thin",
    "Evaluated",
    "Measured",
    "estimate",
    "greedy",
    "measure",
    "prune",
    "strongest",
]
