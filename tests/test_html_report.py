"""The HTML report, its plots and the per-cluster tables: figures derived by hand or from the
throughput formula, a page that references nothing outside itself, and the CLI flags."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from types import SimpleNamespace

import pytest
from rich.console import Console

from cost_model.hardware import preset
from cost_model.layer import Layer, OpKind
from cost_model.resources import Resources
from partitioner.cli import main
from partitioner.clusters import cluster_cells, cluster_table
from partitioner.compile import compile_network
from partitioner.errors import UsageError
from partitioner.graph import Network
from partitioner.html_report import (
    binding_text,
    layer_rows,
    render_html,
    summary_items,
    write_html,
)
from partitioner.plots import (
    best_fps_steps,
    edge_path,
    graph_layout,
    history_series,
    timeline_segments,
    utilization_bars,
)
from partitioner.search import Progress, SearchOptions
from tests.nets import conv_chain

HAILO8, HAILO8L = preset("hailo8"), preset("hailo8l")


@pytest.fixture(scope="module")
def multi():
    # 60 one-LCU convs: one context allows ceil(0.75 x 64) = 48 LCUs on Hailo-8L -> several.
    net = conv_chain(60)
    return compile_network(net, HAILO8L, SearchOptions(timeout_s=2)), net


@pytest.fixture(scope="module")
def single():
    net = conv_chain(20)
    return compile_network(net, HAILO8, SearchOptions(timeout_s=2)), net


# -- timeline ------------------------------------------------------------------------------------
def test_timeline_ends_at_the_batch_time_of_the_reported_fps(multi, single):
    for report, _ in (multi, single):
        b = report.search.batch
        segments = timeline_segments(
            frame_ms=[c.frame_ms for c in report.contexts],
            switch_ms=[c.switch_ms for c in report.contexts],
            batch=b,
        )
        # T(B) = B / FPS(B), in ms
        assert segments[-1].end_ms == pytest.approx(b / report.fps[b] * 1e3, rel=1e-9)
        # bars touch: each starts where the previous ended
        for before, after in zip(segments, segments[1:], strict=False):
            assert after.start_ms == pytest.approx(before.end_ms)
        compute = [s for s in segments if s.kind == "compute"]
        assert len(compute) == b * report.num_contexts


def test_single_context_timeline_has_no_switch(single):
    report, _ = single
    segments = timeline_segments(
        frame_ms=[c.frame_ms for c in report.contexts],
        switch_ms=[c.switch_ms for c in report.contexts],
        batch=8,
    )
    assert [s.kind for s in segments] == ["compute"] * 8
    assert [s.frame for s in segments] == list(range(8))


def test_multi_context_timeline_switches_before_each_context(multi):
    report, _ = multi
    segments = timeline_segments(frame_ms=[1.0, 2.0, 3.0], switch_ms=[0.5, 0.5, 0.5], batch=3)
    kinds = [(s.context, s.kind) for s in segments]
    assert (
        kinds
        == [(c, "switch") for c in range(1)]
        + [(0, "compute")] * 3
        + [(1, "switch")]
        + [(1, "compute")] * 3
        + [(2, "switch")]
        + [(2, "compute")] * 3
    )
    # T(3) = 3 x 0.5 + 3 x (1 + 2 + 3) = 19.5 ms
    assert segments[-1].end_ms == 19.5
    assert report.num_contexts >= 2


# -- utilization ---------------------------------------------------------------------------------
def test_utilization_bars_are_usage_against_the_cap_limits(multi):
    report, _ = multi
    bars = utilization_bars(report)
    assert len(bars) == 3 * report.num_contexts
    control = [b for b in bars if b.resource == "Control"]
    for bar, c in zip(control, report.contexts, strict=True):
        assert (bar.used, bar.limit, bar.total, bar.unit) == (c.usage.lcus, 39, 64, "LCUs")
        assert bar.fraction == pytest.approx(c.control)
    # multi-context caps at 60%: ceil(0.6 x 64) = 39 LCUs, ceil(0.6 x 256) = 154 SCs,
    # ceil(0.6 x 512) = 308 L3 cuts
    assert {(b.resource, b.limit) for b in bars} == {
        ("Control", 39),
        ("Compute", 154),
        ("Memory", 308),
    }
    assert control[0].cap_fraction == 39 / 64


# -- per-layer table -----------------------------------------------------------------------------
def test_layer_rows_add_up_to_each_context_usage(multi, single):
    for report, net in (multi, single):
        rows = layer_rows(report, net)
        assert [r.name for r in rows] == list(net.topological_order())
        assert [r.position for r in rows] == list(range(len(net)))
        for c in report.contexts:
            mine = [r for r in rows if r.context == c.index]
            assert tuple(r.name for r in mine) == c.layers
            assert sum((r.resources for r in mine), Resources.zeros()) == c.usage
            assert all(r.fps == c.fps for r in mine)
            assert sum(r.weight_bytes for r in mine) == c.weight_bytes


def test_layer_rows_refuse_another_network(multi):
    report, _ = multi
    with pytest.raises(UsageError, match=r"network 'chain' does not match .* 'conv59'"):
        layer_rows(report, conv_chain(59))


# -- summary -------------------------------------------------------------------------------------
def test_summary_of_a_multi_context_compile(multi):
    report, _ = multi
    items = {item.key: item.value for item in summary_items(report)}
    assert items["contexts"] == f"{report.num_contexts} (multi-context)"
    assert items["single-context"] == "no"
    assert items["fps-1"] == f"{report.fps[1]:,.1f} FPS"
    assert items["fps-8"] == f"{report.fps[8]:,.1f} FPS"
    assert items["latency"] == f"{report.latency_ms:.2f} ms"
    # 60 layers x 1 LCU against ceil(0.75 x 64) = 48 LCUs in the single-context flow
    assert items["single-failure"] == "LCUs 60/48"
    assert items["margin"].startswith("lowest demand LCUs 60/48 (125% of the limit)")  # 60 / 48
    assert items["batch-time"] == f"{8 / report.fps[8] * 1e3:.3f} ms"
    # power = static + dynamic energy per frame x FPS, at the batch the search optimized for
    power = report.power[8]
    dynamic_w = report.energy_mj_per_frame[8] * 1e-3 * report.fps[8]
    assert power.dynamic_w == pytest.approx(dynamic_w, rel=1e-9)
    assert items["power"] == (
        f"{power.total_w:.2f} W = {power.static_w:.2f} W static + {power.dynamic_w:.2f} W dynamic"
    )


def test_summary_of_a_single_context_compile(single):
    report, _ = single
    items = {item.key: item.value for item in summary_items(report)}
    assert items["contexts"] == "1 (single context)"
    assert items["single-context"] == "yes"
    assert "single-failure" not in items
    assert items["fps-1"] == items["fps-8"]  # one context: same FPS at every batch


def test_binding_text_ranks_by_share_of_the_batch_time():
    def ctx(index, binding, switch_ms, frame_ms):
        return SimpleNamespace(index=index, binding=binding, switch_ms=switch_ms, frame_ms=frame_ms)

    report = SimpleNamespace(
        num_contexts=3,
        search=SimpleNamespace(batch=8),
        # shares S + 8 t: pcie 1 + 8 = 9 ms; subclusters (2 + 4) + (2 + 4) = 12 ms
        contexts=[
            ctx(0, "pcie", 1.0, 1.0),
            ctx(1, "subclusters", 2.0, 0.5),
            ctx(2, "subclusters", 2.0, 0.5),
        ],
    )
    assert binding_text(report) == "Compute (SCs) in context_1, context_2; PCIe in context_0"
    one = SimpleNamespace(num_contexts=1, contexts=[ctx(0, "lcus", 0.0, 1.0)])
    assert binding_text(one) == "Control (LCUs)"


# -- graph layout and history --------------------------------------------------------------------
def test_graph_layout_of_a_chain_is_a_line(single):
    _, net = single
    layout = graph_layout(net)
    assert layout == {f"conv{i}": (float(i), 0.0) for i in range(20)}


def test_graph_layout_orders_a_depth_by_the_inputs_positions():
    # x -> a; a -> b, c; c -> d; b -> e; (d, e) -> f. Depth 2 holds d (reads c, y = +0.5) and
    # e (reads b, y = -0.5): e goes first although d comes first in topological order.
    def act(name, *srcs):
        return Layer(
            name=name,
            op=OpKind.ACTIVATION,
            inputs=srcs,
            input_shapes=tuple((4, 8, 8) for _ in srcs),
            output_shape=(4, 8, 8),
        )

    layers = [act("a", "x"), act("b", "a"), act("c", "a"), act("d", "c"), act("e", "b")]
    net = Network("x", [*layers, act("f", "d", "e")], inputs={"x": (4, 8, 8)}, outputs=["f"])
    layout = graph_layout(net)
    assert layout["d"] == (2.0, 0.5) and layout["e"] == (2.0, -0.5)
    assert layout["f"] == (3.0, 0.0)


def test_long_edges_are_arcs_short_ones_straight():
    straight = edge_path((0.0, 0.0), (1.0, 1.0))
    assert straight.vertices.tolist() == [[0.0, 0.0], [1.0, 1.0]]
    arc = edge_path((0.0, 0.0), (4.0, 0.0))
    # control point above the midpoint by 0.3 x sqrt(4) = 0.6 (y grows downwards on the page)
    assert arc.vertices.tolist() == [[0.0, 0.0], [2.0, -0.6], [4.0, 0.0]]


def test_history_series_adds_the_final_bound_of_each_iteration():
    history = [
        Progress(elapsed_s=0.5, num_contexts=3, iteration=2),
        Progress(elapsed_s=0.6, num_contexts=3, iteration=2, fps=100.0, best_fps=100.0,
                 bound_fps=160.0, gap=0.375),
        Progress(elapsed_s=0.9, num_contexts=3, iteration=2, fps=120.0, best_fps=120.0,
                 bound_fps=150.0, gap=0.2),
        Progress(elapsed_s=2.0, num_contexts=4, iteration=3, best_fps=120.0),
    ]  # fmt: skip
    iterations = [
        SimpleNamespace(index=1, num_contexts=2, wall_seconds=0.0, bound_s=None, best_fps=None),
        SimpleNamespace(index=2, num_contexts=3, wall_seconds=1.0, bound_s=0.064, best_fps=120.0),
        SimpleNamespace(index=3, num_contexts=4, wall_seconds=0.5, bound_s=None, best_fps=120.0),
    ]
    series = history_series(history, iterations, batch=8)
    assert [s.num_contexts for s in series] == [3, 4]  # K = 2 was skipped ("too many")
    k3 = series[0]
    assert (k3.start_s, k3.end_s) == (0.5, 1.5)
    assert k3.solutions == ((0.6, 100.0), (0.9, 120.0))
    # the final bound: 8 frames / 0.064 s = 125 FPS at the end of the iteration
    assert k3.bound == ((0.6, 160.0), (0.9, 150.0), (1.5, 125.0))
    assert (series[1].start_s, series[1].end_s, series[1].bound) == (2.0, 2.5, ())
    assert best_fps_steps(series) == ((0.6, 100.0), (0.9, 120.0), (2.5, 120.0))


# -- per-cluster tables --------------------------------------------------------------------------
def render(table) -> str:
    console = Console(file=io.StringIO(), width=100, color_system=None, legacy_windows=False)
    console.print(table)
    return console.file.getvalue()


def test_cluster_table_spreads_usage_like_the_profiler():
    # Hailo-8: 8 clusters of 16 LCUs, 64 SCs, 128 L3 cuts. 77 LCUs = 5 x 10 + 3 x 9,
    # 300 SCs = 4 x 38 + 4 x 37, 600 cuts = 8 x 75.
    text = render(cluster_table(2, Resources(lcus=77, subclusters=300, l3_cuts=600), HAILO8))
    lines = text.splitlines()
    assert lines[0].strip() == "context_2 utilization:"
    header = lines[2]
    for name in ("Cluster", "Control Utilization", "Compute Utilization", "Memory Utilization"):
        assert name in header
    rows = [re.split(r"\s*│\s*", line.strip("│ ")) for line in lines if "cluster_" in line]
    assert rows[0] == [
        "cluster_0",
        "62.5% (10/16 LCUs)",
        "59.4% (38/64 SCs)",
        "58.6% (75/128 L3 cuts)",
    ]
    assert rows[7] == [
        "cluster_7",
        "56.2% (9/16 LCUs)",
        "57.8% (37/64 SCs)",
        "58.6% (75/128 L3 cuts)",
    ]
    total = next(line for line in lines if "Total" in line)
    # 77/128 = 60.2%, 300/512 = 58.6%, 600/1024 = 58.6%
    assert re.split(r"\s*│\s*", total.strip("│ ")) == [
        "Total", "60.2% (77/128 LCUs)", "58.6% (300/512 SCs)", "58.6% (600/1024 L3 cuts)",
    ]  # fmt: skip


def test_cluster_cells_name_the_hailo8l_clusters():
    cells = cluster_cells(Resources(lcus=4, subclusters=4, l3_cuts=4), HAILO8L)
    assert [row[0] for row in cells] == [
        "cluster_0",
        "cluster_1",
        "cluster_4",
        "cluster_5",
        "Total",
    ]


# -- the page ------------------------------------------------------------------------------------
class _Page(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids: list[str] = []
        self.tags: dict[str, int] = {}
        self.refs: list[tuple[str, str, str]] = []
        self.text_by_id: dict[str, str] = {}
        self._open: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        self.tags[tag] = self.tags.get(tag, 0) + 1
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.append(attrs["id"])
        for key in ("src", "href", "xlink:href", "action", "data", "poster"):
            if key in attrs:
                self.refs.append((tag, key, attrs[key]))
        self._open.append(attrs.get("id"))

    def handle_endtag(self, tag):
        if self._open:
            self._open.pop()

    def handle_data(self, data):
        for i in self._open:
            if i is not None:
                self.text_by_id[i] = self.text_by_id.get(i, "") + data


def test_page_is_self_contained_and_shows_the_summary(multi):
    report, net = multi
    text = render_html(report, net)
    page = _Page()
    page.feed(text)
    # nothing to fetch: no script, no stylesheet link, no remote URL anywhere
    assert page.tags.get("script", 0) == 0 and "<iframe" not in text
    for tag, key, value in page.refs:
        assert value.startswith("#") or value == "data:,", (tag, key, value)
    assert "url(" not in re.sub(r"url\(#[^)]+\)", "", text)
    for match in re.finditer(r"https?://[^\"'\s)]+", text):
        before = text[max(0, match.start() - 20) : match.start()]
        assert re.search(r'xmlns(:\w+)?="$', before), match.group(0)  # namespace names only
    # plots: timeline, utilization, graph, solver history; ids unique across all of them
    assert page.tags["svg"] == 4
    assert len(page.ids) == len(set(page.ids))
    # the summary figures, in their elements
    assert page.text_by_id["summary-contexts"] == f"{report.num_contexts} (multi-context)"
    assert page.text_by_id["summary-fps-8"] == f"{report.fps[8]:,.1f} FPS"
    assert page.text_by_id["summary-latency"] == f"{report.latency_ms:.2f} ms"
    # the per-layer table has one row per layer; every section is there
    assert text.count('<td class="l">conv') >= len(net)
    for section in ("summary", "timeline", "utilization", "graph", "layers", "solver"):
        assert f'<section id="{section}">' in text
    assert "context_1 utilization" in text and "Memory Utilization" in text


def test_single_context_page_has_no_solver_plot(single):
    report, net = single
    text = render_html(report, net)
    assert text.count("<svg") == 3
    assert "no partition search was needed" in text


def test_write_html_names_an_unwritable_path(multi, tmp_path):
    report, net = multi
    with pytest.raises(UsageError, match=r"cannot write the HTML report '.*': it is a directory"):
        write_html(tmp_path, report, net)
    missing = tmp_path / "nowhere" / "r.html"
    with pytest.raises(UsageError, match=r"directory '.*nowhere' does not exist"):
        write_html(missing, report, net)


# -- the CLI -------------------------------------------------------------------------------------
def test_compile_writes_html_and_prints_cluster_tables(tmp_path, capsys):
    model = tmp_path / "chain80.json"
    conv_chain(80).save(model)
    page = tmp_path / "report.html"
    code = main(
        ["compile", str(model), "--hw", "hailo8l", "--timeout", "2", "--html", str(page),
         "--clusters"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert page.read_text().startswith("<!DOCTYPE html>")
    assert f"[info] HTML report written to {page}" in out
    assert "context_0 utilization:" in out and "context_1 utilization:" in out
    assert "Control Utilization" in out and "Compute Utilization" in out
    assert "cluster_4" in out and "cluster_2" not in out  # Hailo-8L: clusters 0, 1, 4, 5
    assert re.search(r"Total\s+│\s+\d+\.\d% \(\d+/64 LCUs\)", out)


def test_compile_checks_the_html_path_before_compiling(tmp_path, capsys):
    model = tmp_path / "chain.json"
    conv_chain(4).save(model)
    code = main(["compile", str(model), "--html", str(tmp_path / "no" / "r.html")])
    captured = capsys.readouterr()
    assert code == 2
    assert "directory" in captured.err and "does not exist" in captured.err
    assert "[info]" not in captured.out  # failed before the search started


def test_compile_refuses_to_overwrite_the_model_with_html(tmp_path, capsys):
    model = tmp_path / "chain.json"
    conv_chain(4).save(model)
    before = model.read_text()
    assert main(["compile", str(model), "--html", str(model)]) == 2
    assert "is the input file" in capsys.readouterr().err
    assert model.read_text() == before
