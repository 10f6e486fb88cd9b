"""Hardware presets, the PCIe link, TOML loading, resources and caps."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from cost_model.caps import (
    MULTI_CONTEXT_CAPS,
    SINGLE_CONTEXT_CAPS,
    ResourceCaps,
    cap_limit,
    limits,
)
from cost_model.errors import CtxfitError, HardwareSpecError
from cost_model.hardware import HARDWARE_DIR, PcieLink, hardware_from_dict, load_hardware, preset
from cost_model.resources import RESOURCE_NAMES, Resources, format_over

# -- presets -------------------------------------------------------------------------------------


def test_hailo8_totals_are_the_profiler_totals():
    hw = preset("hailo8")
    # 8 clusters x (16 LCUs, 64 SCs, 128 L3 cuts); APUs / IAs from Model Zoo issue #124
    assert hw.totals() == Resources(
        lcus=8 * 16, subclusters=8 * 64, l3_cuts=8 * 128, apus=160, input_aligners=256
    )
    assert (hw.clusters, hw.l4_cuts_total, hw.edge_layers_per_context) == (8, 28, 20)
    assert hw.cluster_ids == tuple(range(8))
    assert (hw.clock_hz, hw.macs_per_sc_per_cycle, hw.max_subclusters_per_node) == (400e6, 64, 8)
    assert hw.link.label == "PCIe Gen3 x4"
    assert hw.pcie_pj_per_byte == 25.0


def test_hailo8_peak_is_26_tops():
    hw = preset("hailo8")
    # 512 SCs x 64 MAC/cycle x 2 ops/MAC x 400 MHz = 26.2 TOPS
    assert hw.peak_macs_per_s * 2 == pytest.approx(512 * 64 * 2 * 400e6)
    assert 26e12 <= hw.peak_macs_per_s * 2 < 26.3e12


def test_hailo8l_is_half_of_hailo8_on_clusters_0_1_4_5():
    h8, h8l = preset("hailo8"), preset("hailo8l")
    assert h8l.totals() == Resources(
        lcus=64, subclusters=256, l3_cuts=512, apus=80, input_aligners=128
    )
    assert h8l.cluster_ids == (0, 1, 4, 5)
    assert h8l.l4_cuts_total == 14
    assert h8l.peak_macs_per_s == h8.peak_macs_per_s / 2  # 13 TOPS
    assert h8l.link.label == "PCIe Gen3 x2"
    assert h8l.notes  # the assumed totals are said


def test_preset_names_are_case_insensitive_and_unknown_names_list_choices():
    assert preset("Hailo-8L").name == "hailo8l"
    with pytest.raises(HardwareSpecError, match=r"unknown hardware 'hailo15'.*hailo8, hailo8l"):
        preset("hailo15")


# -- the link ------------------------------------------------------------------------------------


def test_pcie_bandwidth_by_generation_and_lanes():
    # Gen3: 8 GT/s x 128/130 coding / 8 bits per byte per lane, at 90% payload efficiency
    gen3_lane = 8e9 * 128 / 130 / 8
    assert PcieLink(generation=3, lanes=4).bytes_per_s == pytest.approx(4 * gen3_lane * 0.9)
    # Gen2: 5 GT/s x 8/10 coding / 8 = 500 MB/s per lane; the Pi's Gen2 x1 moves ~0.45 GB/s
    assert PcieLink(generation=2, lanes=1).bytes_per_s == pytest.approx(0.45e9)
    assert PcieLink(generation=3, lanes=1).bytes_per_s == pytest.approx(0.886e9, rel=1e-3)
    assert PcieLink(generation=3, lanes=2, measured_bytes_per_s=1.5e9).bytes_per_s == 1.5e9


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"generation": 7, "lanes": 4}, "generation 7"),
        ({"generation": 3, "lanes": 3}, "lane count 3"),
        (
            {"generation": 3, "lanes": 4, "efficiency": 1.5},
            r"link.efficiency = 1.5 must be a finite number > 0 and <= 1$",
        ),
        (
            {"generation": 3, "lanes": 4, "measured_bytes_per_s": -1.0},
            r"link.bytes_per_s = -1.0 must be a finite number from 1e\+06 to 1e\+12 bytes/s$",
        ),
    ],
)
def test_bad_links_are_named(kwargs, pattern):
    with pytest.raises(HardwareSpecError, match=pattern):
        PcieLink(**kwargs)


# -- TOML ----------------------------------------------------------------------------------------


def test_bundled_raspberry_pi_files_override_only_the_link():
    gen3 = load_hardware("rpi5_hailo8l")
    gen2 = load_hardware("rpi5_hailo8l_gen2.toml")
    assert gen3.link.label == "PCIe Gen3 x1" and gen2.link.label == "PCIe Gen2 x1"
    assert gen3.totals() == preset("hailo8l").totals() == gen2.totals()
    assert gen3.name == "hailo8l-rpi5"


def test_toml_file_with_base_and_overrides(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text(
        'base = "hailo8"\ncompute_efficiency = 0.5\npcie_overhead_between_contexts = false\n'
        "[link]\nlanes = 1\n"
    )
    hw = load_hardware(str(path))
    assert hw.name == "mine"  # the file's stem when no name is given
    assert hw.compute_efficiency == 0.5
    assert hw.pcie_overhead_between_contexts is False
    assert hw.link.label == "PCIe Gen3 x1"
    assert hw.totals() == preset("hailo8").totals()


def test_full_toml_without_base_loads():
    hw = load_hardware("hailo8_full_example")
    assert hw.totals() == preset("hailo8").totals()
    assert hw.link.label == "PCIe Gen3 x2"
    assert hw.deciding().link.label == "PCIe Gen3 x4"  # its [compiler_link]
    data = tomllib.loads(Path(HARDWARE_DIR / "hailo8_full_example.toml").read_text())
    del data["compiler_link"]
    mine = hardware_from_dict(data)
    assert mine.deciding() is mine  # no base, no [compiler_link]: decided at its own link


def test_the_partition_is_decided_at_the_chips_compiler_link_whatever_the_host():
    from cost_model import params

    h8, h8l = preset("hailo8"), preset("hailo8l")
    assert h8.deciding().link.label == "PCIe Gen3 x4"
    lanes = params.HAILO8L_COMPILER_LINK_LANES
    assert h8l.deciding().link.label == f"PCIe Gen3 x{lanes}"
    # Another host (the Model Zoo's x4, a Raspberry Pi's x1) changes the link, not the decision.
    for host in (PcieLink(generation=3, lanes=4), PcieLink(generation=2, lanes=1)):
        moved = h8l.with_params(link=host)
        assert moved.link == host
        assert moved.deciding().link == h8l.deciding().link
        assert moved.deciding().totals() == h8l.totals()
    assert load_hardware("rpi5_hailo8l").deciding().link == h8l.deciding().link


def test_toml_sets_the_compiler_link(tmp_path):
    path = tmp_path / "mine.toml"
    path.write_text('base = "hailo8l"\n[link]\nlanes = 1\n[compiler_link]\nlanes = 4\n')
    hw = load_hardware(str(path))
    assert (hw.link.label, hw.deciding().link.label) == ("PCIe Gen3 x1", "PCIe Gen3 x4")
    path.write_text('base = "hailo8"\n[compiler_link]\nlanes = 3\n')
    with pytest.raises(HardwareSpecError, match=r"\[compiler_link\].*lane count 3"):
        load_hardware(str(path))
    path.write_text('base = "hailo8"\ncompiler_link = 4\n')
    with pytest.raises(HardwareSpecError, match=r"key 'compiler_link' must be a table"):
        load_hardware(str(path))


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        (
            'base = "hailo8"\nlcu_total = 96\n',
            r"unknown key 'lcu_total'; did you mean 'lcus_total'",
        ),
        ('base = "hailo8"\nlcus_total = "many"\n', r"key 'lcus_total' = 'many' must be a number"),
        ('base = "hailo8"\nlcus_total = 9.5\n', r"key 'lcus_total' = 9.5 must be an integer"),
        ('base = "hailo8"\nlcus_total = 0\n', r"lcus_total = 0 must be a whole number from 1 to"),
        ('base = "hailo8"\n[link]\nspeed = 3\n', r"unknown key 'link.speed'"),
        ('base = "hailo8"\n[link]\nlanes = 2.5\n', r"'link.lanes' = 2.5 must be an integer"),
        ('base = "hailo8"\n[link]\ngeneration = 9\n', r"\[link\].*generation 9"),
        ('base = "hailo99"\n', r"base = 'hailo99' is not a preset; use one of hailo8, hailo8l"),
        ('name = "x"\nclusters = 8\n', r"missing table \[link\]"),
        ('name = "x"\n[link]\ngeneration = 3\nlanes = 4\n', r"missing key 'clusters'"),
        ("base = [", r"not valid TOML"),
        (
            'base = "hailo8"\npcie_overhead_between_contexts = 1\n',
            r"'pcie_overhead_between_contexts' = 1 must be true or false",
        ),
    ],
)
def test_bad_toml_names_the_bad_key(tmp_path, text, pattern):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(HardwareSpecError, match=pattern):
        load_hardware(str(path))


def test_missing_file_lists_presets_and_bundled_files():
    with pytest.raises(HardwareSpecError, match=r"no hardware preset or file.*rpi5_hailo8l"):
        load_hardware("/nonexistent/board.toml")


def test_overriding_clusters_renumbers_them():
    hw = hardware_from_dict({"base": "hailo8l", "clusters": 2})
    assert hw.cluster_ids == (0, 1)


def test_with_params_rejects_unknown_fields():
    hw = preset("hailo8")
    assert hw.with_params(config_bytes_per_node=0).config_bytes_per_node == 0
    with pytest.raises(HardwareSpecError, match="no parameter 'speed'"):
        hw.with_params(speed=1)


def test_hardware_errors_are_ctxfit_errors():
    assert issubclass(HardwareSpecError, CtxfitError)


# -- resources -----------------------------------------------------------------------------------


def test_resources_add_sum_and_compare():
    a = Resources(lcus=1, subclusters=2, l3_cuts=3, apus=4, input_aligners=5)
    b = Resources(lcus=10, subclusters=20, l3_cuts=30, apus=40, input_aligners=50)
    assert (a + b).as_tuple() == (11, 22, 33, 44, 55)
    assert sum([a, b, a], Resources.zeros()) == Resources.from_tuple((12, 24, 36, 48, 60))
    assert sum([a, b]) == a + b
    assert (b - a).as_tuple() == (9, 18, 27, 36, 45)
    assert 3 * a == a * 3 == Resources.from_tuple((3, 6, 9, 12, 15))
    assert a <= b and a < b and b >= a and b > a and not b <= a
    assert not (Resources(lcus=2) <= Resources(subclusters=5))  # partial order
    assert a.as_dict() == dict(zip(RESOURCE_NAMES, (1, 2, 3, 4, 5), strict=True))


def test_over_lists_each_resource_over_its_limit_in_order():
    used = Resources(lcus=149, subclusters=326, l3_cuts=338, apus=149, input_aligners=149)
    limit = Resources(lcus=96, subclusters=384, l3_cuts=768, apus=120, input_aligners=192)
    assert used.over(limit) == [("lcus", 149, 96), ("apus", 149, 120)]
    assert format_over(used.over(limit)) == "LCUs: 149/96, APUs: 149/120"
    assert used.over(used) == []


# -- caps ----------------------------------------------------------------------------------------


def test_cap_limit_is_ceil_of_u_times_total():
    assert cap_limit(0.6, 128) == math.ceil(76.8) == 77
    assert cap_limit(0.75, 128) == 96  # exact product stays exact
    assert cap_limit(0.85, 512) == 436  # single-context ResNet-50's SCs
    assert cap_limit(1.2, 128) == 154  # control caps above 1 exist in the Model Zoo


def test_default_caps_on_hailo8_match_the_compiler_failure_line():
    # "SCs: 326/384, APUs: 149/120, IAs: 149/192, L3 weights: 138/768, LCUs: 149/96" at 75%
    assert limits(SINGLE_CONTEXT_CAPS, preset("hailo8")) == Resources(
        lcus=96, subclusters=384, l3_cuts=768, apus=120, input_aligners=192
    )
    # 60%: ceil(76.8), ceil(307.2), ceil(614.4), 96, ceil(153.6)
    assert limits(MULTI_CONTEXT_CAPS, preset("hailo8")) == Resources(
        lcus=77, subclusters=308, l3_cuts=615, apus=96, input_aligners=154
    )


def test_multi_context_caps_on_hailo8l():
    # ceil(0.6 x 64), ceil(0.6 x 256), ceil(0.6 x 512), ceil(0.6 x 80), ceil(0.6 x 128)
    assert limits(MULTI_CONTEXT_CAPS, preset("hailo8l")).as_tuple() == (39, 154, 308, 48, 77)


def test_caps_per_resource_override():
    caps = MULTI_CONTEXT_CAPS.with_cap("control", 1.1)
    assert limits(caps, preset("hailo8")).lcus == math.ceil(1.1 * 128)
    assert limits(caps, preset("hailo8")).subclusters == 308
    assert ResourceCaps.uniform(0.8).scaled(0.5) == ResourceCaps.uniform(0.4)


@pytest.mark.parametrize(("u", "pattern"), [(0.0, "outside"), (2.5, "outside"), ("x", "number")])
def test_bad_caps_are_named(u, pattern):
    with pytest.raises(HardwareSpecError, match=f"cap 'memory'.*{pattern}"):
        ResourceCaps.uniform(0.6).with_cap("memory", u)


def test_unknown_cap_name_lists_the_caps():
    with pytest.raises(HardwareSpecError, match="unknown cap 'weights'.*control, compute, memory"):
        MULTI_CONTEXT_CAPS.with_cap("weights", 0.5)


def test_toml_sets_fused_ops_and_extra_nodes(tmp_path):
    path = tmp_path / "fusion.toml"
    path.write_text(
        'base = "hailo8"\nfused_ops = ["activation", "add"]\n'
        "[extra_nodes_by_op]\nnorm = 4\nsoftmax = 3\n"
    )
    hw = load_hardware(str(path))
    assert hw.fused_ops == ("activation", "add")
    assert hw.extra_nodes_by_op == (("norm", 4), ("softmax", 3))


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ('base = "hailo8"\nfused_ops = ["gelu"]\n', r"'gelu' in fused_ops or extra_nodes_by_op"),
        ('base = "hailo8"\nfused_ops = "add"\n', r"'fused_ops' = 'add' must be a list of strings"),
        ('base = "hailo8"\n[extra_nodes_by_op]\nnorm = "x"\n', r"must be a table of integers"),
        ('base = "hailo8"\n[extra_nodes_by_op]\nnorm = -1\n', r"gives 'norm' -1 nodes"),
    ],
)
def test_bad_fusion_keys_are_named(tmp_path, text, pattern):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(HardwareSpecError, match=pattern):
        load_hardware(str(path))


def test_a_measured_link_is_labelled_with_its_rate(tmp_path, capsys):
    """A part whose link is given by its measured rate: the label and the PCIe line say that
    rate (they said the base's "PCIe Gen3 x4" and "0.00 GB/s")."""
    from partitioner.cli import main
    from tests.nets import conv_chain

    part = tmp_path / "slow.toml"
    part.write_text('base = "hailo8"\nname = "slow"\n[link]\nbytes_per_s = 2e6\n')
    model = tmp_path / "chain.json"
    conv_chain(3).save(model)
    assert main(["compile", str(model), "--hw", str(part), "--timeout", "2"]) == 0
    out = capsys.readouterr().out
    assert "FPS priced on the host link (PCIe Gen3 x4 at 2 MB/s (measured))" in out
    assert "2 MB/s; reload" in " ".join(out.split())
