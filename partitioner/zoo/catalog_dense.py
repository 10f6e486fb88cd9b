"""Zoo networks of the Model Zoo's dense families: entries and build recipes (no torch).

Each entry's published size is the Model Zoo v2.18 row (``params_M``, ``ops_G`` = 2 x MACs) and
its input the row's input. A recipe is (module of partitioner.zoo, builder function, fixed
arguments); the builder takes, as keyword arguments, the knobs among width/depth/resolution it
declares, and ``input_hw`` (the input height and width) if it declares it.

Segmentation, pose, face, depth, super-resolution, low-light enhancement and speech networks.
``resolution_step`` is the network's largest stride where the input must be a multiple of it;
networks without a stride (ESPCN, Zero-DCE) and DeepLab (TF's 'SAME' padding rounds each stride
up: 513 -> 257 -> 129 -> 65) take any side (step 1). A network whose input size is fixed by its
weights (MobileFaceNet's 7x7 global depthwise conv, Whisper's 10 s position embedding) has no
resolution knob.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from partitioner.zoo.entry import KNOBS, NO_DEPTH, ZooEntry, zoo_entry

NO_RESOLUTION = ("width", "depth")
RESOLUTION_ONLY = ("resolution",)
# (scale, input (H, W), ops_G) of the ESPCN rows beyond x2: the inputs shrink with the scale.
_ESPCN = ((3, (104, 160), 0.76), (4, (78, 120), 0.46))

ENTRIES: tuple[ZooEntry, ...] = (
    *(
        zoo_entry(
            f"yolov5{size}_seg",
            "yolov5_seg",
            (f"yolo_v5{size}_seg",),
            params_m=params_m,
            ops_g=ops_g,
            task="instance_segmentation",
            input_hw=(640, 640),
            source_family="ultralytics",
        )
        for size, params_m, ops_g in (
            ("n", 1.99, 7.1),
            ("s", 7.61, 26.42),
            ("m", 32.60, 70.94),
            ("l", 47.89, 147.88),
        )
    ),
    zoo_entry(
        "fast_depth",
        "fast_depth",
        ("fastdepth",),
        params_m=1.35,
        ops_g=0.74,
        task="depth_estimation",
        input_hw=(224, 224),
        knobs=NO_DEPTH,
        source_family="dwofk/fast-depth",
    ),
    zoo_entry(
        "arcface_mobilefacenet",
        "mobilefacenet",
        ("mobilefacenet", "arcface_mbf"),
        params_m=2.04,
        ops_g=0.88,
        task="face_recognition",
        input_hw=(112, 112),
        knobs=NO_RESOLUTION,
        resolution_step=16,
        source_family="deepinsight/insightface",
    ),
    zoo_entry(
        "retinaface_mobilenet_v1",
        "retinaface",
        ("retinaface_mobilenet",),
        params_m=3.49,
        ops_g=25.14,
        task="face_detection",
        input_hw=(736, 1280),
        knobs=NO_DEPTH,
        source_family="biubug6/Pytorch_Retinaface",
    ),
    zoo_entry(
        "scrfd_2.5g",
        "scrfd",
        ("scrfd_2.5g_bnkps",),
        params_m=0.82,
        ops_g=6.88,
        task="face_detection",
        input_hw=(640, 640),
        knobs=KNOBS,
        source_family="deepinsight/insightface",
    ),
    zoo_entry(
        "scrfd_500m",
        "scrfd",
        ("scrfd_500m_bnkps",),
        params_m=0.63,
        ops_g=1.5,
        task="face_detection",
        input_hw=(640, 640),
        knobs=KNOBS,
        source_family="deepinsight/insightface",
    ),
    zoo_entry(
        "scrfd_10g",
        "scrfd",
        ("scrfd_10g_bnkps",),
        params_m=4.23,
        ops_g=26.74,
        task="face_detection",
        input_hw=(640, 640),
        knobs=KNOBS,
        source_family="deepinsight/insightface",
    ),
    zoo_entry(
        "lightface_slim",
        "lightface",
        ("ultra_light_face_slim",),
        params_m=0.26,
        ops_g=0.16,
        task="face_detection",
        input_hw=(240, 320),
        knobs=NO_DEPTH,
        resolution_step=16,  # strides up to 64 are padded; 240 is no multiple of 32
        source_family="Linzaer/Ultra-Light-Fast-Generic-Face-Detector-1MB",
    ),
    zoo_entry(
        "osnet_x1_0",
        "osnet",
        ("osnet",),
        params_m=2.19,
        ops_g=1.98,
        task="person_re_id",
        input_hw=(256, 128),
        knobs=KNOBS,
        source_family="KaiyangZhou/deep-person-reid",
    ),
    zoo_entry(
        "espcn_x2",
        "espcn",
        (),
        params_m=0.02,
        ops_g=1.6,
        task="super_resolution",
        input_hw=(156, 240),
        channels=1,
        knobs=RESOLUTION_ONLY,
        resolution_step=1,
        source_family="Lornatang/ESPCN-PyTorch",
    ),
    zoo_entry(
        "zero_dce",
        "zero_dce",
        ("zerodce",),
        params_m=0.21,
        ops_g=38.2,
        task="low_light_enhancement",
        input_hw=(400, 600),
        knobs=RESOLUTION_ONLY,
        resolution_step=1,
        source_family="hailo-internal",
    ),
    *(
        zoo_entry(
            name,
            "dncnn",
            (),
            params_m=0.66,
            ops_g=ops_g,
            task="image_denoising",
            input_hw=(321, 481),  # BSD68's images
            channels=channels,
            knobs=RESOLUTION_ONLY,
            resolution_step=1,
            source_family="cszn/KAIR",
        )
        for name, channels, ops_g in (("dncnn3", 1, 205.26), ("dncnn_color_blind", 3, 205.97))
    ),
    zoo_entry(
        "deeplab_v3_mobilenet_v2",
        "deeplab_v3",
        ("deeplabv3_mobilenet_v2",),
        params_m=2.10,
        ops_g=17.65,
        task="semantic_segmentation",
        input_hw=(513, 513),
        knobs=NO_DEPTH,
        resolution_step=1,
        source_family="keras",
    ),
    zoo_entry(
        "deeplab_v3_mobilenet_v2_wo_dilation",
        "deeplab_v3",
        ("deeplabv3_mobilenet_v2_wo_dilation",),
        params_m=2.10,
        ops_g=3.21,
        task="semantic_segmentation",
        input_hw=(513, 513),
        knobs=NO_DEPTH,
        resolution_step=1,
        source_family="tensorflow-models",
    ),
    zoo_entry(
        "fcn8_resnet_v1_18",
        "fcn8",
        ("fcn8_resnet18",),
        params_m=11.20,
        ops_g=142.82,
        task="semantic_segmentation",
        input_hw=(1024, 1920),
        knobs=KNOBS,
        source_family="openmmlab",
    ),
    zoo_entry(
        "stdc1",
        "stdc",
        ("stdc1_cityscapes",),
        params_m=8.27,
        ops_g=126.47,
        task="semantic_segmentation",
        input_hw=(1024, 1920),
        knobs=KNOBS,
        source_family="openmmlab",
    ),
    zoo_entry(
        "centerpose_regnetx_800mf",
        "centerpose",
        ("centerpose_regnetx",),
        params_m=12.31,
        ops_g=86.12,
        task="pose_estimation",
        input_hw=(512, 512),
        knobs=KNOBS,
        source_family="tensorboy/centerpose",
    ),
    zoo_entry(
        "mspn_regnetx_800mf",
        "mspn",
        ("mspn_regnetx",),
        params_m=7.17,
        ops_g=2.94,
        task="single_person_pose_estimation",
        input_hw=(256, 192),
        knobs=KNOBS,
        source_family="openmmlab",
    ),
    zoo_entry(
        "vit_pose_small",
        "vit_pose",
        ("vitpose_small", "vitpose_s"),
        params_m=24.29,
        ops_g=17.17,
        task="single_person_pose_estimation",
        input_hw=(256, 192),
        knobs=KNOBS,
        resolution_step=16,
        source_family="ViTAE-Transformer/ViTPose",
    ),
    zoo_entry(
        "vit_pose_small_bn",
        "vit_pose",
        ("vitpose_small_bn",),
        params_m=24.32,
        ops_g=17.17,
        task="single_person_pose_estimation",
        input_hw=(256, 192),
        knobs=KNOBS,
        resolution_step=16,
        source_family="ViTAE-Transformer/ViTPose",
    ),
    zoo_entry(
        "whisper_tiny_10s_encoder",
        "whisper",
        ("whisper_tiny_encoder",),
        params_m=7.65,
        ops_g=9.26,
        task="automatic_speech_recognition",
        input_hw=(1, 1000),  # NHWC 1x1000x80: 1000 frames of 80 mel channels
        channels=80,
        knobs=NO_RESOLUTION,
        resolution_step=1,
    ),
    zoo_entry(
        "tddfa_mobilenet_v1",
        "mobilenet_v1",
        ("3ddfa_mobilenet_v1", "tddfa"),
        params_m=3.26,
        ops_g=0.36,
        task="facial_landmark_detection",
        input_hw=(120, 120),
        knobs=NO_DEPTH,
        resolution_step=8,  # padded strides take any side; 120 is no multiple of 32
        source_family="cleardusk/3DDFA_V2",
    ),
    zoo_entry(
        "repvgg_a0_person_reid_512",
        "repvgg",
        ("repvgg_a0_reid",),
        params_m=7.68,
        ops_g=1.78,
        task="person_re_id",
        input_hw=(256, 128),
        knobs=KNOBS,
        source_family="DingXiaoH/RepVGG",
    ),
    *(
        zoo_entry(
            f"espcn_x{scale}",
            "espcn",
            (),
            params_m=0.02,
            ops_g=ops_g,
            task="super_resolution",
            input_hw=input_hw,
            channels=1,
            knobs=RESOLUTION_ONLY,
            resolution_step=1,
            source_family="Lornatang/ESPCN-PyTorch",
        )
        for scale, input_hw, ops_g in _ESPCN
    ),
    zoo_entry(
        "person_attr_resnet_v1_18",
        "resnet",
        ("person_attr_resnet18",),
        params_m=11.19,
        ops_g=3.64,
        task="person_attribute",
        input_hw=(224, 224),
        knobs=KNOBS,
        source_family="dangweili/pedestrian-attribute-recognition-pytorch",
    ),
    zoo_entry(
        "face_attr_resnet_v1_18",
        "resnet",
        ("face_attr_resnet18",),
        params_m=11.74,
        ops_g=3.0,
        task="face_attribute",
        input_hw=(218, 178),  # CelebA's aligned crops
        knobs=KNOBS,
        resolution_step=2,  # padded strides take any side; 218 and 178 share only 2
        source_family="d-li14/face-attribute-prediction",
    ),
)

RECIPES: Mapping[str, tuple[str, str, Mapping[str, Any]]] = {
    **{f"yolov5{size}_seg": ("yolo_seg", "yolov5_seg", {"scale": size}) for size in "nsml"},
    "fast_depth": ("fast_depth", "fast_depth", {}),
    "arcface_mobilefacenet": ("mobilefacenet", "mobilefacenet", {}),
    "retinaface_mobilenet_v1": ("retinaface", "retinaface_mobilenet_v1", {}),
    "scrfd_2.5g": ("scrfd", "scrfd", {}),
    "scrfd_500m": ("scrfd", "scrfd", {"variant": "500m"}),
    "scrfd_10g": ("scrfd", "scrfd", {"variant": "10g"}),
    "lightface_slim": ("lightface", "lightface_slim", {}),
    "osnet_x1_0": ("osnet", "osnet", {}),
    "espcn_x2": ("enhance", "espcn", {"scale": 2}),
    "zero_dce": ("enhance", "zero_dce", {}),
    "dncnn3": ("enhance", "dncnn", {"in_channels": 1}),
    "dncnn_color_blind": ("enhance", "dncnn", {"in_channels": 3}),
    "deeplab_v3_mobilenet_v2": ("deeplab", "deeplab_v3_mobilenet_v2", {}),
    "deeplab_v3_mobilenet_v2_wo_dilation": (
        "deeplab",
        "deeplab_v3_mobilenet_v2",
        {"output_stride": 32},
    ),
    "fcn8_resnet_v1_18": ("fcn", "fcn8_resnet", {"units": (2, 2, 2, 2)}),
    "stdc1": ("stdc", "stdc", {}),
    "centerpose_regnetx_800mf": ("centerpose", "centerpose_regnetx", {"variant": "800mf"}),
    "mspn_regnetx_800mf": ("mspn", "mspn_regnetx", {"variant": "800mf"}),
    "vit_pose_small": ("vit_pose", "vit_pose", {"embed_dim": 384, "heads": 6}),
    "vit_pose_small_bn": (
        "vit_pose",
        "vit_pose",
        {"embed_dim": 384, "heads": 6, "batch_norm": True},
    ),
    "whisper_tiny_10s_encoder": (
        "whisper",
        "whisper_encoder",
        {"dim": 384, "heads": 6, "blocks": 4},
    ),
    # 3DDFA_V2's MobileNetV1 (width 1.0): ImageNet's layout with a 62-output head (12 pose, 40
    # shape and 10 expression 3DMM parameters; the Model Zoo cfg's output_shape '62').
    "tddfa_mobilenet_v1": ("mobilenet", "mobilenet_v1", {"classes": 62}),
    # Deployed RepVGG-A0 ((a, b) = (0.75, 2.5)) whose classifier is a 1280 -> 512 embedding (the
    # cfg's output 1x512): 7.03 M backbone + 0.66 M head = the row's 7.68 M.
    "repvgg_a0_person_reid_512": ("repvgg", "repvgg", {"a": 0.75, "b": 2.5, "classes": 512}),
    **{f"espcn_x{scale}": ("enhance", "espcn", {"scale": scale}) for scale, _, _ in _ESPCN},
    # ResNet-18 with 35 attribute logits (PETA's 35 attributes; the cfg's output 1x35):
    # 11.18 M backbone + 512 x 35 + 35 = 11.194 M, the row's 11.19 M.
    "person_attr_resnet_v1_18": ("resnet", "resnet_basic", {"units": (2, 2, 2, 2), "classes": 35}),
    # ResNet-18 ending in 80 logits (40 CelebA attributes x 2; the cfg's output 1x80, from one
    # Gemm). d-li14's head is a 512-wide fc + BN + ReLU "stem", then per attribute fc 256 and
    # fc 2 (17 M in all, far over the row); the row's 11.74 M leaves 0.566 M over the 11.18 M
    # backbone, which two 512-wide hidden layers (batch norms folded) and a 512 -> 80 layer give
    # exactly (525,312 + 41,040 = 566,352 -> 11.743 M). The head is so chosen, not read off
    # the ONNX; it is 0.1% of the MACs.
    "face_attr_resnet_v1_18": (
        "resnet",
        "resnet_basic",
        {"units": (2, 2, 2, 2), "classes": 80, "hidden": (512, 512)},
    ),
}
