"""Zoo networks of the Model Zoo's classification families: entries and build recipes (no torch).

Each entry's published size is the Model Zoo v2.18 row (``params_M``, ``ops_G`` = 2 x MACs) and
its input the row's input. A recipe is (module of partitioner.zoo, builder function, fixed
arguments); the builder takes, as keyword arguments, the knobs among width/depth/resolution it
declares, and ``input_hw`` (the input height and width) if it declares it.

The EfficientNets take any input side (TF "SAME" padding, ``ceil(H / stride)`` outputs); their
published inputs (224 to 300) are multiples of 4, not all of their stride 32, so their
resolution step is 4.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from partitioner.zoo.entry import NO_DEPTH, ZooEntry, zoo_entry

CLS = "classification"
TF_TPU, TF_MODELS, IMGCLSMOB = "tensorflow-tpu", "tensorflow-models", "imgclsmob"
EFFICIENTNET_STEP = 4  # SAME padding: any side works; every published input is a multiple of 4

# (name, input side, width and depth coefficients, params_M, ops_G) of tensorflow/tpu's models.
_LITE = (
    ("efficientnet_lite0", 224, (1.0, 1.0), 4.63, 0.78),
    ("efficientnet_lite1", 240, (1.0, 1.1), 5.39, 1.22),
    ("efficientnet_lite2", 260, (1.1, 1.2), 6.06, 1.74),
    ("efficientnet_lite3", 280, (1.2, 1.4), 8.16, 2.8),
    ("efficientnet_lite4", 300, (1.4, 1.8), 12.95, 5.10),
)
_EDGETPU = (
    ("efficientnet_s", 224, (1.0, 1.0), 5.41, 4.72),
    ("efficientnet_m", 240, (1.0, 1.1), 6.87, 7.32),
    ("efficientnet_l", 300, (1.2, 1.4), 10.55, 19.4),
)

# (name, (a, b) width multipliers, params_M, ops_G) of RepVGG-A, deployed.
_REPVGG = (
    ("repvgg_a1", (1.0, 2.5), 12.79, 4.7),
    ("repvgg_a2", (1.5, 2.75), 25.5, 10.2),
)
REPVGG, HARDNET, TIMM = "DingXiaoH/RepVGG", "PingoLH/Pytorch-HarDNet", "timm"
FACEBOOK = "facebookresearch"
# (name, embedding dim, heads, params_M, ops_G) of the ViT-BN models; the rows repeat the
# layer-norm ViTs' published sizes (the norm has the same parameters).
_VIT_BN = (
    ("vit_tiny_bn", 192, 3, 5.73, 2.2),
    ("vit_small_bn", 384, 6, 21.12, 8.62),
    ("vit_base_bn", 768, 12, 86.5, 35.188),
)

# (name, token widths, heads, key dim, params_M, ops_G) of the larger LeViTs (LeViT's
# ``specification``; all four blocks per stage, as LeViT-128).
_LEVIT = (
    ("levit192", (192, 288, 384), (3, 5, 6), 32, 10.9, 1.3),
    ("levit256", (256, 384, 512), (4, 6, 8), 32, 18.9, 2.3),
    ("levit384", (384, 512, 768), (6, 9, 12), 32, 39.1, 4.7),
)

ENTRIES: tuple[ZooEntry, ...] = (
    zoo_entry(
        "mobilenet_v3",
        "mobilenet_v3_edgetpu",
        ("mobilenet_v3_edgetpu", "mobilenet_edgetpu"),
        params_m=4.07,
        ops_g=2.0,
        task=CLS,
        input_hw=(224, 224),
        knobs=NO_DEPTH,
        source_family=TF_MODELS,
    ),
    *(
        zoo_entry(
            name,
            "efficientnet_lite",
            (f"tf_{name}", name.replace("_", "")),
            params_m=params,
            ops_g=ops,
            task=CLS,
            input_hw=(side, side),
            resolution_step=EFFICIENTNET_STEP,
            source_family=TF_TPU,
        )
        for name, side, _, params, ops in _LITE
    ),
    *(
        zoo_entry(
            name,
            "efficientnet_edgetpu",
            (f"efficientnet_edgetpu_{name[-1]}", f"tf_efficientnet_e{name[-1]}"),
            params_m=params,
            ops_g=ops,
            task=CLS,
            input_hw=(side, side),
            resolution_step=EFFICIENTNET_STEP,
            source_family=TF_TPU,
        )
        for name, side, _, params, ops in _EDGETPU
    ),
    zoo_entry(
        "inception_v1",
        "inception_v1",
        ("googlenet", "inception_v1_224"),
        params_m=6.62,
        ops_g=3.0,
        task=CLS,
        input_hw=(224, 224),
        knobs=NO_DEPTH,
        source_family=TF_MODELS,
    ),
    zoo_entry(
        "resnext26_32x4d",
        "resnext",
        ("resnext26",),
        params_m=15.37,
        ops_g=4.96,
        task=CLS,
        input_hw=(224, 224),
        source_family=IMGCLSMOB,
    ),
    *(
        zoo_entry(
            name,
            "repvgg",
            (name.replace("_", ""),),
            params_m=params,
            ops_g=ops,
            task=CLS,
            input_hw=(224, 224),
            source_family=REPVGG,
        )
        for name, _, params, ops in _REPVGG
    ),
    zoo_entry(
        "hardnet68",
        "hardnet",
        ("hardnet_68",),
        params_m=17.56,
        ops_g=8.5,
        task=CLS,
        input_hw=(224, 224),
        source_family=HARDNET,
    ),
    zoo_entry(
        "hardnet39ds",
        "hardnet",
        ("hardnet39_ds", "hardnet_39ds"),
        params_m=3.48,
        ops_g=0.86,
        task=CLS,
        input_hw=(224, 224),
        source_family=HARDNET,
    ),
    *(
        zoo_entry(
            name,
            "vit_bn",
            (name.replace("_bn", "_patch16_224_bn"),),
            params_m=params,
            ops_g=ops,
            task=CLS,
            input_hw=(224, 224),
            resolution_step=16,
            source_family=TIMM,
        )
        for name, _, _, params, ops in _VIT_BN
    ),
    zoo_entry(
        "levit128",
        "levit",
        ("levit_128",),
        params_m=9.2,
        ops_g=0.8,
        task=CLS,
        input_hw=(224, 224),
        resolution_step=16,
        source_family=FACEBOOK,
    ),
    *(
        zoo_entry(
            name,
            "levit",
            (name.replace("levit", "levit_"),),
            params_m=params,
            ops_g=ops,
            task=CLS,
            input_hw=(224, 224),
            resolution_step=16,
            source_family=FACEBOOK,
        )
        for name, _, _, _, params, ops in _LEVIT
    ),
    zoo_entry(
        "resmlp12_relu",
        "resmlp",
        ("resmlp_12_relu", "resmlp_12_224_relu"),
        params_m=15.77,
        ops_g=6.04,
        task=CLS,
        input_hw=(224, 224),
        resolution_step=16,
        source_family=TIMM,
    ),
)

RECIPES: Mapping[str, tuple[str, str, Mapping[str, Any]]] = {
    "mobilenet_v3": ("mobilenet_v3", "mobilenet_v3_edgetpu", {}),
    **{
        name: (
            "efficientnet",
            "efficientnet_lite",
            {"width_coefficient": w, "depth_coefficient": d},
        )
        for name, _, (w, d), _, _ in _LITE
    },
    **{
        name: (
            "efficientnet",
            "efficientnet_edgetpu",
            {"width_coefficient": w, "depth_coefficient": d},
        )
        for name, _, (w, d), _, _ in _EDGETPU
    },
    "inception_v1": ("inception", "inception_v1", {}),
    # imgclsmob's ResNeXt-26: torchvision's ResNeXt unit (stride in the first unit of stages
    # 2-4), two units per stage
    "resnext26_32x4d": (
        "resnet",
        "resnet_bottleneck",
        {"units": (2, 2, 2, 2), "groups": 32, "group_width": 4},
    ),
    **{name: ("repvgg", "repvgg", {"a": a, "b": b}) for name, (a, b), _, _ in _REPVGG},
    "hardnet68": ("hardnet", "hardnet68", {}),
    "hardnet39ds": ("hardnet", "hardnet39ds", {}),
    **{
        name: ("vit_bn", "vision_transformer_bn", {"embed_dim": dim, "heads": heads})
        for name, dim, heads, _, _ in _VIT_BN
    },
    "levit128": ("levit", "levit", {}),
    **{
        name: ("levit", "levit", {"embed": embed, "heads": heads, "key_dim": key_dim})
        for name, embed, heads, key_dim, _, _ in _LEVIT
    },
    "resmlp12_relu": ("resmlp", "resmlp", {}),
}
