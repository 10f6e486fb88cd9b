"""The exact row search of ``ctxfit explain`` (:mod:`partitioner.block_search`'s row functions,
``partitioner.explain_rows.RowTables`` / ``row_search`` / ``row_proof``): the dynamic programme
against brute force, the proof lines on hand-computed cases (including ones where a combination
exists, so the proof must not fire), and the per-row tables of YOLOv8n against the networks
they predict, rebuilt and priced (the soundness of the bound on a real network).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cost_model.caps import CAP_RESOURCE, ResourceCaps
from cost_model.hardware import preset
from partitioner.block_search import (
    RowOption,
    fewest_rows,
    fewest_w4,
    kept_rows,
    min_l3,
    min_nodes,
    row_pareto,
)
from partitioner.explain import CAP_LIMITS, _Explorer, zoo_model_name
from partitioner.explain_rows import RowTables, row_candidates, row_proof, row_search, row_table
from partitioner.models import ModelRequest, load_network
from partitioner.tweaks import Atom, YoloSpace, change_count, w4_rules


def best_rows(
    rows: Sequence[Sequence[RowOption]], *, max_nodes: int, max_l3: int, min_macs: int
) -> tuple[RowOption, ...] | None:
    """The combination within ``max_nodes`` and ``max_l3`` with the most MACs, when it keeps at
    least ``min_macs`` (fewest nodes, then fewest L3 cuts at equal MACs); else ``None``. It may
    change many rows for a few MACs: explain asks ``fewest_rows`` instead; this is the tests'
    reference for the most MACs.

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


def opt(nodes: int, l3: int, macs: int, *atoms: Atom) -> RowOption:
    return RowOption(atoms=atoms, nodes=nodes, l3_cuts=l3, macs=macs)


def w4(block: str) -> Atom:
    return Atom(kind="w4", target=block, value=None, block=block, change=f"4-bit {block}")


# -- the dynamic programme --------------------------------------------------------------------
# Two rows, each published (40 nodes, 100 L3, 10 MACs) or cut (20 nodes, 60 L3, 5 MACs):
# combinations (nodes, L3, MACs): both published (80, 200, 20), one cut (60, 160, 15),
# both cut (40, 120, 10).
TWO = [[opt(40, 100, 10), opt(20, 60, 5)]] * 2


def test_min_nodes_by_hand():
    assert min_nodes(TWO, min_macs=18) == 80  # only both published keep 18
    assert min_nodes(TWO, min_macs=14) == 60  # one cut keeps 15
    assert min_nodes(TWO, min_macs=21) is None


def test_min_l3_by_hand():
    assert min_l3(TWO, max_nodes=64, min_macs=14) == 160
    assert min_l3(TWO, max_nodes=64, min_macs=18) is None  # 20 MACs need 80 nodes
    assert min_l3(TWO, max_nodes=80, min_macs=0) == 120


def test_best_rows_keeps_the_most_macs_within_the_limits():
    combo = best_rows(TWO, max_nodes=64, max_l3=170, min_macs=14)
    assert combo is not None and sum(o.macs for o in combo) == 15
    assert best_rows(TWO, max_nodes=64, max_l3=150, min_macs=14) is None  # 160 L3 > 150
    combo = best_rows(TWO, max_nodes=100, max_l3=500, min_macs=0)
    assert combo is not None and sum(o.nodes for o in combo) == 80


def cut(row: int, repeats: int) -> Atom:
    return Atom(kind="repeats", target=row, value=repeats, block=f"model.{row}", change="")


def plain(row: int) -> Atom:
    return Atom(kind="plain", target=row, value=None, block=f"model.{row}", change="")


