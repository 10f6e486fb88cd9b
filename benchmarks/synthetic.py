"""Synthetic layer graphs of any size, built from :class:`~cost_model.layer.Layer` (no torch).

Three families, each a function of the exact layer count ``n``:

* :func:`chain` — a plain convolution chain (stem, then 3x3 / 1x1 convs in five stages of
  falling resolution and rising width, a stride-2 conv opening each stage), one tensor per edge.
* :func:`yolo_like` — a YOLOv8s-shaped detector: a backbone of C2f blocks (split, bottlenecks
  with residual adds, concat of every bottleneck output) and an SPPF, a neck (FPN/PAN) whose
  concats read backbone and neck tensors produced many layers earlier (long skip connections),
  and a two-branch head per scale (six graph outputs). Growing ``n`` stacks more bottlenecks and
  more C2f blocks per stage, so the skips grow longer with ``n``.
* :func:`transformer` — a ViT-Small-shaped encoder: patch embedding, then blocks of norm, qkv
  dense, split, matmul, softmax, matmul, proj, add, norm, fc1, fc2, add (12 layers each).

Shapes, parameters and MACs follow the formulas the importers produce (``(C, H, W)`` feature
maps, ``(N, D)`` tokens; a conv has ``k_h k_w c_in c_out + c_out`` parameters and
``k_h k_w c_in c_out H_out W_out`` MACs; a dense ``d_in d_out + d_out`` and ``N d_in d_out``;
an attention matmul ``heads N N d_head``), so pricing binds as it does on real networks: a few
hundred layers no longer fit one context. ``seed`` jitters the chain's conv widths (all but the
stem) and the hidden width of each YOLO bottleneck by x0.75 / x1 / x1.25 (multiples of 8) with
:class:`random.Random`, so a graph is the same for the same arguments and no two stages are
exact copies; ``seed=None`` keeps the nominal widths.

>>> net = chain(3, seed=None)
>>> [(layer.name, layer.output_shape, layer.params, layer.macs) for layer in net]
[('stem', (32, 112, 112), 896, 10838016), ('s1.l1', (64, 56, 56), 18496, 57802752), \
('s2.l2', (128, 28, 28), 73856, 57802752)]
>>> len(yolo_like(200)), len(transformer(200)), len(chain(200))
(200, 200, 200)
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from cost_model.layer import Layer, OpKind, Shape
from partitioner.errors import UsageError
from partitioner.graph import Network

JITTER = (0.75, 1.0, 1.25)
"""Width multipliers a seeded graph draws from (then rounded to a multiple of ``WIDTH_STEP``)."""
WIDTH_STEP = 8

CHAIN_INPUT: Shape = (3, 224, 224)
CHAIN_WIDTHS = (32, 64, 128, 256, 256)  # per stage, at 112, 56, 28, 14, 7 pixels
CHAIN_STAGES = len(CHAIN_WIDTHS)

YOLO_INPUT: Shape = (3, 640, 640)
YOLO_WIDTHS = (32, 64, 128, 256, 512)  # YOLOv8s: stem at 320 px, then stages at 160, 80, 40, 20
YOLO_MAX_BOTTLENECKS = 3  # bottlenecks per C2f block before the stage opens another block
YOLO_BOX_CHANNELS = 64  # head: 4 x 16 distribution bins
YOLO_CLASS_CHANNELS = 80  # head: COCO classes
YOLO_CLASS_HIDDEN = 128  # head: max(c3 = 128, 80) for YOLOv8s

VIT_INPUT: Shape = (3, 224, 224)
VIT_PATCH = 16
VIT_LAYERS_PER_BLOCK = 12
VIT_FIXED_LAYERS = 6  # patch_embed, cls concat, pos add; final norm, cls split, head
VIT_CLASSES = 1000


def _conv_out(size: int, kernel: int, stride: int) -> int:
    """Output side of a conv with ``kernel // 2`` padding (none for a patchify conv)."""
    pad = kernel // 2 if kernel % 2 else 0
    return (size + 2 * pad - kernel) // stride + 1


