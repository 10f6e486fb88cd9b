"""The compile-side lines of the Hailo Model Zoo's model script for each network and chip.

``partitioner/data/model_zoo_v2.18.csv`` (a copy of the Model Zoo v2.18 table with the lines
hailomz resolves for each network: ``alls/<hw>/base/`` or ``alls/generic/``) holds, per network
and chip, the published FPS and the script's ``resources_param``, optimization levels, required
FPS, ``context_switch_param``, compression, precision globs and pinned-context counts.
:func:`zoo_script` turns a row back into model-script text that :mod:`partitioner.model_script`
reads, so that ``ctxfit compile yolov8m`` compiles as ``hailomz compile yolov8m`` does.

What a row cannot give back is said in :attr:`ZooScript.notes`: layers pinned to a precision by
name (the table has their count, not their names) and pinned partitions (the table has the
context count: the search then runs at exactly that many contexts, :attr:`fixed_contexts`).
``partitioner/data/zoo_script_lines.csv`` adds compile-side lines the table leaves out, copied
from the public scripts (path and commit in its ``source`` column), where what they mean in
ctxfit's graph is checked (``tests/test_zoo_scripts.py``):

* the seven ``a8_w4`` layers of the four YOLOv5m and YOLOv5m-wo-SPP scripts (their Hailo names,
  :func:`~partitioner.settings.hailo_parser_order`, are 13 of the 14 largest convolutions);
* the ``a16_w16`` layers of Whisper-tiny's encoder (the out, fc1 and fc2 of every block), of
  ViT-Tiny (``conv32, conv33``: block 7's fc1 and fc2, with the qkv one conv a block as in
  Whisper; its script's ``conv_slice3 ... conv_slice36``, three slices a block, say the same),
  of YOLOv3-416 and Tiny-YOLOv4 (every output) and of FastDepth (its one output);
* Whisper-tiny's ``performance_param(optimize_for_batch=1)``.

The other rows' named layers (``a16_w16`` on 36 more networks, of which ctxfit builds 6) stay
a note, since which of ctxfit's layers their names mean is not checked: the YOLOv5-seg and
CenterPose scripts set some of their outputs (``output_layer1..3`` of four,
``output_layer1`` of six) in an output order not known; other names are of layers ctxfit does
not have (``slice1``, ``format_conversion1``, ``input_layer1``).

>>> s = zoo_script("yolov5m", "hailo8")
>>> print(s.text, end="")
# Model Zoo v2.18 script hailo8/base/yolov5m.alls (hailo8), compile-side lines
performance_param(fps=150)
quantization_param([conv45, conv46, conv51, conv53, conv84, conv89, conv91], precision_mode=a8_w4)
>>> s.notes
()
>>> zoo_script("yolov3", "hailo8").notes
('3 layers set to a16_w16 by name in the Model Zoo script are not reproduced',)
>>> zoo_script("no_such_net", "hailo8") is None
True
"""

from __future__ import annotations

import csv
import functools
import re
from dataclasses import dataclass
from importlib import resources

from partitioner.model_script import parse_model_script

TABLE = "model_zoo_v2.18.csv"
EXTRA_LINES = "zoo_script_lines.csv"
DEVICES = ("hailo8", "hailo8l")


@dataclass(frozen=True, kw_only=True)
class ZooRow:
    """One row of the Model Zoo table (published figures and the script's compile-side lines)."""

    device: str
    network: str
    task: str
    input_hwc: str
    params_m: float
    ops_g: float
    fps_batch1: float
    fps_batch8: float | None  # a few rows publish no batch-8 figure
    source_family: str
    script: str
    fields: dict[str, str]

    @property
    def single_context(self) -> bool:
        """Equal FPS at batch 1 and 8 means one context (HAILO.md section 3)."""
        if self.fps_batch8 is None:
            return False
        return abs(self.fps_batch1 - self.fps_batch8) <= 1e-9 * self.fps_batch8