def test_fewest_changes_beat_the_most_macs():
    # Two CSP rows of 3 repeats: published (30 nodes, 30 MACs), 2 repeats (20, 25), 1 repeat
    # (10, 12). Within 40 nodes: both at 2 repeats keep 50 MACs with 2 changes; one at 1
    # repeat keeps 30 + 12 = 42 with 1 change.
    rows = [[opt(30, 0, 30), opt(20, 0, 25, cut(r, 2)), opt(10, 0, 12, cut(r, 1))] for r in (0, 1)]
    most = best_rows(rows, max_nodes=40, max_l3=0, min_macs=40)
    assert most is not None and sum(o.macs for o in most) == 50
    assert change_count([a for o in most for a in o.atoms]) == 2
    first = fewest_rows(rows, max_nodes=40, max_l3=0, min_macs=40)[0]
    assert (first.changes, first.macs, first.nodes) == (1, 42, 40)
    assert first.atoms in ((cut(1, 1),), (cut(0, 1),))
    # keeping 43 MACs needs both rows changed: the two-change answer comes first then
    first = fewest_rows(rows, max_nodes=40, max_l3=0, min_macs=43)[0]
    assert (first.changes, first.macs) == (2, 50)
    assert fewest_rows(rows, max_nodes=40, max_l3=0, min_macs=51) == []
    assert fewest_rows(rows, max_nodes=40, max_l3=0, min_macs=43, max_changes=1) == []


def test_four_bit_weights_in_several_rows_are_one_change():
    # Three rows of 10 nodes: published (40 L3, 10 MACs), 4-bit (25 L3), plain (30 L3, 11 MACs:
    # the plain block computes more), plain and 4-bit (20 L3, 11 MACs). Within 90 L3 cuts: the
    # most MACs is every row plain (90 L3, 33 MACs, 3 changes); 4-bit weights in every row
    # (75 L3, 30 MACs) is one change, and two rows of them (90 L3) are enough.
    rows = [
        [opt(10, 40, 10), opt(10, 25, 10, w4(b)), opt(10, 30, 11, plain(r)),
         opt(10, 20, 11, plain(r), w4(b))]
        for r, b in ((0, "model.0"), (1, "model.1"), (2, "model.2"))
    ]  # fmt: skip
    most = best_rows(rows, max_nodes=30, max_l3=90, min_macs=0)
    assert most is not None and sum(o.macs for o in most) == 33
    assert change_count([a for o in most for a in o.atoms]) >= 3  # every row plain
    first = fewest_rows(rows, max_nodes=30, max_l3=90, min_macs=0)[0]
    assert (first.changes, first.macs, first.l3_cuts) == (1, 30, 75)
    assert [a.kind for a in first.atoms] == ["w4"] * 3
    fewest = fewest_w4(rows, first.options, max_l3=90)
    assert sum(o.l3_cuts for o in fewest) == 90
    assert change_count([a for o in fewest for a in o.atoms]) == 1
    assert [len(o.atoms) for o in fewest].count(1) == 2  # two rows keep 4-bit weights


def test_a_plain_block_keeps_no_more_than_the_published_macs():
    # Three rows of 10 nodes, 10 MACs; 20 nodes allowed (10 too many): two changes needed.
    # Row 0 as a plain block: 6 nodes, 20 MACs (it computes more). Row 1 at fewer repeats: 5
    # nodes, 7 MACs, or 4 nodes, 2 MACs; row 2: 5 nodes, 7 MACs. Two changes that fit: row 0
    # plain and row 1 at 4 nodes (20 nodes; 32 MACs in all, 22 of the published 30 kept), rows
    # 1 and 2 at 5 nodes (20 nodes, 24 MACs, all the published network's), row 1 at 4 and row
    # 2 at 5 (19 nodes, 19 MACs); row 0 plain with one row at 5 nodes leaves 21.
    rows = [[opt(10, 0, 10), opt(6, 0, 20, plain(0))],
            [opt(10, 0, 10), opt(5, 0, 7, cut(1, 2)), opt(4, 0, 2, cut(1, 1))],
            [opt(10, 0, 10), opt(5, 0, 7, cut(2, 2))]]  # fmt: skip
    raw = fewest_rows(rows, max_nodes=20, max_l3=0, min_macs=0)[0]
    assert (raw.changes, raw.macs, raw.atoms) == (2, 32, (plain(0), cut(1, 1)))
    kept = fewest_rows(kept_rows(rows, [10, 10, 10]), max_nodes=20, max_l3=0, min_macs=0)[0]
    assert (kept.changes, kept.macs, kept.atoms) == (2, 24, (cut(1, 2), cut(2, 2)))
    # keeping 80% (24 MACs) of the published network: the two rows at 5 nodes, or those and
    # row 0 plain (3 changes, 16 nodes)
    listed = fewest_rows(kept_rows(rows, [10] * 3), max_nodes=20, max_l3=0, min_macs=24)
    assert [(c.changes, c.nodes, c.macs) for c in listed] == [(2, 20, 24), (3, 16, 24)]