class _GraphBuilder:
    """Accumulates layers and the shape of every tensor; each method returns the new name."""

    def __init__(self, name: str, input_shape: Shape, seed: int | None) -> None:
        self.name = name
        self.input_shape = input_shape
        self.layers: list[Layer] = []
        self.shapes: dict[str, Shape] = {"x": input_shape}
        self._rng = None if seed is None else random.Random(seed)

    def width(self, nominal: int) -> int:
        """``nominal``, or a seeded jitter of it in multiples of ``WIDTH_STEP``."""
        if self._rng is None:
            return nominal
        scaled = nominal * self._rng.choice(JITTER)
        return max(WIDTH_STEP, round(scaled / WIDTH_STEP) * WIDTH_STEP)

    def _add(self, layer: Layer) -> str:
        self.layers.append(layer)
        self.shapes[layer.name] = layer.output_shape
        return layer.name

    def conv(
        self,
        name: str,
        src: str,
        c_out: int,
        *,
        kernel: int = 3,
        stride: int = 1,
        activation: str | None = "silu",
        channels_in: int | None = None,
    ) -> str:
        """A conv reading ``src`` (or its first ``channels_in`` channels, a split's half)."""
        c_full, h, w = self.shapes[src]
        c_in = c_full if channels_in is None else channels_in
        h_out, w_out = _conv_out(h, kernel, stride), _conv_out(w, kernel, stride)
        per_pixel = kernel * kernel * c_in * c_out
        return self._add(
            Layer(
                name=name,
                op=OpKind.CONV,
                inputs=(src,),
                input_shapes=((c_in, h, w),),
                output_shape=(c_out, h_out, w_out),
                kernel=(kernel, kernel),
                stride=(stride, stride),
                params=per_pixel + c_out,
                macs=per_pixel * h_out * w_out,
                activation=activation,
            )
        )

    def dense(
        self, name: str, src: str, d_out: int, *, activation: str | None = None, rows: int = 0
    ) -> str:
        """A dense layer over the ``(N, D)`` tokens of ``src`` (``rows`` = N, or a vector)."""
        d_in = self.shapes[src][-1]
        in_shape: Shape = (rows, d_in) if rows else (d_in,)
        out_shape: Shape = (rows, d_out) if rows else (d_out,)
        return self._add(
            Layer(
                name=name,
                op=OpKind.DENSE,
                inputs=(src,),
                input_shapes=(in_shape,),
                output_shape=out_shape,
                params=d_in * d_out + d_out,
                macs=max(rows, 1) * d_in * d_out,
                activation=activation,
            )
        )

    def op(
        self,
        name: str,
        op: OpKind,
        srcs: Sequence[str],
        out_shape: Shape,
        *,
        in_shapes: Sequence[Shape] | None = None,
        kernel: int = 1,
        params: int = 0,
        macs: int = 0,
    ) -> str:
        """Any other layer; inputs read whole unless ``in_shapes`` says otherwise."""
        shapes = tuple(in_shapes) if in_shapes is not None else tuple(self.shapes[s] for s in srcs)
        return self._add(
            Layer(
                name=name,
                op=op,
                inputs=tuple(srcs),
                input_shapes=shapes,
                output_shape=out_shape,
                kernel=(kernel, kernel),
                params=params,
                macs=macs,
            )
        )

    def network(self, outputs: Sequence[str]) -> Network:
        return Network(self.name, self.layers, inputs={"x": self.input_shape}, outputs=outputs)