@dataclass(frozen=True, kw_only=True)
class ZooScript:
    """A row's script as model-script text, with what could not be reproduced."""

    row: ZooRow
    text: str
    notes: tuple[str, ...]
    fixed_contexts: int | None


@functools.cache
def zoo_rows() -> tuple[ZooRow, ...]:
    """Every row of the packaged table."""
    with resources.files("partitioner").joinpath("data", TABLE).open(encoding="utf-8") as f:
        return tuple(
            ZooRow(
                device=r["device"],
                network=r["network"],
                task=r["task"],
                input_hwc=r["input_hwc"],
                params_m=float(r["params_M"]),
                ops_g=float(r["ops_G"]),
                fps_batch1=float(r["fps_batch1"]),
                fps_batch8=float(r["fps_batch8"]) if r["fps_batch8"] else None,
                source_family=r["source_family"],
                script=r["script"],
                fields=dict(r),
            )
            for r in csv.DictReader(f)
        )


@functools.cache
def extra_script_lines() -> dict[str, tuple[str, ...]]:
    """Script path -> its compile-side lines the Model Zoo table leaves out (packaged table)."""
    lines: dict[str, list[str]] = {}
    path = resources.files("partitioner").joinpath("data", EXTRA_LINES)
    with path.open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            lines.setdefault(r["script"], []).append(r["line"])
    return {script: tuple(found) for script, found in lines.items()}


def _named_count(line: str, mode: str) -> int:
    """How many layers one ``quantization_param`` line of ``mode`` names (0 for another mode)."""
    return sum(rule.value == mode for _, rule in parse_model_script(line).precision)


def zoo_row(network: str, device: str) -> ZooRow | None:
    """The row of ``network`` on ``device``, or None."""
    for row in zoo_rows():
        if row.network == network and row.device == device:
            return row
    return None


_LEVEL = re.compile(r"^(max|\d)")
_WILDCARD = re.compile(r"(a8_w8|a8_w4|a16_w16):\{([^}]*)\}")


def zoo_script(network: str, device: str) -> ZooScript | None:
    """The compile-side lines of ``network``'s Model Zoo script on ``device`` (None without a
    row for it)."""
    row = zoo_row(network, device)
    if row is None:
        return None
    f = row.fields
    lines = [f"# Model Zoo v2.18 script {row.script} ({device}), compile-side lines"]
    notes: list[str] = []
    if f["resources_param"]:
        lines.append(f["resources_param"])
    level = _LEVEL.match(f["compiler_optimization_level"])
    if level:
        lines.append(f"performance_param(compiler_optimization_level={level.group(1)})")
    if f["fps_target"]:
        lines.append(f"performance_param(fps={f['fps_target']})")
    if f["context_switch_param"]:
        lines.append(f["context_switch_param"])
    flavor = [
        f"{key}={f[key]}" for key in ("optimization_level", "compression_level") if f[key] != ""
    ]
    if flavor:
        lines.append(f"model_optimization_flavor({', '.join(flavor)})")
    for mode, pattern in _WILDCARD.findall(f["precision_wildcards"]):
        glob = pattern.split("/", 1)[-1]  # the network's scope: vit_base/ew_add* -> ew_add*
        # a character class ([0-9]) is quoted: brackets are lists in a model script
        layers = f'"{glob}"' if "[" in glob else f"{{{glob}}}"
        lines.append(f"quantization_param({layers}, precision_mode={mode})")
    extra = extra_script_lines().get(row.script, ())
    lines += extra
    for mode in ("a8_w4", "a16_w16"):
        count = int(f[f"{mode}_layers"] or 0) - sum(_named_count(line, mode) for line in extra)
        if count:
            notes.append(
                f"{count} layers set to {mode} by name in the Model Zoo script are not reproduced"
            )
    pinned = int(f["pinned_contexts"] or 0)
    if pinned:
        notes.append(
            f"the Model Zoo script pins its partition to {pinned} context(s); ctxfit searches "
            f"its own partition into exactly {pinned}"
        )
    return ZooScript(
        row=row, text="\n".join(lines) + "\n", notes=tuple(notes), fixed_contexts=pinned or None
    )