def test_fewest_w4_keeps_the_rows_that_save_most():
    def row(block, full, small):
        return [opt(2, full, 10), opt(2, small, 10, w4(block))]

    rows = [row("a", 9, 8), row("b", 9, 3), row("c", 9, 5)]  # 4-bit saves 1, 6, 4
    every = [r[1] for r in rows]  # 16 L3 cuts
    assert fewest_w4(rows, every, max_l3=27) == (rows[0][0], rows[1][0], rows[2][0])
    assert fewest_w4(rows, every, max_l3=21) == (rows[0][0], rows[1][1], rows[2][0])
    assert fewest_w4(rows, every, max_l3=20) == (rows[0][0], rows[1][1], rows[2][1])
    assert fewest_w4(rows, every, max_l3=16) == tuple(every)


def test_raised_caps_count_as_one_change():
    # Three rows of 20 nodes (10 MACs) or, one repeat fewer, 10 nodes (9 MACs). Hailo-8L at
    # the flow's 75%: 48 nodes (ceil(0.75 x 64) LCUs), so two rows must shrink (40 nodes, 28
    # MACs, 2 changes). Control cap 0.95 allows ceil(60.8) = 61 LCUs: all 60 nodes as they are
    # (the caps kind's change: left out here); one row shrunk (50 nodes) needs control 0.8
    # (ceil(51.2) = 52): 2 changes with the resources_param line, 29 MACs, so it ranks before
    # the two rows shrunk at the flow's caps.
    rows = [[opt(20, 0, 10), opt(10, 0, 9, cut(r, 1))] for r in range(3)]
    current = ResourceCaps.uniform(0.75)
    highest = ResourceCaps(**{n: max(getattr(current, n), getattr(CAP_LIMITS, n))
                              for n in CAP_RESOURCE})  # fmt: skip
    ranked = row_candidates(HAILO8L, current, highest, [rows], 28)
    got = [(c.changes, c.macs, c.caps) for c in ranked]
    # (three ways to shrink one row or two: one of each is listed, the others are equal)
    assert got == [(2, 29, {"control": 0.8}), (2, 28, {})]
    assert all(c.changes == change_count(c.atoms) + bool(c.caps) for c in ranked)


options = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 9), st.integers(0, 9), st.integers(0, 2),
              st.integers(0, 4)),
    min_size=1, max_size=3,
)  # fmt: skip
"""A row's states: nodes, L3 cuts, MACs, architecture atoms, L3 cuts its 4-bit weights save."""


def random_rows(raw) -> list[list[RowOption]]:
    """Rows as :class:`~partitioner.explain_rows.RowTables` gives them: per state its own atoms
    (the first state may have none, every other has at least one), and its 4-bit twin (the
    row's ``w4`` atom added, the same nodes and MACs) when that saves L3 cuts."""
    out = []
    for r, states in enumerate(raw):
        row = []
        for j, (n, l3, macs, arch, save) in enumerate(states):
            atoms = tuple(cut(r, 10 * j + k) for k in range(arch if j == 0 else max(arch, 1)))
            row.append(opt(n, l3, macs, *atoms))
            if 0 < save <= l3:
                row.append(opt(n, l3 - save, macs, *atoms, w4(f"model.{r}")))
        out.append(row)
    return out


def totals(combo) -> tuple[int, int, int, int]:
    """Changes, nodes, L3 cuts and MACs of one option per row."""
    atoms = [a for o in combo for a in o.atoms]
    return (change_count(atoms), sum(o.nodes for o in combo), sum(o.l3_cuts for o in combo),
            sum(o.macs for o in combo))  # fmt: skip