def _check_size(family: str, n: int, minimum: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < minimum:
        raise UsageError(f"a {family} network needs n >= {minimum} layers; got n={n!r}")


# -- chain -----------------------------------------------------------------------------------------
def chain_stage(i: int, n: int) -> int:
    """Stage (0..4) of layer ``i`` of an ``n``-layer chain: five equal runs of the order.

    >>> [chain_stage(i, 10) for i in range(10)]
    [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    """
    return i * CHAIN_STAGES // max(n, CHAIN_STAGES)


def chain(n: int, *, seed: int | None = 0) -> Network:
    """A convolution chain of exactly ``n`` layers on a 3x224x224 input.

    Layer 0 (``stem``) is a 3x3 stride-2 conv to 32 channels at 112x112. Layer ``i`` sits in
    stage ``chain_stage(i, n)``; the first layer of stages 1-4 is a 3x3 stride-2 conv (halving the
    side: 56, 28, 14, 7), the others alternate 3x3 (even ``i``) and 1x1 (odd ``i``) convs. Widths
    are ``CHAIN_WIDTHS`` per stage, jittered by ``seed``. ReLU is fused into every conv.

    Raises:
        UsageError: ``n < 1``.
    """
    _check_size("chain", n, 1)
    g = _GraphBuilder(f"chain{n}", CHAIN_INPUT, seed)
    prev = g.conv("stem", "x", CHAIN_WIDTHS[0], kernel=3, stride=2, activation="relu")
    for i in range(1, n):
        stage = chain_stage(i, n)
        opens = stage > chain_stage(i - 1, n)
        kernel = 3 if opens or i % 2 == 0 else 1
        prev = g.conv(
            f"s{stage}.l{i}",
            prev,
            g.width(CHAIN_WIDTHS[stage]),
            kernel=kernel,
            stride=2 if opens else 1,
            activation="relu",
        )
    return g.network([prev])


# -- YOLO-like -----------------------------------------------------------------------------------
BACKBONE_SITES = ("b1", "b2", "b3", "b4")
NECK_SITES = ("n1", "n2", "n3", "n4")
FILL_ORDER = ("b1", "b2", "b3", "b4", "n1", "n2", "n3", "n4", "b2", "b3")
"""Round-robin order in which stages grow (YOLOv8's depth ratios 1:2:2:1 in the backbone)."""
YOLO_SKELETON_LAYERS = 35
"""Layers with every C2f site empty: 5 stem/downsample convs, 6 SPPF, 8 neck resize / concat /
downsample, 4 neck 1x1 convs that reduce a concat to the site's width, 12 head convs (2 branches
x 3 scales x 2 convs)."""


def _bottleneck_cost(site: str) -> int:
    """Layers of one bottleneck: conv, conv, add (backbone) or conv, conv (neck, no shortcut)."""
    return 3 if site in BACKBONE_SITES else 2


C2F_OVERHEAD = 4  # cv1, split, concat, cv2


def yolo_plan(n: int) -> tuple[dict[str, list[int]], int]:
    """How ``n`` layers are spread: bottlenecks per C2f block at each site, and extra head convs.

    Starting from the skeleton, the sites are visited in ``FILL_ORDER``; each visit adds one
    bottleneck to the site's last block, or opens a new block (4 layers + 1 bottleneck) when the
    site has none or its last block holds ``YOLO_MAX_BOTTLENECKS`` (a neck site's first block
    takes the place of its 1x1 reduce conv, so it adds one layer less). A visit whose layers no
    longer fit is skipped; what is left (fewer layers than any visit costs) becomes 3x3 convs
    in the head.

    >>> yolo_plan(35)
    ({'b1': [], 'b2': [], 'b3': [], 'b4': [], 'n1': [], 'n2': [], 'n3': [], 'n4': []}, 0)
    >>> plan, extra = yolo_plan(50)
    >>> plan['b1'], plan['b2'], plan['b3'], extra
    ([1], [1], [], 1)
    """
    plan: dict[str, list[int]] = {site: [] for site in (*BACKBONE_SITES, *NECK_SITES)}
    left = n - YOLO_SKELETON_LAYERS

    def cost(site: str) -> int:
        blocks = plan[site]
        if not blocks:  # the first block of a neck site replaces its 1x1 reduce conv
            return _bottleneck_cost(site) + C2F_OVERHEAD - (site in NECK_SITES)
        opens = blocks[-1] >= YOLO_MAX_BOTTLENECKS
        return _bottleneck_cost(site) + (C2F_OVERHEAD if opens else 0)

    while any(cost(site) <= left for site in FILL_ORDER):
        for site in FILL_ORDER:
            c = cost(site)
            if c > left:
                continue
            if not plan[site] or plan[site][-1] >= YOLO_MAX_BOTTLENECKS:
                plan[site].append(1)
            else:
                plan[site][-1] += 1
            left -= c
    return plan, left


def _c2f(
    g: _GraphBuilder, prefix: str, src: str, c_out: int, bottlenecks: int, *, shortcut: bool
) -> str:
    """A C2f block: 1x1 conv, split in halves, bottlenecks (3x3, 3x3, [+ add]) on the second
    half, concat of both halves and every bottleneck output, 1x1 conv."""
    half = c_out // 2
    cv1 = g.conv(f"{prefix}.cv1", src, c_out, kernel=1)
    split = g.op(f"{prefix}.split", OpKind.SPLIT, [cv1], g.shapes[cv1])
    _, h, w = g.shapes[cv1]
    parts, prev = [split, split], split
    for j in range(bottlenecks):
        hidden = g.conv(f"{prefix}.m{j}.cv1", prev, g.width(half), channels_in=half)
        out = g.conv(f"{prefix}.m{j}.cv2", hidden, half)
        if shortcut:
            halves = [(half, h, w)] * 2
            out = g.op(f"{prefix}.m{j}.add", OpKind.ADD, [prev, out], halves[0], in_shapes=halves)
        parts.append(out)
        prev = out
    cat = g.op(
        f"{prefix}.cat",
        OpKind.CONCAT,
        parts,
        (half * len(parts), h, w),
        in_shapes=[(half, h, w)] * len(parts),
    )
    return g.conv(f"{prefix}.cv2", cat, c_out, kernel=1)


def _stage(g: _GraphBuilder, site: str, src: str, c_out: int, blocks: list[int]) -> str:
    """The C2f blocks of a site; an empty neck site is one 1x1 conv to ``c_out``."""
    if not blocks and site in NECK_SITES:
        return g.conv(f"{site}.reduce", src, c_out, kernel=1)
    prev = src
    for b, bottlenecks in enumerate(blocks):
        shortcut = site in BACKBONE_SITES
        prev = _c2f(g, f"{site}.c2f{b}", prev, c_out, bottlenecks, shortcut=shortcut)
    return prev


def _concat(g: _GraphBuilder, name: str, srcs: Sequence[str]) -> str:
    shapes = [g.shapes[s] for s in srcs]
    _, h, w = shapes[0]
    return g.op(name, OpKind.CONCAT, srcs, (sum(s[0] for s in shapes), h, w))


def _resize(g: _GraphBuilder, name: str, src: str) -> str:
    c, h, w = g.shapes[src]
    return g.op(name, OpKind.RESIZE, [src], (c, 2 * h, 2 * w))


def _sppf(g: _GraphBuilder, src: str, c_out: int) -> str:
    cv1 = g.conv("sppf.cv1", src, c_out // 2, kernel=1)
    pools, prev = [cv1], cv1
    for j in range(3):
        prev = g.op(f"sppf.pool{j}", OpKind.MAXPOOL, [prev], g.shapes[prev], kernel=5)
        pools.append(prev)
    return g.conv("sppf.cv2", _concat(g, "sppf.cat", pools), c_out, kernel=1)


def _head(g: _GraphBuilder, scale: int, src: str, extra: int) -> list[str]:
    """Box and class branches of one scale: 3x3 conv(s), then a 1x1 conv without activation;
    ``extra`` more 3x3 convs go into the box branch."""
    outputs = []
    for branch, hidden, out in (
        ("box", YOLO_BOX_CHANNELS, YOLO_BOX_CHANNELS),
        ("cls", YOLO_CLASS_HIDDEN, YOLO_CLASS_CHANNELS),
    ):
        prev = g.conv(f"head{scale}.{branch}.conv0", src, hidden)
        for j in range(extra if branch == "box" else 0):
            prev = g.conv(f"head{scale}.{branch}.conv{j + 1}", prev, hidden)
        outputs.append(g.conv(f"head{scale}.{branch}.out", prev, out, kernel=1, activation=None))
    return outputs


def yolo_like(n: int, *, seed: int | None = 0) -> Network:
    """A YOLOv8s-shaped detector of exactly ``n`` layers on a 3x640x640 input.

    Backbone: stem (3x3 s2 to 32 channels), then per stage a 3x3 s2 conv and the C2f blocks of
    sites ``b1..b4`` (64, 128, 256, 512 channels at 160, 80, 40, 20 px); ``b2`` gives P3, ``b3``
    P4, the SPPF after ``b4`` P5. Neck: upsample P5 and concat P4, ``n1`` blocks (256); upsample
    and concat P3, ``n2`` (128, out P3); 3x3 s2 and concat the ``n1`` output, ``n3`` (256);
    3x3 s2 and concat P5, ``n4`` (512). Head: per scale a box branch (64) and a class branch
    (128 -> 80). :func:`yolo_plan` decides the blocks; bottleneck hidden widths are jittered
    by ``seed``.

    Raises:
        UsageError: ``n`` below the skeleton's 35 layers.
    """
    _check_size("yolo_like", n, YOLO_SKELETON_LAYERS)
    plan, extra = yolo_plan(n)
    g = _GraphBuilder(f"yolo_like{n}", YOLO_INPUT, seed)
    c1, c2, c3, c4, c5 = YOLO_WIDTHS
    prev = g.conv("stem", "x", c1, stride=2)
    taps = {}
    for site, width in zip(BACKBONE_SITES, (c2, c3, c4, c5), strict=True):
        prev = g.conv(f"{site}.down", prev, width, stride=2)
        taps[site] = prev = _stage(g, site, prev, width, plan[site])
    p3, p4, p5 = taps["b2"], taps["b3"], _sppf(g, taps["b4"], c5)
    up5 = _resize(g, "n1.up", p5)
    n1 = _stage(g, "n1", _concat(g, "n1.cat", [up5, p4]), c4, plan["n1"])
    up4 = _resize(g, "n2.up", n1)
    n2 = _stage(g, "n2", _concat(g, "n2.cat", [up4, p3]), c3, plan["n2"])
    d3 = g.conv("n3.down", n2, g.shapes[n2][0], stride=2)
    n3 = _stage(g, "n3", _concat(g, "n3.cat", [d3, n1]), c4, plan["n3"])
    d4 = g.conv("n4.down", n3, g.shapes[n3][0], stride=2)
    n4 = _stage(g, "n4", _concat(g, "n4.cat", [d4, p5]), c5, plan["n4"])
    outputs: list[str] = []
    for scale, src in enumerate((n2, n3, n4)):
        share = extra // 3 + (1 if scale < extra % 3 else 0)
        outputs += _head(g, scale, src, share)
    return g.network(outputs)


# -- transformer ---------------------------------------------------------------------------------
def transformer_blocks(n: int) -> tuple[int, int]:
    """``(blocks, extra)``: encoder blocks of 12 layers and extra pre-logits dense layers that
    make exactly ``n`` layers with the 6 fixed ones.

    >>> transformer_blocks(150), transformer_blocks(200)
    ((12, 0), (16, 2))
    """
    return divmod(n - VIT_FIXED_LAYERS, VIT_LAYERS_PER_BLOCK)


def transformer(n: int, *, dim: int = 384, heads: int = 6) -> Network:
    """A ViT encoder of exactly ``n`` layers on a 3x224x224 input (ViT-Small by default).

    ``patch_embed`` (16x16 stride-16 conv to ``dim`` channels, 14x14 patches), ``cls`` (concat
    of the class token: 197 tokens, ``dim`` parameters), ``pos`` (add of the position embedding,
    197 x ``dim`` parameters); then blocks of ``norm1``, ``qkv`` (dense to 3 x ``dim``),
    ``split``, ``scores`` (matmul, heads x 197 x 197), ``softmax``, ``context`` (matmul), ``proj``,
    ``add1``, ``norm2``, ``fc1`` (dense to 4 x ``dim``, GELU), ``fc2``, ``add2``; then ``norm``,
    the class token (``token``, a split), ``extra`` pre-logits dense layers (``dim`` -> ``dim``,
    tanh) and ``head`` (dense to 1000). Layer norms have 2 x ``dim`` parameters. Deterministic:
    a transformer's widths are uniform, so there is no seed.

    Raises:
        UsageError: ``n`` below 18 (one block), or ``dim`` not a multiple of ``heads``.
    """
    _check_size("transformer", n, VIT_FIXED_LAYERS + VIT_LAYERS_PER_BLOCK)
    if dim % heads:
        raise UsageError(f"transformer dim {dim} is not a multiple of heads {heads}")
    blocks, extra = transformer_blocks(n)
    g = _GraphBuilder(f"transformer{n}", VIT_INPUT, None)
    patch = g.conv("patch_embed", "x", dim, kernel=VIT_PATCH, stride=VIT_PATCH, activation=None)
    _, ph, pw = g.shapes[patch]
    tokens, d_head = ph * pw + 1, dim // heads
    seq: Shape = (tokens, dim)
    prev = g.op("cls", OpKind.CONCAT, [patch], seq, in_shapes=[(ph * pw, dim)], params=dim)
    prev = g.op("pos", OpKind.ADD, [prev], seq, params=tokens * dim)
    attention_macs = heads * tokens * tokens * d_head
    for b in range(blocks):
        p = f"blocks.{b}"
        norm1 = g.op(f"{p}.norm1", OpKind.NORM, [prev], seq, params=2 * dim)
        qkv = g.dense(f"{p}.qkv", norm1, 3 * dim, rows=tokens)
        qkv_heads: Shape = (3, heads, tokens, d_head)
        split = g.op(f"{p}.split", OpKind.SPLIT, [qkv], qkv_heads, in_shapes=[qkv_heads])
        scores = g.op(
            f"{p}.scores",
            OpKind.MATMUL,
            [split, split],
            (heads, tokens, tokens),
            in_shapes=[(heads, tokens, d_head), (heads, d_head, tokens)],
            macs=attention_macs,
        )
        soft = g.op(f"{p}.softmax", OpKind.SOFTMAX, [scores], (heads, tokens, tokens))
        context = g.op(
            f"{p}.context",
            OpKind.MATMUL,
            [soft, split],
            (heads, tokens, d_head),
            in_shapes=[(heads, tokens, tokens), (heads, tokens, d_head)],
            macs=attention_macs,
        )
        g.shapes[context] = seq  # heads merged back into tokens x dim (a view, no layer)
        proj = g.dense(f"{p}.proj", context, dim, rows=tokens)
        add1 = g.op(f"{p}.add1", OpKind.ADD, [prev, proj], seq)
        norm2 = g.op(f"{p}.norm2", OpKind.NORM, [add1], seq, params=2 * dim)
        fc1 = g.dense(f"{p}.fc1", norm2, 4 * dim, activation="gelu", rows=tokens)
        fc2 = g.dense(f"{p}.fc2", fc1, dim, rows=tokens)
        prev = g.op(f"{p}.add2", OpKind.ADD, [add1, fc2], seq)
    norm = g.op("norm", OpKind.NORM, [prev], seq, params=2 * dim)
    prev = g.op("token", OpKind.SPLIT, [norm], (dim,))
    for j in range(extra):
        prev = g.dense(f"pre_logits{j}", prev, dim, activation="tanh")
    head = g.dense("head", prev, VIT_CLASSES)
    return g.network([head])


FAMILIES: dict[str, Callable[[int], Network]] = {
    "chain": chain,
    "yolo_like": yolo_like,
    "transformer": transformer,
}
"""The generators by family name, for the scaling benchmark."""


def generate(family: str, n: int) -> Network:
    """The ``n``-layer network of ``family`` (default seed).

    Raises:
        UsageError: an unknown family, or ``n`` below the family's minimum.

    >>> generate("transformer", 18).name
    'transformer18'
    """
    if family not in FAMILIES:
        raise UsageError(f"unknown synthetic family {family!r}; use one of {', '.join(FAMILIES)}")
    return FAMILIES[family](n)


__all__ = [
    "FAMILIES",
    "chain",
    "chain_stage",
    "generate",
    "transformer",
    "transformer_blocks",
    "yolo_like",
    "yolo_plan",
]
