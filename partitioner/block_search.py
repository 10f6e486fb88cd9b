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
around it, which those states keep. Per-row :class:`RowOption` tables are combined exactly by
dynamic programmes over the rows: :func:`fewest_rows` lists the combinations within a node and
L3 limit keeping a share of the MACs, the fewest changes first, then the most MACs (a change is
what a user edits: one per architecture atom, one for all 4-bit weights together, since one
``quantization_param`` line with a list of globs sets them), and :func:`fewest_w4` keeps 4-bit
weights in the fewest rows; explain builds and checks them in that order, counting per row at
most its published MACs (:func:`kept_rows`). :func:`row_pareto` gives every undominated
combination, and :func:`min_nodes` / :func:`min_l3` are the lower bounds behind explain's
proof that no combination exists.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
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


@dataclass(frozen=True, kw_only=True)
class RowCombo:
    """One option per row, with its totals.

    Attributes:
        options: per row the option taken.
        changes: the changes a user makes (:func:`~partitioner.tweaks.change_count` of
            :attr:`atoms`: one per architecture atom, one for all 4-bit weights together).
        nodes, l3_cuts, macs: the sums over :attr:`options`.
    """

    options: tuple[RowOption, ...]
    changes: int
    nodes: int
    l3_cuts: int
    macs: int

    @property
    def atoms(self) -> tuple[Atom, ...]:
        """Every option's atoms, row by row."""
        return tuple(a for o in self.options for a in o.atoms)


def _counted(o: RowOption) -> tuple[int, bool]:
    """An option's architecture atoms and whether it has 4-bit weights."""
    return sum(a.kind != "w4" for a in o.atoms), any(a.kind == "w4" for a in o.atoms)


def fewest_rows(
    rows: Sequence[Sequence[RowOption]],
    *,
    max_nodes: int,
    max_l3: int,
    min_macs: int,
    max_changes: int | None = None,
) -> list[RowCombo]:
    """The combinations of one option per row within ``max_nodes`` and ``max_l3`` that keep
    at least ``min_macs`` with at most ``max_changes`` changes (``None``: any number), fewest
    changes first (:class:`RowCombo`), then the most MACs, then the fewest nodes and L3 cuts.
    Exact: the one with the fewest changes and, among those, the most MACs is the first, and
    every combination within the limits is matched by one listed with as many changes and
    nodes, no more L3 cuts and no fewer MACs.

    A dynamic programme over the rows: a partial combination is kept per (nodes, architecture
    atoms, 4-bit weights used or not) when no other with that key has no more L3 cuts and no
    fewer MACs (the changes of the rest do not depend on anything else: 4-bit weights count
    once, whichever rows take them); one that cannot reach ``min_macs`` even with the most MACs
    of each remaining row, or is over a limit, is dropped (each row's demand is >= 0).

    >>> w4 = Atom(kind="w4", target="b", value=None, block="b", change="")
    >>> cut = Atom(kind="repeats", target=0, value=1, block="b", change="")
    >>> rows = [[RowOption(atoms=(), nodes=4, l3_cuts=9, macs=10),
    ...          RowOption(atoms=(w4,), nodes=4, l3_cuts=5, macs=10),
    ...          RowOption(atoms=(cut,), nodes=2, l3_cuts=4, macs=8)]] * 2
    >>> [(c.changes, c.macs, c.nodes, c.l3_cuts)  # 4-bit weights in both rows: one change
    ...  for c in fewest_rows(rows, max_nodes=8, max_l3=12, min_macs=0, max_changes=2)][:3]
    [(1, 20, 8, 10), (2, 18, 6, 9), (2, 16, 4, 8)]
    """
    choices = [[(o.nodes, *_counted(o), o.l3_cuts, o.macs, o) for o in r] for r in rows]
    everything = sum(len(o.atoms) for r in rows for o in r)
    changes_limit = everything if max_changes is None else max_changes
    most_after = [0] * (len(rows) + 1)  # the most MACs rows i.. can add
    for i in range(len(rows) - 1, -1, -1):
        most_after[i] = most_after[i + 1] + max((o.macs for o in rows[i]), default=0)
    Entry = tuple[int, int, tuple[RowOption, ...]]
    front: dict[tuple[int, int, bool], list[Entry]] = {(0, 0, False): [(0, 0, ())]}
    for i, options in enumerate(choices):
        need = min_macs - most_after[i + 1]
        grown: dict[tuple[int, int, bool], list[Entry]] = {}
        for (nodes, arch, w4), entries in front.items():
            for o_nodes, o_arch, o_w4, o_l3, o_macs, o in options:
                key = (nodes + o_nodes, arch + o_arch, w4 or o_w4)
                if key[0] > max_nodes or key[1] + key[2] > changes_limit:
                    continue
                bucket = grown.setdefault(key, [])
                for l3, macs, chosen in entries:
                    if l3 + o_l3 <= max_l3 and macs + o_macs >= need:
                        bucket.append((l3 + o_l3, macs + o_macs, (*chosen, o)))
        front = {k: _undominated(v) for k, v in grown.items() if v}
    out = [
        RowCombo(options=chosen, changes=arch + w4, nodes=nodes, l3_cuts=l3, macs=macs)
        for (nodes, arch, w4), entries in front.items()
        for l3, macs, chosen in entries
        if macs >= min_macs
    ]
    out.sort(key=lambda c: (c.changes, -c.macs, c.nodes, c.l3_cuts))
    return out