@settings(max_examples=120, deadline=None)
@given(st.lists(options, min_size=1, max_size=4), st.integers(0, 24), st.integers(0, 30),
       st.integers(0, 30), st.one_of(st.none(), st.integers(0, 6)))  # fmt: skip
def test_row_functions_agree_with_brute_force(raw, max_nodes, max_l3, min_macs, max_changes):
    rows = random_rows(raw)
    combos = [(*totals(c)[1:], c) for c in itertools.product(*rows)]
    keeping = [c for c in combos if c[2] >= min_macs]
    assert min_nodes(rows, min_macs=min_macs) == min((c[0] for c in keeping), default=None)
    within = [c for c in keeping if c[0] <= max_nodes]
    assert min_l3(rows, max_nodes=max_nodes, min_macs=min_macs) == min(
        (c[1] for c in within), default=None
    )
    fitting = [c for c in within if c[1] <= max_l3]
    best = best_rows(rows, max_nodes=max_nodes, max_l3=max_l3, min_macs=min_macs)
    if not fitting:
        assert best is None
    else:
        assert best is not None and sum(o.macs for o in best) == max(c[2] for c in fitting)
    front = row_pareto(rows)
    assert set(front) == {c[0] for c in combos}

    # the fewest changes, then the most MACs: every combination against the listed ones
    allowed = [totals(c[3]) for c in fitting]
    allowed = [t for t in allowed if max_changes is None or t[0] <= max_changes]
    listed = fewest_rows(rows, max_nodes=max_nodes, max_l3=max_l3, min_macs=min_macs,
                         max_changes=max_changes)  # fmt: skip
    assert bool(listed) == bool(allowed)
    for combo in listed:  # each listed is one of them, its totals right
        assert (combo.changes, combo.nodes, combo.l3_cuts, combo.macs) == totals(combo.options)
        assert combo.changes == change_count(combo.atoms)
        assert combo.options in {c[3] for c in fitting}
    assert [(c.changes, -c.macs) for c in listed] == sorted((c.changes, -c.macs) for c in listed)
    if listed:
        assert (listed[0].changes, -listed[0].macs) == min((t[0], -t[3]) for t in allowed)
    for changes, nodes, l3, macs in allowed:  # each is matched by a listed one
        assert any(c.changes == changes and c.nodes == nodes and c.l3_cuts <= l3
                   and c.macs >= macs for c in listed)  # fmt: skip
    if listed:  # the fewest rows with 4-bit weights for the first's architecture states
        first = listed[0]
        thinned = fewest_w4(rows, first.options, max_l3=max_l3)
        changes, nodes, l3, macs = totals(thinned)
        assert changes <= first.changes and nodes == first.nodes and macs == first.macs
        assert l3 <= max_l3
        arch = [tuple(a for a in o.atoms if a.kind != "w4") for o in first.options]
        same = [c for c in itertools.product(*rows)
                if [tuple(a for a in o.atoms if a.kind != "w4") for o in c] == arch
                and totals(c)[2] <= max_l3]  # fmt: skip
        least = min(sum(any(a.kind == "w4" for a in o.atoms) for o in c) for c in same)
        assert sum(any(a.kind == "w4" for a in o.atoms) for o in thinned) == least


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 9), st.integers(1, 9)), min_size=1, max_size=6),
       st.integers(0, 60))  # fmt: skip
def test_fewest_w4_agrees_with_brute_force(raw, slack):
    # every row with 4-bit weights (``save`` L3 cuts fewer than ``full``); the L3 limit is
    # the all-4-bit total plus ``slack``
    rows = [[opt(1, full + save, 5), opt(1, full, 5, w4(f"model.{r}"))]
            for r, (full, save) in enumerate(raw)]  # fmt: skip
    every = [r[1] for r in rows]
    max_l3 = sum(o.l3_cuts for o in every) + slack
    got = fewest_w4(rows, every, max_l3=max_l3)
    assert sum(o.l3_cuts for o in got) <= max_l3
    least = min(sum(c) for c in itertools.product((0, 1), repeat=len(rows))
                if sum(r[k].l3_cuts for r, k in zip(rows, c, strict=True)) <= max_l3)  # fmt: skip
    assert sum(len(o.atoms) for o in got) == least


