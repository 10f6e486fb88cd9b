"""The torch.fx importer and the graph builder: fusion, views, splits, attention, metrics, errors.

Expected params and MACs are derived by hand from named dimensions, one comment per term.
"""

from __future__ import annotations

import math
import operator
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from torch import fx, nn

from cost_model.layer import OpKind
from partitioner.errors import ModelImportError, ModelNotFoundError, UnsupportedOperatorError
from partitioner.graph import Network
from partitioner.importers import GraphBuilder, import_module, load_factory, torch_fx


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def summary(net: Network) -> list[tuple]:
    return [(layer.name, layer.op, layer.activation) for layer in net]


def line_of(marker: str) -> int:
    """1-based line of this file that contains ``marker`` in code (not in this helper)."""
    lines = Path(__file__).read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if marker in text and "line_of" not in text)


# -- fusion ----------------------------------------------------------------------------------------
def test_conv_bn_relu_is_one_layer_with_hand_derived_metrics():
    c_in, c_out, h, w, k = 3, 16, 32, 32, 3
    model = nn.Sequential(
        nn.Conv2d(c_in, c_out, k, stride=2, padding=1), nn.BatchNorm2d(c_out), nn.ReLU()
    )
    net = import_module(model, (1, c_in, h, w), name="cbr")
    (layer,) = net.layers
    h_out, w_out = h // 2, w // 2  # stride 2, padding 1, kernel 3
    assert layer.name == "0"
    assert layer.op is OpKind.CONV and layer.activation == "relu"
    assert layer.fused == ("1", "2")
    assert layer.inputs == ("input",) and layer.input_shapes == ((c_in, h, w),)
    assert layer.output_shape == (c_out, h_out, w_out)
    assert (layer.kernel, layer.stride, layer.groups) == ((k, k), (2, 2), 1)
    assert layer.params == (
        c_out * c_in * k * k  # conv weights
        + c_out  # conv bias
        + 2 * c_out  # batch-norm gamma and beta
    )
    assert layer.macs == c_out * h_out * w_out * c_in * k * k
    assert net.inputs == {"input": (c_in, h, w)} and net.outputs == ("0",)
    assert net.total_params == n_params(model)


class TwoReaders(nn.Module):
    """conv -> relu and conv -> add: the conv output has two readers, so relu stays a layer."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1, bias=False)
        self.relu = nn.ReLU()

    def forward(self, x):
        y = self.conv(x)
        return self.relu(y) + y


def test_activation_after_a_fanned_out_conv_is_not_fused():
    net = import_module(TwoReaders(), (1, 4, 8, 8), name="fan")
    assert summary(net) == [
        ("conv", OpKind.CONV, None),
        ("relu", OpKind.ACTIVATION, "relu"),
        ("add", OpKind.ADD, None),
    ]
    assert net.layer("add").inputs == ("relu", "conv")
    assert net.fan_out("conv") == 2


class SiluByHand(nn.Module):
    def __init__(self, extra_reader: bool):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.extra_reader = extra_reader

    def forward(self, x):
        y = self.bn(self.conv(x))
        s = torch.sigmoid(y)
        out = y * s
        if self.extra_reader:  # a python flag, fixed at trace time
            out = out + s
        return out


def test_x_times_sigmoid_x_fuses_as_silu():
    net = import_module(SiluByHand(False), (1, 3, 8, 8), name="silu")
    (layer,) = net.layers
    assert (layer.op, layer.activation) == (OpKind.CONV, "silu")
    assert layer.fused == ("bn", "sigmoid", "mul")
    assert layer.params == 8 * 3 * 3 * 3 + 8 + 2 * 8  # weights + bias + bn affine


def test_sigmoid_read_twice_keeps_the_mul_a_layer():
    net = import_module(SiluByHand(True), (1, 3, 8, 8), name="silu2")
    assert summary(net) == [
        ("conv", OpKind.CONV, None),
        ("sigmoid", OpKind.ACTIVATION, "sigmoid"),
        ("mul", OpKind.MUL, None),
        ("add", OpKind.ADD, None),
    ]


class GeluByHand(nn.Module):
    def __init__(self, form: str):
        super().__init__()
        self.fc = nn.Linear(16, 32)
        self.out = nn.Linear(32, 16)
        self.form = form

    def forward(self, x):
        x = self.fc(x)
        if self.form == "erf":
            x = 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
        else:
            x = 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x.pow(3))))
        return self.out(x)


@pytest.mark.parametrize("form", ["erf", "tanh"])
def test_decomposed_gelu_fuses_into_the_dense(form):
    tokens, d_in, d_hidden = 10, 16, 32
    net = import_module(GeluByHand(form), (1, tokens, d_in), name="gelu")
    assert summary(net) == [("fc", OpKind.DENSE, "gelu"), ("out", OpKind.DENSE, None)]
    assert net.layer("fc").macs == tokens * d_in * d_hidden
    assert net.layer("out").input_shapes == ((tokens, d_hidden),)


class ChainedActivations(nn.Module):
    """gelu then hardswish, both written out: two activations, not one merged blob."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 1)

    def forward(self, x):
        x = self.conv(x)
        x = 0.5 * x * (1.0 + torch.erf(x / math.sqrt(2.0)))
        return x * F.relu6(x + 3) / 6


def test_written_out_activations_in_a_row_stay_separate():
    net = import_module(ChainedActivations(), (1, 2, 4, 4), name="acts")
    assert [(op, act) for _, op, act in summary(net)] == [
        (OpKind.CONV, "gelu"),
        (OpKind.ACTIVATION, "hardswish"),
    ]