def kept_rows(
    rows: Sequence[Sequence[RowOption]], published: Sequence[int]
) -> list[list[RowOption]]:
    """``rows`` with each option's MACs at most its row's ``published`` MACs: the MACs of the
    published network a state keeps (a plain block can compute more than the CSP block it
    replaces; the extra is not the network's own work, so it keeps no more than all of it).

    >>> rows = [[RowOption(atoms=(), nodes=3, l3_cuts=0, macs=10),
    ...          RowOption(atoms=(), nodes=2, l3_cuts=0, macs=14),
    ...          RowOption(atoms=(), nodes=1, l3_cuts=0, macs=6)]]
    >>> [o.macs for o in kept_rows(rows, [10])[0]]
    [10, 10, 6]
    """
    return [
        [o if o.macs <= cap else replace(o, macs=cap) for o in options]
        for options, cap in zip(rows, published, strict=True)
    ]


def fewest_w4(
    rows: Sequence[Sequence[RowOption]], chosen: Sequence[RowOption], *, max_l3: int
) -> tuple[RowOption, ...]:
    """``chosen`` with 4-bit weights kept in the fewest rows that keep its L3 cuts within
    ``max_l3`` (the others take their twin without 4-bit weights: the same nodes and MACs).
    Exact for these architecture states: the rows that save the most L3 cuts keep theirs (the
    largest savings reach a total with the fewest rows). ``chosen`` must be within ``max_l3``.

    >>> from partitioner.tweaks import Atom
    >>> w4 = Atom(kind="w4", target="b", value=None, block="b", change="")
    >>> def row(full, small):
    ...     return [RowOption(atoms=(), nodes=2, l3_cuts=full, macs=10),
    ...             RowOption(atoms=(w4,), nodes=2, l3_cuts=small, macs=10)]
    >>> rows = [row(9, 8), row(9, 3), row(9, 5)]  # 4-bit weights save 1, 6, 4
    >>> [len(o.atoms) for o in fewest_w4(rows, [r[1] for r in rows], max_l3=22)]
    [0, 1, 0]
    >>> [len(o.atoms) for o in fewest_w4(rows, [r[1] for r in rows], max_l3=17)]
    [0, 1, 1]
    """
    out = list(chosen)
    saves: dict[int, int] = {}
    for i, o in enumerate(chosen):
        if not _counted(o)[1]:
            continue
        arch = tuple(a for a in o.atoms if a.kind != "w4")
        twin = next((t for t in rows[i] if t.atoms == arch), None)
        if twin is not None and twin.nodes == o.nodes and twin.macs == o.macs:
            out[i], saves[i] = twin, twin.l3_cuts - o.l3_cuts
    total = sum(o.l3_cuts for o in out)
    for i in sorted(saves, key=lambda i: -saves[i]):
        if total <= max_l3:
            break
        out[i] = chosen[i]
        total -= saves[i]
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
    "RowCombo",
    "RowOption",
    "fewest_rows",
    "fewest_w4",
    "kept_rows",
    "min_l3",
    "min_nodes",
    "row_pareto",
    "Evaluated",
    "Measured",
    "estimate",
    "greedy",
    "measure",
    "prune",
    "strongest",
]
