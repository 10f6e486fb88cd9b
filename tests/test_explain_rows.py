"""The exact row search of ``ctxfit explain`` (:mod:`partitioner.block_search`'s row functions,
``partitioner.explain._RowTables`` / ``_row_search`` / ``_row_proof``): the dynamic programme
against brute force, the proof lines on hand-computed cases (including ones where a combination
exists, so the proof must not fire), and the per-row tables of YOLOv8n against the networks
they predict, rebuilt and priced (the soundness of the bound on a real network).
"""

from __future__ import annotations

import itertools
import random
from types import SimpleNamespace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cost_model.caps import ResourceCaps
from cost_model.hardware import preset
from partitioner.block_search import RowOption, best_rows, min_l3, min_nodes, row_pareto, thin
from partitioner.explain import (
    _Explorer,
    _row_proof,
    _row_search,
    _row_table,
    _RowTables,
    zoo_model_name,
)
from partitioner.models import ModelRequest, load_network
from partitioner.tweaks import Atom, YoloSpace, w4_rules


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


def test_thin_undoes_what_the_limits_do_not_need():
    full, small = opt(10, 9, 5), opt(10, 5, 5, w4("b"))
    rows = [[full, small], [full, small]]
    # 4-bit in both rows: 10 L3; one is enough for <= 14, none for <= 18
    assert [len(o.atoms) for o in thin(rows, [small, small], max_nodes=20, max_l3=14,
                                       min_macs=0)] == [0, 1]  # fmt: skip
    assert thin(rows, [small, small], max_nodes=20, max_l3=18, min_macs=0) == (full, full)
    assert thin(rows, [small, small], max_nodes=20, max_l3=10, min_macs=0) == (small, small)


options = st.lists(
    st.tuples(st.integers(0, 6), st.integers(0, 9), st.integers(0, 9)), min_size=1, max_size=3
)


@settings(max_examples=60, deadline=None)
@given(st.lists(options, min_size=1, max_size=4), st.integers(0, 20), st.integers(0, 30),
       st.integers(0, 30))  # fmt: skip
def test_row_functions_agree_with_brute_force(raw, max_nodes, max_l3, min_macs):
    rows = [[opt(*o) for o in r] for r in raw]
    combos = [
        (sum(o.nodes for o in c), sum(o.l3_cuts for o in c), sum(o.macs for o in c))
        for c in itertools.product(*rows)
    ]
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


# -- the proof line ---------------------------------------------------------------------------
SPACE = SimpleNamespace(rows=[(-1, 1, "C2f", ()), (-1, 1, "SPPF", ())],
                        csp_rows=lambda: [0], optional_rows=lambda: [1])  # fmt: skip
HAILO8L = preset("hailo8l")
FULL = ResourceCaps.uniform(1.0)  # 64 LCUs, 80 APUs, 128 input aligners, 512 L3 cuts


def proof(rows, min_macs, bounded=None):
    variants = (rows, rows)
    return _row_proof(SPACE, HAILO8L, FULL, variants, lambda: bounded or variants, [], min_macs)


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
    tables = _RowTables(explorer, space, net, ["model.8", "model.21"])
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
    table = _row_table(explorer, changed, changes)
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

    found, proof = _row_search(explorer, space, net, ["model.8", "model.21"], evaluate)
    assert proof is None and len(found) == 1
    ev, caps = found[0]
    assert ev.fits and ev.net.total_macs >= 0.9 * net.total_macs
    assert caps == {}  # it fits at the flow's caps