# -- the proof line ---------------------------------------------------------------------------
SPACE = SimpleNamespace(rows=[(-1, 1, "C2f", ()), (-1, 1, "SPPF", ())],
                        csp_rows=lambda: [0], optional_rows=lambda: [1])  # fmt: skip
HAILO8L = preset("hailo8l")
FULL = ResourceCaps.uniform(1.0)  # 64 LCUs, 80 APUs, 128 input aligners, 512 L3 cuts


def proof(rows, min_macs, bounded=None):
    variants = (rows, rows)
    return row_proof(SPACE, HAILO8L, FULL, variants, lambda: bounded or variants, [], min_macs)


def test_the_node_proof_fires_only_when_no_combination_has_few_enough_layers():
    line = proof(TWO, 18)
    assert line is not None and line.startswith("none exists")
    assert "at least 80 LCUs" in line and "at most 64" in line and "control cap 1" in line
    # 15 MACs fit in 60 nodes: no node proof; the L3 (160 <= 512) rules nothing out either
    assert proof(TWO, 14) is None


def test_the_l3_proof_names_the_fewest_l3_cuts_within_the_node_limit():
    heavy = [[opt(40, 300, 10), opt(20, 260, 5)]] * 2  # one cut: 60 nodes, 560 L3, 15 MACs
    line = proof(heavy, 14)
    assert line is not None and "at least 560 L3 cuts" in line and "at most 512" in line
    assert proof(heavy, 14, bounded=(TWO, TWO)) is None  # a lower bound of 160 proves nothing


# -- the tables of a real network -------------------------------------------------------------
@pytest.fixture(scope="module")
def v8n_rows():
    request = ModelRequest(spec="yolov8n")
    hw = preset("hailo8l")
    net = load_network(request)
    explorer = _Explorer(request, hw, batches=(1,), target_fps=None, log=lambda _: None,
                         zoo_name=zoo_model_name("yolov8n"))  # fmt: skip
    space = YoloSpace(request)
    tables = RowTables(explorer, space, net, ["model.8", "model.21"])
    return explorer, space, net, tables


def real_totals(explorer, space, net, atoms):
    """Nodes, L3 cuts and MACs of the rebuilt network with ``atoms``, priced as explain
    checks it (4-bit atoms as precision rules after the Model Zoo script's)."""
    changed = space.build(net, atoms)
    rules = w4_rules(changed, atoms)
    script = explorer.base_script
    changes = None
    if rules:
        changes = {"precision": (script.precision if script else ()) + rules,
                   "precision_lines": (script.precision_lines if script else ())
                   + (0,) * len(rules)}  # fmt: skip
    table = row_table(explorer, changed, changes)
    return tuple(sum(v[i] for v in table.values()) for i in range(3)), changed, changes


def test_yolov8n_tables_give_each_row_its_published_state(v8n_rows):
    explorer, space, net, tables = v8n_rows
    plain, with_head = tables.options()
    published = [r[0] for r in plain]
    assert all(o.atoms == () for o in published)
    assert sum(o.macs for o in published) == net.total_macs
    fit = explorer.fit(explorer.prepare(net))
    # the unchanged network's lowest-rate demand, as the single-context attempt reports it
    assert sum(o.nodes for o in published) == fit.usage.lcus
    assert sum(o.l3_cuts for o in published) == fit.usage.l3_cuts
    # the dropped P5 scale: rows 19, 20, 21 give nothing, the head has two scales left
    assert with_head[19][0].nodes == with_head[20][0].nodes == with_head[21][0].nodes == 0
    assert with_head[22][0].atoms == (space.head_atom(),)


