"""Zoo networks of the Model Zoo's detection families: entries and build recipes (no torch).

Each entry's published size is the Model Zoo v2.18 row (``params_M``, ``ops_G`` = 2 x MACs) and
its input the row's input. A recipe is (module of partitioner.zoo, builder function, fixed
arguments); the builder takes, as keyword arguments, the knobs among width/depth/resolution it
declares, and ``input_hw`` (the input height and width) if it declares it.

Every detector is cut where the Model Zoo's parser ends (``hailo_model_zoo/cfg/networks/
<name>.yaml``, ``parser.nodes``): at the per-scale output convs, before decoding and NMS.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from partitioner.zoo.entry import KNOBS, NO_DEPTH, ZooEntry, zoo_entry

DET = "object_detection"


def _det(
    name: str,
    family: str,
    aliases: tuple[str, ...],
    *,
    params_m: float,
    ops_g: float,
    side: int,
    source_family: str,
    knobs: tuple[str, ...] = KNOBS,
    resolution_step: int = 32,
) -> ZooEntry:
    """A square-input detector of the Model Zoo table (largest stride 32 unless given)."""
    return zoo_entry(
        name,
        family,
        aliases,
        params_m=params_m,
        ops_g=ops_g,
        task=DET,
        input_hw=(side, side),
        knobs=knobs,
        resolution_step=resolution_step,
        source_family=source_family,
    )


ENTRIES: tuple[ZooEntry, ...] = (
    _det("yolov5s_wo_spp", "yolov5", (), params_m=7.85, ops_g=17.74, side=640,
         source_family="ultralytics"),
    _det("yolov5m_wo_spp", "yolov5", (), params_m=22.67, ops_g=52.88, side=640,
         source_family="ultralytics"),
    _det("yolov5xs_wo_spp", "yolov5", (), params_m=7.85, ops_g=11.36, side=512,
         source_family="ultralytics"),
    _det("yolov7", "yolov7", (), params_m=36.91, ops_g=104.51, side=640,
         source_family="WongKinYiu", knobs=NO_DEPTH),
    _det("yolov7_tiny", "yolov7", (), params_m=6.22, ops_g=13.74, side=640,
         source_family="WongKinYiu", knobs=NO_DEPTH),
    _det("yolox_s_leaky", "yolox", (), params_m=8.96, ops_g=26.74, side=640,
         source_family="yolox(megvii)"),
    _det("yolox_s_wide_leaky", "yolox", (), params_m=20.12, ops_g=59.46, side=640,
         source_family="yolox(megvii)"),
    _det("yolox_tiny", "yolox", (), params_m=5.05, ops_g=6.44, side=416,
         source_family="yolox(megvii)"),
    _det("yolox_l_leaky", "yolox", (), params_m=54.17, ops_g=155.3, side=640,
         source_family="yolox(megvii)"),
    _det("tiny_yolov3", "yolov3_tiny", ("yolov3_tiny",), params_m=8.85, ops_g=5.58, side=416,
         source_family="Tianxiaomo/pytorch-YOLOv4", knobs=NO_DEPTH),
    _det("tiny_yolov4", "yolov4_tiny", ("yolov4_tiny",), params_m=6.05, ops_g=6.92, side=416,
         source_family="Tianxiaomo/pytorch-YOLOv4", knobs=NO_DEPTH),
    _det("yolov3_416", "yolov3", ("yolov3",), params_m=61.92, ops_g=65.94, side=416,
         source_family="AlexeyAB/darknet"),
    _det("yolov3_gluon_416", "yolov3", (), params_m=61.92, ops_g=65.94, side=416,
         source_family="gluoncv"),
    _det("yolov5m_6.1", "yolov5", ("yolov5m_v6.1",), params_m=21.17, ops_g=48.96, side=640,
         source_family="ultralytics"),
    _det("yolov5m6_6.1", "yolov5", ("yolov5m6",), params_m=35.70, ops_g=200.04, side=1280,
         source_family="ultralytics", resolution_step=64),
    _det("yolov6n", "yolov6", (), params_m=4.32, ops_g=11.12, side=640,
         source_family="yolov6(meituan)"),
    _det("yolov6n_0.2.1", "yolov6", (), params_m=4.33, ops_g=11.06, side=640,
         source_family="yolov6(meituan)"),
    _det("yolov9c", "yolov9", ("yolov9_c", "gelan_c"), params_m=25.3, ops_g=102.1, side=640,
         source_family="WongKinYiu"),
    # 300 is no multiple of the strides (16, 32): TF's SAME padding rounds every strided map up,
    # as the builders' padding does, so any side works; step 4 keeps 300 reachable.
    _det("ssd_mobilenet_v1", "ssd", ("ssd_mobilenet_v1_coco",), params_m=6.79, ops_g=2.5,
         side=300, source_family="tensorflow-models", knobs=NO_DEPTH, resolution_step=4),
    _det("ssd_mobilenet_v2", "ssd", ("ssd_mobilenet_v2_coco",), params_m=4.46, ops_g=1.52,
         side=300, source_family="tensorflow-models", knobs=NO_DEPTH, resolution_step=4),
    _det("centernet_resnet_v1_18_postprocess", "centernet", ("centernet_resnet18",),
         params_m=14.22, ops_g=31.21, side=512, source_family="gluoncv"),
    _det("centernet_resnet_v1_50_postprocess", "centernet", ("centernet_resnet50",),
         params_m=30.07, ops_g=56.92, side=512, source_family="gluoncv"),
)  # fmt: skip

RECIPES: Mapping[str, tuple[str, str, Mapping[str, Any]]] = {
    "yolov5s_wo_spp": ("yolov5_wo_spp", "yolov5_wo_spp", {"scale": "s"}),
    "yolov5m_wo_spp": ("yolov5_wo_spp", "yolov5_wo_spp", {"scale": "m"}),
    "yolov5xs_wo_spp": ("yolov5_wo_spp", "yolov5_wo_spp", {"scale": "s"}),  # yolov5s at 512
    "yolov7": ("yolov7", "yolov7", {}),
    "yolov7_tiny": ("yolov7", "yolov7_tiny", {}),
    "yolox_s_leaky": ("yolox", "yolox", {"scale": "s", "act": "leaky"}),
    "yolox_s_wide_leaky": ("yolox", "yolox", {"scale": "s_wide", "act": "leaky"}),
    "yolox_tiny": ("yolox", "yolox", {"scale": "tiny", "act": "silu"}),
    "yolox_l_leaky": ("yolox", "yolox", {"scale": "l", "act": "leaky"}),
    "tiny_yolov3": ("darknet", "yolov3_tiny", {}),
    "tiny_yolov4": ("darknet", "yolov4_tiny", {}),
    "yolov3_416": ("darknet", "yolov3", {}),
    # gluoncv's yolo3_darknet53_coco: the same Darknet-53 network as yolov3_416
    "yolov3_gluon_416": ("darknet", "yolov3", {}),
    "yolov5m_6.1": ("yolo_seg", "yolov5_v6", {"scale": "m"}),
    "yolov5m6_6.1": ("yolo_seg", "yolov5_v6", {"scale": "m", "p6": True}),
    "yolov6n": ("yolov6", "yolov6", {"scale": "n"}),
    # release 0.2.1: the same EfficientRep, Rep-PAN and head convs, no objectness branch (the
    # cfg's outputs: 4 box and 80 class channels per scale)
    "yolov6n_0.2.1": ("yolov6", "yolov6", {"scale": "n", "objectness": False}),
    "yolov9c": ("yolov9", "yolov9", {}),
    "ssd_mobilenet_v1": ("ssd", "ssd_mobilenet", {"version": "v1"}),
    "ssd_mobilenet_v2": ("ssd", "ssd_mobilenet", {"version": "v2"}),
    "centernet_resnet_v1_18_postprocess": ("centernet", "centernet_resnet18", {}),
    "centernet_resnet_v1_50_postprocess": ("centernet", "centernet_resnet50", {}),
}
