"""One context: the highest rate at which its layers fit, what binds, utilization, failures."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cost_model.caps import MULTI_CONTEXT_CAPS, SINGLE_CONTEXT_CAPS, ResourceCaps, limits
from cost_model.context import context_fit, edge_layers, per_cluster, standalone_failure
from cost_model.errors import PricingError
from cost_model.hardware import preset
from cost_model.layer import Layer, OpKind
from cost_model.lowering import lower_layer, max_layer_fps
from cost_model.resources import Resources

HW = preset("hailo8").with_params(
    compute_efficiency=0.5,
    min_channels_per_node=16,
    max_nodes_per_layer=16,
    line_buffer_extra_rows=0,
    combiner_subclusters=1,
    shortcut_subclusters=0,
    shortcut_nodes=1,
    fused_ops=("activation",),
    extra_nodes_by_op=(),
    sc_cycles_per_row=0.0,
    l3_cut_bytes=16384,
    lcus_per_node=1,
    apus_per_node=1,
    input_aligners_per_node=1,
    config_bytes_per_node=4096,
)
CLOCK = 400e6


def mac_layer(name: str, macs: int, *, c_out: int = 64, params: int = 4160) -> Layer:
    """A 1x1 conv on an 8x8 map whose MACs and params are set by hand: W = macs / 32."""
    return Layer(
        name=name,
        op=OpKind.CONV,
        inputs=("x",),
        input_shapes=((64, 8, 8),),
        output_shape=(c_out, 8, 8),
        params=params,
        macs=macs,
    )


def test_one_layer_is_capped_by_its_own_split_limit():
    layer = mac_layer("only", 32_000_000)  # W = 1e6 SC-cycles per frame
    fit = context_fit([(layer, 1)], HW, SINGLE_CONTEXT_CAPS)
    assert fit.fits and fit.binding == "layer" and fit.capping_layer == "only"
    assert fit.fps == pytest.approx(16 * 8 * CLOCK / 1e6)  # 128 SCs' worth: 51,200 FPS
    assert fit.over == []


def test_compute_binds_two_equal_layers():
    caps = SINGLE_CONTEXT_CAPS.with_cap("compute", 0.01)  # ceil(5.12) = 6 SCs
    layers = [(mac_layer("a", 32_000_000), 1), (mac_layer("b", 32_000_000), 1)]
    fit = context_fit(layers, HW, caps)
    # 2 x ceil(1e6 x F / 4e8) <= 6  ->  F <= 3 x 4e8 / 1e6
    assert fit.fps == pytest.approx(1200.0, rel=1e-12)
    assert fit.binding == "subclusters" and fit.capping_layer is None
    assert fit.usage.subclusters == 6 and fit.usage.lcus == 2
    assert fit.limits.subclusters == 6


def test_control_binds_when_a_second_layer_would_defuse():
    caps = SINGLE_CONTEXT_CAPS.with_cap("control", 0.1)  # ceil(12.8) = 13 LCUs
    layers = [(mac_layer(f"l{i}", 32_000_000 * (i + 1)), 1) for i in range(10)]
    fit = context_fit(layers, HW, caps)
    # 10 one-node layers = 10 LCUs; a layer above 8 SCs becomes 2 nodes + a combiner (+2 LCUs).
    # W_10 = 10e6 passes 8 SCs at F = 320 (12 LCUs, fits); W_9 = 9e6 at F = 3.2e9 / 9e6 (14).
    assert fit.fps == pytest.approx(8 * CLOCK / 9e6, rel=1e-12)
    assert fit.binding == "lcus"
    assert fit.usage.lcus == 12
    # SCs at F*: ceil(k x 0.888..) for k = 1..10 = 1+2+3+4+5+6+7+8+8+9 = 53, + 1 combiner SC
    assert fit.usage.subclusters == 54
    assert fit.utilization.control == pytest.approx(12 / 128)
    assert fit.utilization.compute == pytest.approx(54 / 512)


def test_memory_binds_when_spatial_replication_doubles_the_weights():
    caps = SINGLE_CONTEXT_CAPS.with_cap("memory", 0.015)  # ceil(15.36) = 16 L3 cuts
    # 16 output channels: no channel split, so 2 nodes replicate the 10 cuts of weights
    layer = mac_layer("narrow", 32_000_000, c_out=16, params=10 * 16384)
    fit = context_fit([(layer, 1)], HW, caps)
    # 1 node: 10 weight cuts + 1 buffer cut = 11; 2 nodes: 2 x 10 + 1 = 21 > 16
    assert fit.fps == pytest.approx(8 * CLOCK / 1e6, rel=1e-12)
    assert fit.binding == "l3_cuts"
    assert fit.usage.l3_cuts == 11


def test_the_fit_fits_and_a_hair_more_does_not():
    caps = MULTI_CONTEXT_CAPS.with_cap("compute", 0.05)
    layers = [(mac_layer(f"l{i}", 10_000_000 * (i + 3)), 1 + i % 2) for i in range(8)]
    fit = context_fit(layers, HW, caps)
    used = sum(
        (lower_layer(lay, HW, fit.fps, fan_out=fo).resources for lay, fo in layers),
        Resources.zeros(),
    )
    assert used == fit.usage and used <= limits(caps, HW)
    above = sum(
        (lower_layer(lay, HW, fit.fps * (1 + 1e-9), fan_out=fo).resources for lay, fo in layers),
        Resources.zeros(),
    )
    assert not above <= limits(caps, HW)
    assert [c.layer for c in fit.layer_costs] == [f"l{i}" for i in range(8)]


def chained(layers: list[Layer]) -> list[tuple[Layer, int]]:
    """The layers as a chain x -> l0 -> l1 -> ... (fan-out 1 each; the last is the output)."""
    return [
        (replace(layer, inputs=("x",) if i == 0 else (layers[i - 1].name,)), 1)
        for i, layer in enumerate(layers)
    ]


def test_a_context_that_does_not_fit_names_each_resource_over():
    layers = chained([mac_layer(f"l{i}", 1000) for i in range(100)])  # 100 nodes at the least
    fit = context_fit(layers, HW, SINGLE_CONTEXT_CAPS)
    assert not fit.fits and fit.fps == 0.0
    assert fit.over == [("lcus", 100, 96)]  # APUs 100/120 and IAs 100/192 still fit
    assert fit.binding == "lcus"
    message = standalone_failure(fit)
    assert message is not None
    assert "could not fit in single context" in message
    assert "LCUs: 100/96" in message and "(over: LCUs)" in message
    with pytest.raises(PricingError, match="does not fit"):
        fit.timing(0)


# The rule of one raised class: 1x1 convs on 8x8x64, each 1 LCU and 1 cut of line buffer (2 rows
# x 8 x 64 B = 1 KiB) plus ceil(params / 16 KiB) cuts of weights; at 75% Hailo-8 allows 96 LCUs
# and 768 L3 cuts, at 100% 128 and 1024.
def weighted_chain(n: int, weight_cuts: int) -> list[tuple[Layer, int]]:
    return chained([mac_layer(f"l{i}", 1000, params=weight_cuts * 16384) for i in range(n)])


@pytest.mark.parametrize(
    "n, weight_cuts, over",
    [
        (100, 7, [("lcus", 100, 96), ("l3_cuts", 800, 768)]),  # both classes over 75%: no
        (100, 1, []),  # 100 LCUs over, 200 cuts within: yes
        (90, 8, []),  # 90 LCUs within, 810 cuts over: yes
        (90, 7, []),  # 90 LCUs, 720 cuts: within both
    ],
)
def test_one_context_may_pass_the_base_caps_on_nodes_or_memory_not_both(n, weight_cuts, over):
    layers = weighted_chain(n, weight_cuts)
    raised = ResourceCaps.uniform(1.0)
    assert context_fit(layers, HW, raised).fits  # without the rule every case fits at 100%
    fit = context_fit(layers, HW, raised, base_caps=SINGLE_CONTEXT_CAPS)
    assert fit.fits == (not over)
    assert fit.over == over
    assert fit.both_classes == bool(over)  # the rule alone decided it
    if over:
        assert fit.fps == 0.0 and fit.binding == "lcus"
        message = standalone_failure(fit) or ""
        assert "LCUs: 100/96, SCs: 100/384, L3 cuts: 800/768" in message
        assert "(over: LCUs, L3 cuts)" in message
    else:
        assert fit.fps == context_fit(layers, HW, raised).fps  # the rule only decides the fit


@pytest.mark.parametrize(
    "n, weight_cuts, share, label, base",
    [
        (100, 7, 100 / 96, ("LCUs 100/96", "L3 cuts 800/768"), True),  # both over base: 25/24
        (100, 1, 100 / 128, ("LCUs 100/128",), False),  # memory under base: LCUs vs the cap
        (90, 8, 90 / 96, ("LCUs 90/96",), True),  # 7 more nodes and both classes are over
        (90, 7, 90 / 96, ("LCUs 90/96", "L3 cuts 720/768"), True),  # both at 15/16 of base
    ],
)
def test_the_fit_margin_is_the_share_of_the_deciding_limit(n, weight_cuts, share, label, base):
    layers = weighted_chain(n, weight_cuts)
    fit = context_fit(layers, HW, ResourceCaps.uniform(1.0), base_caps=SINGLE_CONTEXT_CAPS)
    assert fit.margin is not None
    assert fit.margin.share == pytest.approx(share)
    assert fit.margin.label in label
    assert fit.margin.base == base
    assert fit.fits == (fit.margin.share <= 1)


def test_the_fit_margin_without_the_rule_and_past_the_edge_layers():
    fit = context_fit(weighted_chain(90, 8), HW, SINGLE_CONTEXT_CAPS)
    assert (fit.margin.label, fit.margin.base) == ("L3 cuts 810/768", False)
    assert fit.margin.share == pytest.approx(810 / 768) and not fit.fits
    wide = context_fit(heads(24), HW, SINGLE_CONTEXT_CAPS)  # 1 input + 24 outputs
    assert wide.margin.label == "edge layers 25/20" and not wide.fits


def test_standalone_failure_is_none_when_it_fits():
    fit = context_fit([(mac_layer("a", 1000), 1)], HW, SINGLE_CONTEXT_CAPS)
    assert standalone_failure(fit) is None


def test_timing_carries_the_context_totals():
    layers = [(mac_layer("a", 32_000_000), 2), (mac_layer("b", 64_000_000), 1)]
    fit = context_fit(layers, HW, MULTI_CONTEXT_CAPS)
    timing = fit.timing(150_528)
    assert timing.compute_fps == fit.fps
    assert timing.weight_bytes == 2 * 4160
    assert timing.macs_per_frame == 96_000_000
    assert timing.config_bytes == sum(c.nodes for c in fit.layer_costs) * HW.config_bytes_per_node
    assert timing.pcie_bytes_per_frame == 150_528


def test_per_cluster_spread_adds_up_to_the_usage():
    usage = Resources(lcus=61, subclusters=84, l3_cuts=274)
    rows = per_cluster(usage, preset("hailo8l"))
    assert [r.cluster for r in rows] == ["cluster_0", "cluster_1", "cluster_4", "cluster_5"]
    assert sum(r.lcus for r in rows) == 61 and sum(r.l3_cuts for r in rows) == 274
    assert [r.lcus for r in rows] == [16, 15, 15, 15]
    assert rows[0].control == 1.0  # 16 of a cluster's 16 LCUs
    assert rows[1].compute == pytest.approx(21 / 64)


def test_empty_context_is_an_error():
    with pytest.raises(PricingError, match="at least one layer"):
        context_fit([], HW, SINGLE_CONTEXT_CAPS)


# -- properties ----------------------------------------------------------------------------------

layers_strategy = st.lists(
    st.tuples(
        st.integers(1_000, 200_000_000),
        st.sampled_from([16, 32, 64, 256]),
        st.integers(0, 3_000_000),
        st.integers(1, 3),
    ),
    min_size=1,
    max_size=12,
)


def build(spec):
    return [
        (mac_layer(f"l{i}", macs, c_out=c_out, params=params), fan_out)
        for i, (macs, c_out, params, fan_out) in enumerate(spec)
    ]


@settings(max_examples=40, deadline=None)
@given(
    spec=layers_strategy,
    u1=st.floats(0.05, 1.0),
    u2=st.floats(0.05, 1.0),
    which=st.sampled_from(["control", "compute", "memory", "apu", "input_aligner", "all"]),
)
def test_fps_never_rises_when_a_cap_falls(spec, u1, u2, which):
    low, high = sorted((u1, u2))
    layers = build(spec)
    if which == "all":
        caps_low, caps_high = ResourceCaps.uniform(low), ResourceCaps.uniform(high)
    else:
        caps_low = MULTI_CONTEXT_CAPS.with_cap(which, low)
        caps_high = MULTI_CONTEXT_CAPS.with_cap(which, high)
    assert context_fit(layers, HW, caps_low).fps <= context_fit(layers, HW, caps_high).fps


@settings(max_examples=40, deadline=None)
@given(
    spec=layers_strategy,
    index=st.integers(0, 11),
    more_macs=st.integers(1, 10**9),
    more_params=st.integers(0, 10**6),
)
def test_fps_never_rises_when_a_layer_grows(spec, index, more_macs, more_params):
    layers = build(spec)
    i = index % len(layers)
    layer, fan_out = layers[i]
    grown = list(layers)
    grown[i] = (
        replace(layer, macs=layer.macs + more_macs, params=layer.params + more_params),
        fan_out,
    )
    before = context_fit(layers, HW, MULTI_CONTEXT_CAPS)
    after = context_fit(grown, HW, MULTI_CONTEXT_CAPS)
    assert after.fps <= before.fps
    if not before.fits:
        assert not after.fits


@settings(max_examples=40, deadline=None)
@given(spec=layers_strategy)
def test_fit_is_within_limits_and_below_every_layer_cap(spec):
    layers = build(spec)
    fit = context_fit(layers, HW, MULTI_CONTEXT_CAPS)
    assert fit.usage <= fit.limits or not fit.fits
    if fit.fits:
        assert fit.fps <= min(max_layer_fps(lay, HW) for lay, _ in layers) * (1 + 1e-12)
        assert sum(c.lcus for c in fit.per_cluster) == fit.usage.lcus


@settings(max_examples=40, deadline=None)
@given(spec=layers_strategy, u=st.floats(0.05, 1.2))
def test_the_answer_is_the_last_rate_that_fits(spec, u):
    """Checked with the vectorised lowering, independently of the step walk."""
    from cost_model.lowering import ProfileTable, lower_table, profile_layer

    layers = build(spec)
    caps = ResourceCaps.uniform(u)
    fit = context_fit(layers, HW, caps)
    table = ProfileTable.from_profiles([profile_layer(lay, HW, fo) for lay, fo in layers])
    limit = limits(caps, HW)

    def total(f):
        return Resources.from_tuple(lower_table(table, HW, f).demand.sum(axis=0).tolist())

    if not fit.fits:
        assert not total(1e-9) <= limit
        return
    assert total(fit.fps) == fit.usage and fit.usage <= limit
    if fit.binding != "layer":
        assert not total(fit.fps * (1 + 1e-9)) <= limit


def heads(n: int) -> list[tuple[Layer, int]]:
    """A stem read by ``n`` 1x1-conv heads, each a graph output: 1 + n edge layers."""
    stem = replace(mac_layer("stem", 1000), inputs=("x",))
    return [(stem, n)] + [
        (replace(mac_layer(f"head{i}", 1000), inputs=("stem",)), 1) for i in range(n)
    ]


def test_edge_layers_count_the_tensors_crossing_the_context():
    assert edge_layers(heads(19)) == 20  # x in, 19 heads out
    assert edge_layers(heads(19)[:5]) == 1 + 1 + 4  # x in; the stem (read later) and 4 heads out
    assert edge_layers(heads(19)[5:]) == 1 + 15  # the stem's tensor in, 15 heads out
    assert edge_layers(chained([mac_layer(f"l{i}", 1000) for i in range(30)])) == 2


def test_a_context_over_the_edge_layer_limit_does_not_fit():
    assert context_fit(heads(19), HW, SINGLE_CONTEXT_CAPS).fits  # 20 edge layers: the limit
    fit = context_fit(heads(20), HW, SINGLE_CONTEXT_CAPS)
    assert not fit.fits and fit.fps == 0.0
    assert fit.over == [("edge_layers", 21, 20)]  # every resource fits
    assert fit.binding == "edge_layers"
    message = standalone_failure(fit)
    assert message is not None
    assert message.endswith("edge layers: 21/20 (over: edge layers); allow context switching")


@settings(max_examples=40, deadline=None)
@given(spec=layers_strategy, u=st.floats(0.05, 1.2), base=st.none() | st.floats(0.05, 1.0))
def test_the_margin_decides_the_fit(spec, u, base):
    base_caps = None if base is None else ResourceCaps.uniform(base)
    fit = context_fit(build(spec), HW, ResourceCaps.uniform(u), base_caps=base_caps)
    assert fit.margin is not None
    assert fit.fits == (fit.margin.share <= 1)