def test_depthwise_conv_is_dwconv_and_grouped_conv_is_conv():
    c, h, w, k = 8, 10, 10, 3
    model = nn.Sequential(
        nn.Conv2d(c, c, k, padding=1, groups=c, bias=False),  # depthwise
        nn.Conv2d(c, 2 * c, k, padding=1, groups=2, bias=False),  # grouped, not depthwise
    )
    net = import_module(model, (1, c, h, w), name="dw")
    dw, grouped = net.layers
    assert (dw.op, dw.groups) == (OpKind.DWCONV, c)
    assert dw.macs == c * h * w * (c // c) * k * k  # C_out * H * W * (C_in / groups) * k * k
    assert dw.params == c * 1 * k * k
    assert (grouped.op, grouped.groups) == (OpKind.CONV, 2)
    assert grouped.macs == 2 * c * h * w * (c // 2) * k * k


def test_deconv_and_conv1d_macs():
    c_in, c_out, h, w, k = 6, 4, 5, 7, 2
    deconv = nn.ConvTranspose2d(c_in, c_out, k, stride=2)
    (layer,) = import_module(deconv, (1, c_in, h, w), name="up").layers
    assert layer.op is OpKind.DECONV
    assert layer.output_shape == (c_out, 2 * h, 2 * w)
    assert layer.macs == c_in * h * w * c_out * k * k  # C_in * H_in * W_in * (C_out/g) * k * k
    assert layer.params == c_in * c_out * k * k + c_out  # weights + bias

    length, k1 = 20, 5
    conv1d = nn.Conv1d(c_in, c_out, k1)
    (layer,) = import_module(conv1d, (1, c_in, length), name="c1d").layers
    l_out = length - k1 + 1
    assert layer.kernel == (1, k1) and layer.output_shape == (c_out, l_out)
    assert layer.macs == c_out * l_out * c_in * k1


# -- views, constants, pads, pooling -----------------------------------------------------------
class ViewsOnly(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.drop = nn.Dropout(0.1)
        self.ident = nn.Identity()
        self.fc = nn.Linear(4 * 6 * 6, 10)

    def forward(self, x):
        y = self.conv(x).contiguous()
        y = self.ident(self.drop(y)).unsqueeze(1).squeeze(1)
        n = y.size(0)
        y = y.view(n, -1)
        return self.fc(torch.flatten(y.reshape(n, 4, 36), 1))


def test_reshape_like_ops_are_not_layers():
    net = import_module(ViewsOnly(), (1, 3, 6, 6), name="views")
    assert summary(net) == [("conv", OpKind.CONV, None), ("fc", OpKind.DENSE, None)]
    fc = net.layer("fc")
    assert fc.inputs == ("conv",) and fc.input_shapes == ((4 * 6 * 6,),)
    assert fc.macs == 1 * 144 * 10  # tokens * in * out


class Constants(nn.Module):
    """Scalars and buffers fold away; a learned tensor as large as the activation is an ADD."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.pos = nn.Parameter(torch.zeros(1, 5, 8))
        self.gamma = nn.Parameter(torch.ones(8))
        self.register_buffer("offset", torch.ones(8))

    def forward(self, x):
        x = self.fc(x) * 2.0 - self.offset
        x = x * self.gamma
        return x + self.pos


def test_scalars_buffers_and_layer_scales_fold_but_position_embeddings_add():
    model = Constants()
    net = import_module(model, (1, 5, 8), name="consts")
    assert summary(net) == [("fc", OpKind.DENSE, None), ("add", OpKind.ADD, None)]
    assert net.layer("fc").params == 8 * 8 + 8 + 8  # weights + bias + folded gamma
    assert net.layer("add").params == 5 * 8  # the position embedding
    assert net.layer("add").inputs == ("fc",)
    assert net.total_params == n_params(model)


def test_pad_folds_into_a_conv_but_not_into_a_pool():
    c, h = 3, 8
    conv_model = nn.Sequential(nn.ZeroPad2d(1), nn.Conv2d(c, c, 3, bias=False))
    (conv,) = import_module(conv_model, (1, c, h, h), name="pc").layers
    assert conv.op is OpKind.CONV and conv.input_shapes == ((c, h, h),)
    assert conv.macs == c * h * h * c * 3 * 3

    pool_model = nn.Sequential(nn.ZeroPad2d((0, 1, 0, 1)), nn.MaxPool2d(2))
    net = import_module(pool_model, (1, c, h, h), name="pp")
    assert [layer.op for layer in net] == [OpKind.PAD, OpKind.MAXPOOL]
    assert net.layer("1").input_shapes == ((c, h + 1, h + 1),)


@pytest.mark.parametrize(
    ("pool", "expected"),
    [
        (nn.AdaptiveAvgPool2d(1), [OpKind.GLOBAL_POOL]),
        (nn.AdaptiveMaxPool2d((1, 1)), [OpKind.GLOBAL_POOL]),
        (nn.AdaptiveAvgPool2d((8, 8)), []),  # output == input: identity
        (nn.AdaptiveAvgPool2d((4, 4)), [OpKind.AVGPOOL]),
    ],
)
def test_adaptive_pooling(pool, expected):
    model = nn.Sequential(nn.Conv2d(3, 4, 1), pool)
    net = import_module(model, (1, 3, 8, 8), name="ap")
    assert [layer.op for layer in net][1:] == expected


class SqueezeExcite(nn.Module):
    def __init__(self, c: int = 16, r: int = 4):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.fc1 = nn.Conv2d(c, c // r, 1)
        self.fc2 = nn.Conv2d(c // r, c, 1)

    def forward(self, x):
        y = self.conv(x)
        s = y.mean((2, 3), keepdim=True)
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))
        return y * s


def test_squeeze_excite_mean_is_global_pool_and_mul_is_a_layer():
    model = SqueezeExcite()
    net = import_module(model, (1, 16, 12, 12), name="se")
    assert summary(net) == [
        ("conv", OpKind.CONV, None),
        ("mean", OpKind.GLOBAL_POOL, None),
        ("fc1", OpKind.CONV, "relu"),
        ("fc2", OpKind.CONV, "sigmoid"),
        ("mul", OpKind.MUL, None),
    ]
    assert net.layer("mean").kernel == (12, 12)
    assert net.layer("mul").input_shapes == ((16, 12, 12), (16, 1, 1))
    assert net.total_params == n_params(model)


# -- splits, concat, transposes --------------------------------------------------------------------
class SplitConcat(nn.Module):
    def __init__(self):
        super().__init__()
        self.cv1 = nn.Conv2d(3, 8, 1)
        self.m = nn.Conv2d(4, 4, 3, padding=1)
        self.cv2 = nn.Conv2d(12, 6, 1)

    def forward(self, x):
        a, b = self.cv1(x).chunk(2, 1)
        c = self.m(b)
        edge = c[:, :, 1:]
        return self.cv2(torch.cat([a, b, c], 1)), edge


def test_chunk_is_one_split_layer_and_slices_are_splits():
    net = import_module(SplitConcat(), (1, 3, 6, 6), name="c2f")
    assert summary(net) == [
        ("cv1", OpKind.CONV, None),
        ("chunk", OpKind.SPLIT, None),
        ("m", OpKind.CONV, None),
        ("getitem_2", OpKind.SPLIT, None),
        ("cat", OpKind.CONCAT, None),
        ("cv2", OpKind.CONV, None),
    ]
    split = net.layer("chunk")
    assert split.output_shape == (8, 6, 6)  # the whole input
    assert net.layer("m").input_shapes == ((4, 6, 6),)  # the part it reads
    cat = net.layer("cat")
    assert cat.inputs == ("chunk", "chunk", "m")
    assert cat.input_shapes == ((4, 6, 6), (4, 6, 6), (4, 6, 6))
    assert cat.output_shape == (12, 6, 6)
    edge = net.layer("getitem_2")
    assert edge.output_shape == (4, 6, 6) and edge.input_shapes == ((4, 6, 6),)
    assert net.outputs == ("cv2", "getitem_2")
    assert net.layer("cv2").input_shapes == ((12, 6, 6),)


class Transposes(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 2, stride=2)
        self.norm = nn.LayerNorm(8)

    def forward(self, x):
        t = self.conv(x).flatten(2).transpose(1, 2)  # (N, C, H*W) -> (N, H*W, C): layout only
        t = self.norm(t)
        return t + t.transpose(1, 2).transpose(1, 2).permute(0, 2, 1).permute(0, 2, 1)


def test_layout_transposes_vanish_and_data_transposes_stay():
    net = import_module(Transposes(), (1, 3, 8, 8), name="tr")
    ops = [layer.op for layer in net]
    assert ops[:2] == [OpKind.CONV, OpKind.NORM]
    assert net.layer("norm").input_shapes == ((16, 8),)
    # tokens (16, 8) transposed to (8, 16) feed another transpose, then an add: data moves
    assert ops.count(OpKind.TRANSPOSE) == 4 and ops[-1] is OpKind.ADD


# -- attention -------------------------------------------------------------------------------------
class TimmAttention(nn.Module):
    """timm's ViT attention, batch moved to dim 1 by the qkv permute."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads, self.head_dim = heads, dim // heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        attn = (q @ k.transpose(-2, -1) * self.head_dim**-0.5).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, c))


def test_attention_block_layers_and_macs():
    tokens, dim, heads = 10, 32, 4
    head_dim = dim // heads
    model = TimmAttention(dim, heads)
    net = import_module(model, (1, tokens, dim), name="attn")
    assert summary(net) == [
        ("qkv", OpKind.DENSE, None),
        ("unbind", OpKind.SPLIT, None),
        ("matmul", OpKind.MATMUL, None),
        ("softmax", OpKind.SOFTMAX, None),
        ("matmul_1", OpKind.MATMUL, None),
        ("proj", OpKind.DENSE, None),
    ]
    scores, context = net.layer("matmul"), net.layer("matmul_1")
    assert scores.inputs == ("unbind", "unbind")
    assert scores.output_shape == (heads, tokens, tokens)
    assert scores.macs == heads * tokens * head_dim * tokens  # batch * M * K * N
    assert context.macs == heads * tokens * tokens * head_dim
    assert net.layer("qkv").macs == tokens * dim * 3 * dim
    assert net.layer("proj").input_shapes == ((tokens, dim),)
    assert net.total_params == n_params(model)
    assert net.total_macs == (
        tokens * dim * 3 * dim  # qkv projection
        + 2 * heads * tokens * tokens * head_dim  # q k^T and attn v
        + tokens * dim * dim  # output projection
    )


class Sdpa(nn.Module):
    def forward(self, x):  # x: (B, heads, tokens, head_dim)
        return F.scaled_dot_product_attention(x, x, x)


def test_scaled_dot_product_attention_is_matmul_softmax_matmul():
    heads, tokens, head_dim = 2, 6, 4
    net = import_module(Sdpa(), (1, heads, tokens, head_dim), name="sdpa")
    assert [layer.op for layer in net] == [OpKind.MATMUL, OpKind.SOFTMAX, OpKind.MATMUL]
    assert net.total_macs == 2 * heads * tokens * tokens * head_dim


class TinyViT(nn.Module):
    """Patch conv, class token, position embedding, nn.MultiheadAttention, MLP, head."""

    def __init__(self, dim: int = 16, heads: int = 2, patch: int = 4, side: int = 8):
        super().__init__()
        tokens = (side // patch) ** 2 + 1
        self.patch = nn.Conv2d(3, dim, patch, patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(torch.zeros(1, tokens, dim))
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.fc1 = nn.Linear(dim, 2 * dim)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(2 * dim, dim)
        self.head = nn.Linear(dim, 3)

    def forward(self, x):
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        y = self.norm(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        x = x + self.fc2(self.act(self.fc1(x)))
        return self.head(x[:, 0])


def test_tiny_vit_class_token_position_embedding_and_multihead_attention():
    dim, heads, tokens = 16, 2, 5
    model = TinyViT()
    net = import_module(model, (1, 3, 8, 8), name="vit")
    assert summary(net) == [
        ("patch", OpKind.CONV, None),
        ("cat", OpKind.CONCAT, None),
        ("add", OpKind.ADD, None),
        ("norm", OpKind.NORM, None),
        ("attn.in_proj", OpKind.DENSE, None),
        ("attn.split", OpKind.SPLIT, None),
        ("attn.qk", OpKind.MATMUL, None),
        ("attn.softmax", OpKind.SOFTMAX, None),
        ("attn.av", OpKind.MATMUL, None),
        ("attn.out_proj", OpKind.DENSE, None),
        ("add_1", OpKind.ADD, None),
        ("fc1", OpKind.DENSE, "gelu"),
        ("fc2", OpKind.DENSE, None),
        ("add_2", OpKind.ADD, None),
        ("getitem_2", OpKind.SPLIT, None),
        ("head", OpKind.DENSE, None),
    ]
    assert net.layer("cat").params == dim  # class token
    assert net.layer("cat").input_shapes == ((tokens - 1, dim),)  # patches as tokens, no transpose
    assert net.layer("add").params == tokens * dim  # position embedding
    assert net.layer("attn.in_proj").params == 3 * dim * dim + 3 * dim
    assert net.layer("attn.qk").macs == heads * tokens * tokens * (dim // heads)
    assert net.layer("head").input_shapes == ((dim,),)
    assert net.total_params == n_params(model)


# -- the parameter invariant on torchvision-like networks ----------------------------------------
class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class TinyResNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = nn.Sequential(BasicBlock(8, 8, 1), BasicBlock(8, 16, 2))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer1(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class InvertedResidual(nn.Module):
    def __init__(self, c: int, expand: int):
        super().__init__()
        hidden = c * expand
        self.conv = nn.Sequential(
            nn.Conv2d(c, hidden, 1, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, hidden, 3, 1, 1, groups=hidden, bias=False),
            nn.BatchNorm2d(hidden),
            nn.ReLU6(inplace=True),
            nn.Conv2d(hidden, c, 1, bias=False),
            nn.BatchNorm2d(c),
        )

    def forward(self, x):
        return x + self.conv(x)


class ConvNeXtBlock(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1 = nn.Linear(dim, 4 * dim)
        self.act = nn.GELU()
        self.pwconv2 = nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(1e-6 * torch.ones(dim))

    def forward(self, x):
        y = self.dwconv(x).permute(0, 2, 3, 1)  # (N, C, H, W) -> (N, H, W, C)
        y = self.gamma * self.pwconv2(self.act(self.pwconv1(self.norm(y))))
        return x + y.permute(0, 3, 1, 2)


class TinyUNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.down = nn.Conv2d(3, 8, 3, 2, 1)
        self.up = nn.ConvTranspose2d(8, 4, 2, 2)
        self.side = nn.Conv2d(3, 4, 3, padding=1)
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        u = self.up(F.relu(self.down(x)))
        s = F.interpolate(F.pad(self.side(x), (1, 1, 1, 1)), size=(16, 16), mode="nearest")
        return self.head(torch.cat([u, s], 1))


def small_models() -> list[tuple[nn.Module, tuple[int, ...]]]:
    """Fresh instances of the small architectures above, with their input shapes."""
    return [
        (TinyResNet(), (1, 3, 32, 32)),
        (InvertedResidual(8, 6), (1, 8, 10, 10)),
        (ConvNeXtBlock(16), (1, 16, 7, 7)),
        (TinyUNet(), (1, 3, 16, 16)),
        (TinyViT(), (1, 3, 8, 8)),
        (TimmAttention(24, 3), (1, 7, 24)),
    ]


@pytest.mark.parametrize(
    ("model", "shape"),
    small_models(),
    ids=["resnet", "mobilenet_v2_block", "convnext_block", "unet", "vit", "timm_attention"],
)
def test_parameter_invariant(model, shape):
    net = import_module(model, shape, name=type(model).__name__)
    assert net.total_params == n_params(model)
    assert len({layer.name for layer in net}) == len(net)  # unique names


def test_tiny_resnet_layers_and_macs():
    net = import_module(TinyResNet(), (1, 3, 32, 32), name="resnet")
    ops = [layer.op for layer in net]
    assert ops.count(OpKind.CONV) == 6  # stem + 2 x 2 block convs + 1 downsample
    assert ops.count(OpKind.ADD) == 2 and ops.count(OpKind.ACTIVATION) == 2  # relu after add
    assert net.layer("layer1.1.downsample.0").fused == ("layer1.1.downsample.1",)
    # reused nn.ReLU module instance: names made unique
    assert net.layer("layer1.0.relu_1").inputs == ("layer1.0.add",)
    assert net.total_macs == (
        8 * 16 * 16 * 3 * 7 * 7  # stem conv 7x7 /2
        + 2 * 8 * 8 * 8 * 8 * 3 * 3  # block 1: two 3x3 convs at 8x8
        + 16 * 4 * 4 * 8 * 3 * 3  # block 2 conv1 3x3 /2
        + 16 * 4 * 4 * 16 * 3 * 3  # block 2 conv2 3x3
        + 16 * 4 * 4 * 8  # block 2 downsample 1x1 /2
        + 16 * 10  # fc
    )


def test_convnext_permutes_are_layout_changes_and_gamma_folds():
    dim, h = 16, 7
    net = import_module(ConvNeXtBlock(dim), (1, dim, h, h), name="convnext")
    assert summary(net) == [
        ("dwconv", OpKind.DWCONV, None),
        ("norm", OpKind.NORM, None),
        ("pwconv1", OpKind.DENSE, "gelu"),
        ("pwconv2", OpKind.DENSE, None),
        ("add", OpKind.ADD, None),
    ]
    assert net.layer("pwconv2").params == 4 * dim * dim + dim + dim  # weights + bias + gamma
    assert net.layer("pwconv1").macs == h * h * dim * 4 * dim  # tokens * in * out


# -- errors ----------------------------------------------------------------------------------------
class WithFft(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 1)

    def forward(self, x):
        y = torch.fft.fft2(self.conv(x))  # FFT_MARKER
        return y.real


def test_unsupported_operator_names_op_node_and_line():
    with pytest.raises(UnsupportedOperatorError) as info:
        import_module(WithFft(), (1, 1, 4, 4), name="fft")
    message = str(info.value)
    line = line_of("FFT_MARKER")
    assert message.startswith("unsupported operator torch.fft.fft2 at node 'fft_fft2' (")
    assert f"test_torch_import.py:{line}: y = torch.fft.fft2(self.conv(x))" in message
    assert message.endswith("ctxfit cannot price it — replace it or cut the graph before it")


class Segmenter(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.scores = nn.Conv2d(4, 21, 1)
        self.dim = dim

    def forward(self, x):
        return self.scores(x).argmax(self.dim, keepdim=True)


def test_argmax_over_the_channels_is_one_layer_of_one_index_per_pixel():
    net = import_module(Segmenter(1), (1, 4, 6, 8), name="seg")
    argmax = net.layer("argmax")
    assert (argmax.op, argmax.inputs) == (OpKind.ARGMAX, ("scores",))
    assert argmax.output_shape == (1, 6, 8)
    assert argmax.output_bytes == 6 * 8 and net.total_params == 4 * 21 + 21


def test_argmax_over_the_width_is_not_priced():
    with pytest.raises(UnsupportedOperatorError, match=r"an argmax over per-frame dims \[2\]"):
        import_module(Segmenter(3), (1, 4, 6, 8), name="seg")


class WithLstm(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 4, batch_first=True)

    def forward(self, x):
        return self.lstm(x)[0]


def test_unsupported_module_is_named():
    with pytest.raises(UnsupportedOperatorError, match=r"torch\.nn\.LSTM at node 'lstm'"):
        import_module(WithLstm(), (1, 3, 4), name="lstm")


class DataDependent(nn.Module):
    def forward(self, x):
        if x.sum() > 0:
            return x * 2
        return x


def test_trace_failure_names_the_class_and_suggests_a_fix():
    with pytest.raises(ModelImportError) as info:
        import_module(DataDependent(), (1, 3, 4, 4), name="dd")
    message = str(info.value)
    assert "cannot trace DataDependent" in message
    assert "control flow" in message and "torch.where" in message


def test_batch_other_than_one_is_an_error():
    with pytest.raises(ModelImportError, match=r"batch 2.*\(1, 3, 8, 8\)"):
        import_module(nn.Conv2d(3, 4, 1), (2, 3, 8, 8), name="b2")
    with pytest.raises(ModelImportError, match="positive ints"):
        import_module(nn.Conv2d(3, 4, 1), (1, 3, 0, 8), name="zero")


def test_forward_failing_on_the_shape_names_the_shape():
    with pytest.raises(ModelImportError) as info:
        import_module(nn.Conv2d(3, 4, 1), (1, 5, 8, 8), name="wrong")
    assert "on an input of shape (1, 5, 8, 8)" in str(info.value)
    assert "pass the input shape the model expects" in str(info.value)


def test_import_restores_training_mode():
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4))
    model.train()
    import_module(model, (1, 3, 4, 4), name="mode")
    assert model.training


FACTORY_FILE = """
import torch
from torch import nn
from dataclasses import dataclass

@dataclass
class Config:
    width: int = 4

def build(width=4):
    return nn.Sequential(nn.Conv2d(3, width, 3), nn.ReLU())

def broken():
    raise RuntimeError("weights missing")

def not_a_module():
    return {"conv": 1}
"""


def test_load_factory(tmp_path):
    path = tmp_path / "net.py"
    path.write_text(FACTORY_FILE)
    model = load_factory(f"{path}:build")(width=6)
    net = import_module(model, (1, 3, 8, 8), name="factory")
    assert summary(net) == [("0", OpKind.CONV, "relu")]
    assert net.total_params == 6 * 3 * 3 * 3 + 6

    with pytest.raises(ModelImportError, match=r"raised RuntimeError: weights missing"):
        load_factory(f"{path}:broken")()
    with pytest.raises(ModelImportError, match=r"returned a dict, not a torch\.nn\.Module"):
        load_factory(f"{path}:not_a_module")()
    with pytest.raises(ModelNotFoundError, match=r"defines no function 'nope'.*'build'"):
        load_factory(f"{path}:nope")
    with pytest.raises(ModelNotFoundError, match="no file"):
        load_factory(f"{tmp_path / 'missing.py'}:build")
    with pytest.raises(ModelNotFoundError, match="FILE.py:FUNCTION"):
        load_factory(str(path))

    bad = tmp_path / "bad.py"
    bad.write_text("def build(:\n")
    with pytest.raises(ModelImportError, match=r"importing .*bad\.py.* failed: SyntaxError"):
        load_factory(f"{bad}:build")


# -- JSON round trip ------------------------------------------------------------------------------
def test_json_round_trip_of_an_imported_network(tmp_path):
    net = import_module(TinyViT(), (1, 3, 8, 8), name="vit")
    assert Network.from_json(net.to_json()) == net
    net.save(tmp_path / "vit.json")
    loaded = Network.load(tmp_path / "vit.json")
    assert loaded == net and loaded.total_macs == net.total_macs


# -- the builder on its own -----------------------------------------------------------------------
def test_builder_batch_norm_without_conv_is_norm_and_second_activation_stays():
    b = GraphBuilder("g")
    x = b.input("x", (4, 8, 8))
    y = b.batch_norm("bn", x, params=8)
    y = b.conv("conv", y, out_shape=(4, 8, 8), kernel=1, params=20)
    y = b.activation("relu", y, "relu")
    y = b.activation("relu", y, "sigmoid")  # same name: made unique
    b.mark_output(y)
    net = b.build()
    assert summary(net) == [
        ("bn", OpKind.AFFINE, None),
        ("conv", OpKind.CONV, "relu"),
        ("relu_1", OpKind.ACTIVATION, "sigmoid"),
    ]
    assert net.total_params == 28


def test_builder_output_read_conv_keeps_its_activation_separate():
    b = GraphBuilder("g")
    x = b.input("x", (2, 4, 4))
    y = b.conv("conv", x, out_shape=(2, 4, 4), kernel=1, params=6)
    b.mark_output(y)
    b.mark_output(b.activation("act", y, "relu"))
    net = b.build()
    assert summary(net) == [("conv", OpKind.CONV, None), ("act", OpKind.ACTIVATION, "relu")]
    assert net.outputs == ("conv", "act")


def test_builder_learned_scale_on_the_input_is_a_mul_layer_and_dead_code_is_dropped():
    b = GraphBuilder("g")
    x = b.input("x", (3, 4, 4))
    y = b.affine("scale", x, params=3)
    b.conv("unused", y, out_shape=(3, 4, 4), kernel=1, params=12)
    b.mark_output(b.conv("conv", y, out_shape=(5, 4, 4), kernel=1, params=20))
    net = b.build()
    assert summary(net) == [("scale", OpKind.MUL, None), ("conv", OpKind.CONV, None)]
    assert net.total_params == 23


def test_builder_rejects_an_identity_network_and_foreign_refs():
    b = GraphBuilder("g")
    x = b.input("x", (3,))
    b.mark_output(x)
    with pytest.raises(ModelImportError, match="returns its input 'x' unchanged"):
        b.build()
    other = GraphBuilder("h").input("y", (3,))
    with pytest.raises(Exception, match="not produced by this builder"):
        GraphBuilder("i").activation("a", other, "relu")


class StdConv(nn.Conv2d):
    """A user subclass with its own forward (timm's StdConv2d): traced through to F.conv2d."""

    def forward(self, x):
        w = self.weight - self.weight.mean(dim=(1, 2, 3), keepdim=True)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


class FunctionalNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = StdConv(4, 4, 3, padding=2, dilation=2, groups=4, bias=False)
        self.weight = nn.Parameter(torch.zeros(6, 4))
        self.bias = nn.Parameter(torch.zeros(6))

    def forward(self, x):
        y = F.relu(self.conv(x)).flatten(2).transpose(1, 2)
        return F.linear(y, self.weight, self.bias)


def test_functional_conv_and_linear_with_parameters_from_get_attr():
    c, h = 4, 5
    model = FunctionalNet()
    net = import_module(model, (1, c, h, h), name="functional")
    assert summary(net) == [("conv.conv2d", OpKind.DWCONV, "relu"), ("linear", OpKind.DENSE, None)]
    conv = net.layer("conv.conv2d")
    assert (conv.kernel, conv.dilation, conv.groups) == ((3, 3), (2, 2), c)
    assert conv.params == c * 1 * 3 * 3  # depthwise weights, no bias
    assert conv.macs == c * h * h * 1 * 3 * 3
    linear = net.layer("linear")
    assert linear.input_shapes == ((h * h, c),)
    assert linear.macs == h * h * c * 6  # tokens * in * out
    assert net.total_params == n_params(model)


@pytest.mark.parametrize(
    ("act", "name"),
    [
        (nn.ReLU(), "relu"),
        (nn.ReLU6(), "relu6"),
        (nn.SiLU(), "silu"),
        (nn.GELU(), "gelu"),
        (nn.Sigmoid(), "sigmoid"),
        (nn.Hardswish(), "hardswish"),
        (nn.Hardsigmoid(), "hardsigmoid"),
        (nn.LeakyReLU(0.1), "leaky_relu"),
        (nn.Tanh(), "tanh"),
    ],
)
def test_activation_modules_fuse_into_the_conv(act, name):
    model = nn.Sequential(nn.Conv2d(2, 3, 1), nn.BatchNorm2d(3), act, nn.Dropout(0.2))
    (layer,) = import_module(model, (1, 2, 4, 4), name="act").layers
    assert (layer.op, layer.activation, layer.fused) == (OpKind.CONV, name, ("1", "2"))


class TensorOps(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)
        self.up = nn.Upsample(scale_factor=2)
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x):
        y = self.conv(x)
        a, b = torch.split(y, [2, 6], dim=1)
        d = (a - b[:, :2]) / (b[:, 2:4] + 1.0)
        m = torch.bmm(d.flatten(2), d.flatten(2).transpose(1, 2))  # (2, 2): K = 16
        return self.up(d), self.softmax(m)


def test_tensor_arithmetic_split_bmm_resize_softmax():
    net = import_module(TensorOps(), (1, 3, 4, 4), name="ops")
    assert summary(net) == [
        ("conv", OpKind.CONV, None),
        ("split", OpKind.SPLIT, None),
        ("getitem_2", OpKind.SPLIT, None),
        ("sub", OpKind.ADD, None),
        ("truediv", OpKind.MUL, None),
        ("bmm", OpKind.MATMUL, None),
        ("up", OpKind.RESIZE, None),
        ("softmax", OpKind.SOFTMAX, None),
    ]
    assert net.layer("split").output_shape == (8, 4, 4)
    # b[:, :2] and b[:, 2:4] slice the same tensor: one split layer; the + 1.0 folds into it
    assert net.layer("getitem_2").inputs == ("split",)
    assert net.layer("getitem_2").fused == ("getitem_3", "add")
    assert net.layer("truediv").inputs == ("sub", "getitem_2")
    assert net.layer("bmm").macs == 2 * 16 * 2  # M * K * N
    assert net.layer("up").output_shape == (2, 8, 8)


class TwoInputs(nn.Module):
    def forward(self, x, y, scale=2.0):
        return x * y * scale


class DefaultArgs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x, mask=None, scale=2.0):
        return self.conv(x) * scale


def test_forward_with_two_required_inputs_is_an_error_but_defaults_are_fine():
    with pytest.raises(ModelImportError, match=r"takes 2 inputs \(x, y\).*single-input"):
        import_module(TwoInputs(), (1, 3, 4, 4), name="two")
    net = import_module(DefaultArgs(), (1, 3, 4, 4), name="defaults")
    assert summary(net) == [("conv", OpKind.CONV, None)]
    assert net.inputs == {"x": (3, 4, 4)}


# -- the shape pass: meta tensors and shape rules first, fake then real tensors as fallbacks -------
class HookedConv(nn.Module):
    """A forward hook that keeps half the channels: the conv's shape rule must not skip it."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.conv.register_forward_hook(lambda module, args, out: out[:, :2])
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv(x))


class MakesTensors(nn.Module):
    """Builds a CPU tensor in forward; the meta pass moves it to meta where an op reads it."""

    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(6, 6)

    def forward(self, x):  # x: (B, tokens, 6)
        positions = torch.arange(x.shape[1]).float()
        return self.proj(x) + positions[:, None]


class CopiesToCpu(nn.Module):
    """``.to("cpu")`` cannot copy a meta tensor out: the fake-tensor pass takes over."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.conv(x).to("cpu").mean((2, 3)))


@pytest.mark.parametrize(
    ("model", "shape"),
    [
        *small_models(),
        (TensorOps(), (1, 3, 4, 4)),
        (HookedConv(), (1, 3, 4, 4)),
        (MakesTensors(), (1, 5, 6)),
        (CopiesToCpu(), (1, 3, 8, 8)),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else "x".join(map(str, v)),
)
def test_meta_fake_and_real_shape_passes_give_the_same_network(model, shape, monkeypatch):
    params = [(id(p), p.device, p.clone()) for p in model.parameters()]
    first = import_module(model, shape, name="m").to_dict()
    monkeypatch.setattr(torch_fx, "_run_meta", lambda *args: False)
    fake = import_module(model, shape, name="m").to_dict()
    monkeypatch.setattr(torch_fx, "_run_fake", lambda *args: False)
    real = import_module(model, shape, name="m").to_dict()
    assert first == fake == real
    # the meta pass put the module's own parameters back, untouched
    assert [(id(p), p.device) for p in model.parameters()] == [(i, d) for i, d, _ in params]
    assert all(
        torch.equal(p, saved) for p, (_, _, saved) in zip(model.parameters(), params, strict=True)
    )


def test_an_op_meta_tensors_do_not_support_falls_back_to_fake_tensors(monkeypatch):
    calls = []
    run_fake = torch_fx._run_fake
    monkeypatch.setattr(torch_fx, "_run_fake", lambda *args: calls.append(1) or run_fake(*args))
    net = import_module(CopiesToCpu(), (1, 3, 8, 8), name="cpu")
    assert calls == [1]
    assert [(layer.name, layer.op, layer.output_shape) for layer in net] == [
        ("conv", OpKind.CONV, (4, 8, 8)),
        ("mean", OpKind.GLOBAL_POOL, (4,)),
        ("fc", OpKind.DENSE, (2,)),
    ]
    calls.clear()
    import_module(MakesTensors(), (1, 5, 6), name="arange")  # made on the CPU, read on meta
    assert calls == []


# Ops whose meta kernel runs on the C++ side (views, size queries); every other zoo op has a rule.
CPP_META_OPS = {"getitem", "getattr", "reshape", "view", "transpose", "permute", "chunk", "split"}
CPP_META_OPS |= {"flatten", "expand", "contiguous", "size"}


@pytest.mark.parametrize(
    "name",
    ["resnet_v1_18", "mobilenet_v2_1.0", "regnetx_800mf", "squeezenet_v1.1", "vit_tiny"]
    + ["yolov5s", "yolov8n", "yolov11n"],
)
def test_zoo_networks_need_no_python_meta_kernel(name, monkeypatch):
    """The first python meta kernel of a process imports torch._dynamo (2 s): the zoo's ops all
    have a shape rule, so importing a zoo network costs about as much cold as warm."""
    from partitioner.zoo import build_module

    dispatched: list[str] = []

    def spy(kind):
        inherited = getattr(fx.Interpreter, kind)

        def call(self, target, args, kwargs):
            name = type(self.fetch_attr(target)).__name__ if kind == "call_module" else target
            dispatched.append(getattr(name, "__name__", name))
            return inherited(self, target, args, kwargs)

        return call

    for kind in ("call_module", "call_function", "call_method"):
        monkeypatch.setattr(torch_fx._ShapeRecorder, kind, spy(kind), raising=False)
    monkeypatch.setattr(torch_fx, "_run_fake", lambda *args: pytest.fail("meta pass failed"))
    module, shape = build_module(name, resolution=32 if name == "vit_tiny" else 64)
    assert not any(p.is_meta for p in module.parameters())  # the zoo builds on CPU memory
    import_module(module, shape, name=name)
    assert set(dispatched) <= CPP_META_OPS


def _sliced(shape: tuple[int, ...]) -> torch.Tensor:
    """A non-contiguous tensor of ``shape``: the second half of twice as many channels."""
    return torch.randn(shape[0], 2 * shape[1], *shape[2:])[:, shape[1] :]


@pytest.mark.parametrize(
    ("module", "shape", "sliced"),
    [
        (nn.Conv2d(4, 6, 3, stride=2, padding=1), (1, 4, 9, 9), False),
        (nn.Conv2d(4, 8, (3, 1), stride=(2, 1), dilation=(2, 1), groups=4), (2, 4, 11, 7), True),
        (nn.Conv1d(3, 5, 4, stride=3, bias=False), (2, 3, 17), False),
        (nn.Linear(5, 3), (2, 7, 5), False),
        (nn.BatchNorm1d(3), (1, 3), False),
        (nn.BatchNorm2d(3), (2, 3, 4, 5), True),
        (nn.LayerNorm((3, 5)), (2, 3, 5), False),
        (nn.MaxPool2d(3, 2, 1), (1, 2, 9, 9), True),
        (nn.MaxPool2d(3, 2, ceil_mode=True), (1, 2, 8, 8), False),
        (nn.MaxPool2d(2, padding=1, ceil_mode=True), (1, 1, 5, 5), False),
        (nn.MaxPool2d(3, 2, dilation=2, ceil_mode=True), (1, 1, 12, 13), False),
        (nn.AdaptiveAvgPool2d((2, None)), (1, 3, 5, 7), False),
        (nn.AdaptiveAvgPool2d(1), (2, 3, 5, 7), True),
        (nn.Upsample(scale_factor=2), (1, 2, 3, 5), True),
        (nn.Upsample(scale_factor=1.7), (1, 2, 5, 7), False),
        (nn.Upsample(scale_factor=(2.0, 0.5)), (1, 2, 5, 7), False),
        (nn.Upsample(size=(4, 6)), (1, 2, 3, 5), False),
        (nn.Upsample(scale_factor=3), (1, 2, 5), False),
        (nn.PixelUnshuffle(2), (1, 3, 4, 6), False),
        (nn.PixelShuffle(2), (1, 8, 3, 3), False),
        (nn.SiLU(), (1, 3, 4), True),
        (nn.Hardtanh(), (2, 5), False),
        (nn.Dropout(), (1, 3, 4), True),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, nn.Module) else str(v),
)
def test_module_shape_rules_match_torch(module, shape, sliced):
    x = _sliced(shape) if sliced else torch.randn(shape)
    module.eval()
    with torch.no_grad():
        expected = module(x)
    with torch_fx._meta_twins(module):
        meta = x.to("meta")
        assert torch_fx._row_major(meta)
        out = torch_fx._MODULE_RULES[type(module)](module, meta)
    assert out is not None and out.is_meta
    assert (out.shape, out.dtype) == (expected.shape, expected.dtype)
    assert out.is_contiguous() == expected.is_contiguous()


@pytest.mark.parametrize(
    ("module", "shape"),
    [
        (nn.Conv2d(4, 6, 3), (1, 5, 9, 9)),  # wrong channels: the meta kernel says so
        (nn.Conv2d(4, 6, 5), (1, 4, 3, 3)),  # kernel larger than the input
        (nn.Conv2d(4, 6, 3, padding="same"), (1, 4, 9, 9)),
        (nn.Conv2d(4, 6, 3, padding=1, padding_mode="reflect"), (1, 4, 9, 9)),
        (nn.BatchNorm1d(3), (1, 4)),
        (nn.BatchNorm2d(3, track_running_stats=False), (1, 3, 4, 4)),  # batch statistics
        (nn.MaxPool2d(2, padding=2), (1, 1, 8, 8)),  # padding over half the kernel
        (nn.Linear(5, 3), (2, 4)),
        (nn.LayerNorm(4), (2, 5)),
        (nn.Upsample(scale_factor=2, mode="bilinear"), (1, 2, 3, 5)),
        (nn.PixelUnshuffle(2), (1, 3, 5, 6)),
    ],
    ids=str,
)
def test_module_shape_rules_leave_other_cases_to_the_meta_kernels(module, shape):
    module.eval()
    with torch_fx._meta_twins(module):
        rule = torch_fx._MODULE_RULES[type(module)]
        assert rule(module, torch.empty(shape, device="meta")) is None


def _t(*shape: int) -> torch.Tensor:
    return torch.randn(shape)


@pytest.mark.parametrize(
    ("target", "args"),
    [
        (operator.add, (_t(2, 1, 5), _t(3, 1))),
        (operator.mul, (_t(2, 3), 2.0)),
        (operator.truediv, (3, _t(2, 3))),
        (torch.sub, (_sliced((1, 2, 3, 3)), _t(1, 2, 3, 3))),
        (torch.cat, ([_t(1, 2, 3), _t(1, 4, 3)], -2)),
        (torch.cat, ([_sliced((1, 2, 3, 3)), _t(1, 1, 3, 3)], 1)),
        (torch.cat, ([_t(1, 1, 4).expand(2, 1, 4), _t(2, 3, 4)], 1)),
        (operator.matmul, (_t(2, 1, 3, 4), _t(5, 4, 6))),
        (operator.matmul, (_t(2, 3, 4), _t(2, 5, 4).transpose(1, 2))),
        ("softmax", (_t(2, 3, 4), -1)),
        (F.softmax, (_t(2, 3, 4), 1)),
    ],
    ids=str,
)
def test_function_shape_rules_match_torch(target, args):
    if isinstance(target, str):
        expected, rule = getattr(args[0], target)(*args[1:]), torch_fx._METHOD_RULES[target]
    else:
        expected, rule = target(*args), torch_fx._FUNCTION_RULES[id(target)]
    out = rule(torch_fx._to_meta(args), {})
    assert out is not None and out.is_meta
    assert (out.shape, out.dtype) == (expected.shape, expected.dtype)
    assert out.is_contiguous() == expected.is_contiguous()


@pytest.mark.parametrize(
    ("target", "args"),
    [
        (operator.add, (_t(2, 3), _t(4, 3))),  # no broadcast: the meta kernel raises
        (operator.add, (_t(2, 3).long(), 1.5)),  # an int tensor: type promotion
        (operator.add, (_t(2, 3), _t(2, 3).double())),
        (operator.add, (_t(3, 2).t(), _t(2, 3))),  # a transposed operand lays the result out so
        (torch.cat, ([_t(1, 2, 3), _t(1, 2, 4)], 1)),
        (torch.cat, ([_t(1, 2, 3, 3).transpose(2, 3), _t(1, 2, 3, 3)], 1)),
        (operator.matmul, (_t(3), _t(3, 2))),
        (operator.matmul, (_t(2, 3), _t(4, 2))),
        ("softmax", (_t(2, 3), 2)),
    ],
    ids=str,
)
def test_function_shape_rules_leave_other_cases_to_the_meta_kernels(target, args):
    rule = torch_fx._METHOD_RULES[target] if isinstance(target, str) else None
    rule = rule or torch_fx._FUNCTION_RULES[id(target)]
    assert rule(torch_fx._to_meta(args), {}) is None