def test_yolov8n_exhaustive_on_three_rows_matches_the_rebuilt_networks(v8n_rows):
    """Every combination of row 4's states (4 of them), row 9 kept or dropped and the P5 scale
    kept or dropped: 16 networks, each rebuilt; the tables predict them exactly."""
    explorer, space, net, tables = v8n_rows
    plain, with_head = tables.options()
    for head in (False, True):
        rows = with_head if head else plain
        for a, b in itertools.product(rows[4], rows[9]):
            if any(x.kind == "w4" for x in (*a.atoms, *b.atoms)):
                continue
            chosen = [a if i == 4 else b if i == 9 else r[0] for i, r in enumerate(rows)]
            got, _, _ = real_totals(explorer, space, net, [x for o in chosen for x in o.atoms])
            assert got == (sum(o.nodes for o in chosen), sum(o.l3_cuts for o in chosen),
                           sum(o.macs for o in chosen))  # fmt: skip


def test_yolov8n_random_combinations_match_and_the_bound_holds(v8n_rows):
    """Random combinations over every row (states, 4-bit weights, the head), rebuilt: nodes,
    L3 cuts and MACs as the tables sum them; with the narrowable rows narrowed as well, the
    nodes are the same, the MACs no more and the L3 cuts no fewer than the bound's."""
    explorer, space, net, tables = v8n_rows
    plain, with_head = tables.options()
    bound_plain, bound_head = tables.options(bound=True)
    rng = random.Random(16)
    narrow_rows = space.narrowable(["model.8", "model.21"])
    for _ in range(5):
        head = rng.random() < 0.5
        rows, bound = (with_head, bound_head) if head else (plain, bound_plain)
        chosen = [rng.choice(r) for r in rows]
        atoms = [x for o in chosen for x in o.atoms]
        got, _, _ = real_totals(explorer, space, net, atoms)
        assert got == (sum(o.nodes for o in chosen), sum(o.l3_cuts for o in chosen),
                       sum(o.macs for o in chosen))  # fmt: skip
        # the same states with every weight in 4 bits and some rows narrowed
        low = [next(b for b in bound[i] if b.atoms == tuple(x for x in o.atoms if x.kind != "w4"))
               for i, o in enumerate(chosen)]  # fmt: skip
        narrowed = [Atom(kind="narrow", target=r, value=rng.choice((0.75, 0.5)),
                         block=f"model.{r}", change="") for r in narrow_rows
                    if rng.random() < 0.7]  # fmt: skip
        arch = [x for o in chosen for x in o.atoms if x.kind != "w4"]
        every = [Atom(kind="w4", target=f"model.{i}", value=None, block=f"model.{i}", change="")
                 for i in range(len(rows))]  # fmt: skip
        (nodes, l3, macs), _, _ = real_totals(explorer, space, net, [*arch, *narrowed, *every])
        assert nodes == sum(o.nodes for o in low)
        assert macs <= sum(o.macs for o in low)
        assert l3 >= sum(o.l3_cuts for o in low)


def test_yolov8n_on_hailo8l_row_search_finds_a_verified_change(v8n_rows):
    explorer, space, net, _ = v8n_rows
    explorer.deadline = float("inf")

    def evaluate(atoms, caps=None):
        from partitioner.block_search import Evaluated
        from partitioner.model_script import CapOverrides

        _, changed, changes = real_totals(explorer, space, net, atoms)
        changes = dict(changes or {})
        if caps:
            changes["caps"] = CapOverrides(**caps)
        prepared = explorer.prepare(changed, changes or None)
        return Evaluated(atoms=tuple(atoms), net=changed, fit=explorer.fit(prepared),
                         prepared=prepared)  # fmt: skip

    found, proof = row_search(explorer, space, net, ["model.8", "model.21"], evaluate)
    assert proof is None and len(found) == 1
    ev, caps = found[0]
    assert ev.fits and ev.net.total_macs >= 0.9 * net.total_macs
    # the fewest changes: 89 nodes against 71 (the flow's control cap 1.1 of 64 LCUs); no one
    # change fits (control 1.2 allows 77; the P5 scale dropped leaves 75 nodes); both do,
    # keeping 90.2% of the MACs (six plain blocks at the flow's caps keep 96%: six changes)
    assert ev.atoms == (space.head_atom(),) and caps == {"control": 1.2}
    assert len(ev.net) == 81 and ev.fit.usage.lcus <= 77  # ceil(1.2 x 64)
