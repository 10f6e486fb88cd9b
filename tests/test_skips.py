"""Skip-connection buffers: the rows a join holds while a parallel path catches up
(cost_model/skips.py), their L3 bytes (``HardwareSpec.skip_buffers``) and the network's
annotation."""

from __future__ import annotations

import pytest

from cost_model.errors import HardwareSpecError
from cost_model.hardware import load_hardware, preset
from cost_model.layer import Layer, OpKind
from cost_model.lowering import input_buffer_bytes
from cost_model.skips import held_rows, own_lag
from partitioner.graph import Network


def conv(name: str, src: str, c: int, h: int, *, k: int = 3, s: int = 1, c_in: int | None = None):
    c_in = c_in or c
    h_in = h * s
    return Layer(name=name, op=OpKind.CONV, inputs=(src,), input_shapes=((c_in, h_in, h_in),),
                 output_shape=(c, h, h), kernel=(k, k), stride=(s, s),
                 params=c * c_in * k * k + c, macs=c * c_in * k * k * h * h)  # fmt: skip


def op_layer(name: str, op: OpKind, srcs: tuple[str, ...], shapes, out) -> Layer:
    """A layer without weights (resize, pool, add, concat, mul)."""
    return Layer(name=name, op=op, inputs=srcs, input_shapes=shapes, output_shape=out)


def global_pool(name: str, src: str) -> Layer:
    return op_layer(name, OpKind.GLOBAL_POOL, (src,), ((8, 16, 16),), (8, 1, 1))


def fpn() -> list[Layer]:
    """x (8x16x16) -> 3x3 stride 2 (8 rows) -> 3x3 (8 rows) -> upsample x2 -> concat with x."""
    return [
        conv("down", "x", 8, 8, s=2),
        conv("deep", "down", 8, 8),
        op_layer("up", OpKind.RESIZE, ("deep",), ((8, 8, 8),), (8, 16, 16)),
        op_layer("cat", OpKind.CONCAT, ("x", "up"), ((8, 16, 16), (8, 16, 16)), (16, 16, 16)),
    ]


def test_lags_of_the_layer_kinds():
    assert own_lag(conv("c", "x", 8, 16)) == 1 / 16  # 3 - 1 - 1 = 1 row of 16
    assert own_lag(conv("c", "x", 8, 8, s=2)) == 0.0  # 3 - 1 - 2 = 0
    assert own_lag(conv("c", "x", 8, 16, k=1)) == 0.0
    assert own_lag(conv("c", "x", 8, 16, k=5)) == 2 / 16
    assert own_lag(global_pool("g", "x")) == 1.0  # needs the whole map


def test_the_fpn_concat_holds_the_early_map_until_the_deep_path_catches_up():
    # the deep path lags 1 row of 8 = 1/8 frame: x waits 1/8 x 16 = 2 of its rows
    assert held_rows(fpn()) == {"cat": (2, 0)}


def test_a_whole_frame_lag_holds_the_whole_tensor():
    # squeeze-excitation: the global pool needs the whole map, so x waits all its 16 rows
    layers = [
        global_pool("gap", "x"),
        op_layer("scale", OpKind.MUL, ("x", "gap"), ((8, 16, 16), (8, 1, 1)), (8, 16, 16)),
    ]
    assert held_rows(layers) == {"scale": (16, 0)}


def test_inputs_that_arrive_together_hold_nothing():
    layers = [
        conv("a", "x", 8, 16, k=1),
        conv("b", "x", 8, 16, k=1),
        op_layer("add", OpKind.ADD, ("a", "b"), ((8, 16, 16), (8, 16, 16)), (8, 16, 16)),
    ]
    assert held_rows(layers) == {}


@pytest.mark.parametrize("on, x_bytes", [(False, 2 * 16 * 8), (True, 4 * 16 * 8)])
def test_held_rows_cost_l3_bytes_only_when_the_hardware_says_so(on, x_bytes):
    net = Network("fpn", fpn(), inputs={"x": (8, 16, 16)}, outputs=["cat"])
    cat = net.layer("cat")
    assert cat.held_rows == (2, 0)  # the network annotates its joins
    hw = preset("hailo8").with_params(skip_buffers=on, line_buffer_extra_rows=0)
    # a 1x1 join keeps 1 + 1 rows of each 16 x 8 B input; x keeps its 2 waiting rows too
    assert input_buffer_bytes(cat, hw) == (x_bytes, 2 * 16 * 8)


def test_the_annotation_is_derived_and_left_out_of_the_json_when_empty():
    net = Network("fpn", fpn(), inputs={"x": (8, 16, 16)}, outputs=["cat"])
    assert "held_rows" not in net.layer("deep").to_dict()
    data = net.layer("cat").to_dict()
    assert data["held_rows"] == [2, 0]
    assert Layer.from_dict(data) == net.layer("cat")
    with pytest.raises(ValueError, match="one count >= 0 per input"):
        Layer.from_dict({**data, "held_rows": [1]})


def test_a_hardware_file_turns_the_skip_buffers_on_and_refuses_a_non_boolean(tmp_path):
    on = tmp_path / "on.toml"
    on.write_text('base = "hailo8"\nname = "h8-skips"\nskip_buffers = true\n')
    assert load_hardware(str(on)).skip_buffers is True
    assert preset("hailo8").skip_buffers is False  # the calibrated choice
    bad = tmp_path / "bad.toml"
    bad.write_text('base = "hailo8"\nname = "h8-bad"\nskip_buffers = "yes"\n')
    with pytest.raises(HardwareSpecError, match="skip_buffers.*must be true or false"):
        load_hardware(str(bad))
