"""The Layer IR and the Network graph: queries, validation, JSON round trip."""

from __future__ import annotations

import json

import pytest

from cost_model.layer import Layer, OpKind, Precision
from partitioner.errors import GraphError, ModelImportError
from partitioner.graph import Network
from tests.nets import conv


@pytest.fixture
def diamond():
    a = conv("a", "img", 3, 8, 16)
    b = conv("b", "a", 8, 8, 16)
    c = conv("c", "a", 8, 8, 16, k=1)
    d = Layer(
        name="d",
        op=OpKind.ADD,
        inputs=("b", "c"),
        input_shapes=((8, 16, 16), (8, 16, 16)),
        output_shape=(8, 16, 16),
    )
    return Network("diamond", [a, b, c, d], inputs={"img": (3, 16, 16)}, outputs=["d", "a"])


def test_queries(diamond):
    assert diamond.topological_order() == ("a", "b", "c", "d")
    assert diamond.predecessors("d") == ("b", "c")
    assert set(diamond.successors("a")) == {"b", "c"}
    # a feeds b and c and is also a graph output
    assert diamond.fan_out("a") == 3
    assert diamond.fan_out("img") == 1
    assert diamond.input_consumers("img") == ("a",)
    # params: a 8*3*9+8=224, b 8*8*9+8=584, c 8*8*1+8=72
    assert diamond.total_params == 224 + 584 + 72
    # MACs: a 8*256*27, b 8*256*72, c 8*256*8
    assert diamond.total_macs == 8 * 256 * (27 + 72 + 8)
    assert diamond.tensor_bytes("img") == 3 * 16 * 16
    assert diamond.tensor_bytes("d") == 8 * 16 * 16


def test_json_round_trip(diamond, tmp_path):
    path = tmp_path / "net.json"
    diamond.save(path)
    again = Network.load(path)
    assert again == diamond
    assert again.topological_order() == diamond.topological_order()
    assert json.loads(path.read_text())["schema"] == 1


def test_precision_changes_bytes(diamond):
    net = diamond.with_precision({"b": Precision.A8_W4, "c": Precision.A16_W16})
    assert net.layer("b").weight_bytes == 584 // 2  # 4-bit weights: half a byte each
    assert net.layer("c").weight_bytes == 72 * 2  # 16-bit weights
    assert net.layer("c").output_bytes == 2 * 8 * 16 * 16  # 16-bit activations
    assert net.layer("a") == diamond.layer("a")
    with pytest.raises(GraphError, match="no layer named 'zz'"):
        diamond.with_precision({"zz": Precision.A8_W4})


def test_rejects_bad_graphs():
    a = conv("a", "img", 3, 8, 16)
    with pytest.raises(GraphError, match="duplicate"):
        Network("n", [a, a], inputs={"img": (3, 16, 16)}, outputs=["a"])
    with pytest.raises(GraphError, match="'ghost'"):
        Network("n", [conv("a", "ghost", 3, 8, 16)], inputs={"img": (3, 16, 16)}, outputs=["a"])
    with pytest.raises(GraphError, match="graph output 'zz'"):
        Network("n", [a], inputs={"img": (3, 16, 16)}, outputs=["zz"])
    loop_a = conv("a", "b", 8, 8, 16)
    loop_b = conv("b", "a", 8, 8, 16)
    with pytest.raises(GraphError, match="cycle"):
        Network("n", [loop_a, loop_b], inputs={}, outputs=["a"])


def test_rejects_malformed_json():
    with pytest.raises(ModelImportError, match="not valid JSON"):
        Network.from_json("{nope")
    with pytest.raises(ModelImportError, match="not a ctxfit layer graph"):
        Network.from_json('{"layers": []}')
    with pytest.raises(ModelImportError, match="schema 7"):
        Network.from_json('{"kind": "ctxfit.network", "schema": 7}')
    bad = '{"kind": "ctxfit.network", "schema": 1, "inputs": {}, "outputs": [], '
    with pytest.raises(ModelImportError, match="malformed"):
        Network.from_json(bad + '"layers": [{"name": "a", "op": "warp"}]}')


def test_layer_validation():
    with pytest.raises(ValueError, match="2 inputs but 1"):
        Layer(
            name="x",
            op=OpKind.ADD,
            inputs=("a", "b"),
            input_shapes=((1,),),
            output_shape=(1,),
        )
    with pytest.raises(ValueError, match="empty output"):
        Layer(name="x", op=OpKind.ADD, inputs=(), input_shapes=(), output_shape=(0, 4))
