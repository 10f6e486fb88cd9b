"""What the published figures allow: how far any work model of the single-context rows can get.

Issue 13 asks for a median |FPS error| of at most 12%. This script measures how much of the
error left is in the Model Zoo table itself rather than in ctxfit's constants, on the rows where
the answer is simplest: one context whose FPS ctxfit sets by its compute cap (the subclusters
bind, no layer at its split limit, no PCIe floor). There the cost model's FPS is
``SC limit x clock / sum of the layers' work``, so each row gives a measured work budget
``y = SC limit x clock / published FPS`` (SC-cycles per frame) to set against the model's.

Three measurements:

* **the same network on both chips**: a work model that depends on the network only (as
  ctxfit's does) predicts the same work on Hailo-8 and Hailo-8L, so the ratio of the two rows'
  errors (``pair_ratio``) is independent of every work constant. Its spread is a floor: no
  choice of work constants can make both rows of a pair right when the ratio is far from 1;
* **the best linear work model**: the work ``y`` fitted as ``sum_k theta_k x_k`` over per-network
  sums (dense-MAC lane-cycles, depthwise lane-cycles, output rows, elements of the
  non-MAC layers: the terms of ``cost_model.lowering.WORK_RULES``) with free coefficients, in
  relative least squares, in-sample and leave-one-network-out, against the cost model as it is;
* **near-twins in the table**: networks with the same operations and parameters within 1% whose
  published FPS differ.

``python -m benchmarks.data_floor`` (about a minute: it builds the networks through the
calibration's cache) prints the section and writes ``## Data floor`` of RESULTS.md
(``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from benchmarks.common import command_line, header, md_table, write_section

SECTION = "Data floor"
FEATURES = ("dense", "depthwise", "rows", "elements")
FEATURE_TEXT = {
    "dense": "dense MACs / 64 (conv, deconv, dense)",
    "depthwise": "depthwise MACs / 64, kernel-scaled as `WORK_RULES` scales them",
    "rows": "output rows (`tensor_rows`)",
    "elements": "elements moved by the other layers (matmul excluded)",
}
# Networks of the table with the same OPs and params within 1% (the table's own columns).
TWINS: tuple[tuple[str, str], ...] = (
    ("yolov6n", "yolov6n_0.2.1"),
    ("dncnn3", "dncnn_color_blind"),
)


def pair_ratio(pub_a: float, pred_a: float, pub_b: float, pred_b: float) -> float:
    """``(pred_a / pub_a) / (pred_b / pub_b)``: how much more one row of a pair is over-predicted
    than the other. A model whose two predictions keep a fixed ratio (the same work on two chips)
    cannot move it.

    >>> pair_ratio(100.0, 80.0, 50.0, 50.0)
    0.8
    >>> pair_ratio(100.0, 160.0, 50.0, 80.0)
    1.0
    """
    return (pred_a / pub_a) / (pred_b / pub_b)


def pair_floor(log_ratios: Sequence[float]) -> float:
    """The smallest median |error| two rows of each pair can share: each pair split evenly, each
    row off by ``exp(|log ratio| / 2) - 1``; the median over all rows of the pairs.

    >>> round(pair_floor([math.log(1.21), 0.0]), 4)
    0.05
    """
    return statistics.median(math.exp(abs(r) / 2) - 1 for r in log_ratios)


def fit_relative(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Non-negative ``theta`` minimising ``sum ((x @ theta) / y - 1) ** 2`` (relative least
    squares): ordinary least squares on the rows divided by ``y``, the columns with a negative
    coefficient dropped and the rest refitted until none is negative.

    >>> x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> [round(float(t), 6) for t in fit_relative(x, x @ np.array([2.0, 3.0]))]
    [2.0, 3.0]
    """
    a = x / y[:, None]
    b = np.ones(len(y))
    active = list(range(x.shape[1]))
    theta = np.zeros(x.shape[1])
    while active:
        sol, *_ = np.linalg.lstsq(a[:, active], b, rcond=None)
        if (sol >= 0).all():
            theta[active] = sol
            break
        active = [c for c, s in zip(active, sol, strict=True) if s > 0]
    return theta


def leave_one_group_out(x: np.ndarray, y: np.ndarray, groups: Sequence[str]) -> np.ndarray:
    """|error| of each row under the fit without its group (its network's rows).

    >>> x = np.array([[1.0], [1.0], [1.0]])
    >>> [round(float(e), 3) for e in leave_one_group_out(x, np.array([1.0, 1.0, 2.0]), "aab")]
    [0.5, 0.5, 1.0]
    """
    errors = np.zeros(len(y))
    names = list(groups)
    for name in sorted(set(names)):
        out = np.array([g == name for g in names])
        theta = fit_relative(x[~out], y[~out])
        errors[out] = np.abs(y[out] / (x[out] @ theta) - 1)
    return errors


def relative_errors(pred: np.ndarray, pub: np.ndarray) -> np.ndarray:
    """``|pub / pred - 1|`` per row: for work budgets (SC-cycles per frame, ``pred`` the model's,
    ``pub`` the published FPS's) this is the row's |FPS error|.

    >>> [round(float(e), 3) for e in relative_errors(np.array([1.0, 4.0]), np.array([2.0, 2.0]))]
    [1.0, 0.5]
    """
    return np.abs(pub / pred - 1)


# -- the rows ------------------------------------------------------------------------------------
def work_features(layers: Sequence, hw) -> dict[str, float]:
    """Per-network sums of the work terms ``cost_model.lowering`` prices (``FEATURES``)."""
    from cost_model.layer import OpKind, num_elements
    from cost_model.lowering import REFERENCE_DW_TAPS, tensor_rows

    dense = (OpKind.CONV, OpKind.DECONV, OpKind.DENSE)
    own = (*dense, OpKind.DWCONV, OpKind.MATMUL)
    lane = hw.macs_per_sc_per_cycle
    return {
        "dense": sum(lay.macs for lay in layers if lay.op in dense) / lane,
        "depthwise": sum(
            lay.macs
            * (REFERENCE_DW_TAPS / (lay.kernel[0] * lay.kernel[1]))
            ** (1.0 - hw.dwconv_kernel_exponent)
            for lay in layers
            if lay.op is OpKind.DWCONV
        )
        / lane,
        "rows": float(sum(tensor_rows(lay.output_shape) for lay in layers)),
        "elements": float(
            sum(
                max(lay.output_elements, sum(num_elements(s) for s in lay.input_shapes))
                for lay in layers
                if lay.op not in own
            )
        ),
    }


def compute_bound_rows(cache: Path) -> list[dict]:
    """The published single-context rows that ctxfit also answers with one context set by its
    compute cap, each with its measured and modelled work budget and its features."""
    from benchmarks.calibrate import _pcie, load_networks, load_rows, plan_rows
    from cost_model.context import context_fit
    from cost_model.hardware import preset
    from cost_model.throughput import fps_at_batch
    from partitioner.flows import FLOW_PARAMS, resolve_flow

    rows = load_rows()
    nets, _ = load_networks({r.network for r in rows}, cache)
    rows = [r for r in rows if r.network in nets and r.single]
    out = []
    for plan in plan_rows(rows, nets, [FLOW_PARAMS.implicit_compression]):
        hw = preset(plan.row.device)
        flow = resolve_flow(plan.script, params=FLOW_PARAMS)
        arr = next(iter(plan.arrays.values()))
        if flow.target_fps is not None or plan.fixed_contexts not in (None, 1):
            continue
        whole = context_fit(arr.pairs, hw, flow.single_caps, base_caps=flow.single_base_caps)
        fit = context_fit(arr.pairs, hw, flow.single_fps_caps)
        if not (whole.fits and fit.fits) or fit.binding != "subclusters":
            continue
        timing = fit.timing(**_pcie(arr, hw, 0, len(arr.pairs) - 1))
        if fps_at_batch([timing], 1, hw) < timing.compute_fps * (1 - 1e-9):
            continue  # a PCIe floor, not compute
        budget = fit.limits.subclusters * hw.clock_hz
        out.append(
            {
                "device": plan.row.device,
                "network": plan.row.network,
                "y": budget / plan.row.fps_b1,
                "model": budget / timing.compute_fps,
                **work_features([layer for layer, _ in arr.pairs], hw),
            }
        )
    return out


def twin_rows() -> list[list[object]]:
    """The near-twins' published figures (the table's OPs, params and FPS at batch 1)."""
    from partitioner.zoo_scripts import zoo_rows

    table = {(r.device, r.network): r for r in zoo_rows()}
    lines = []
    for a, b in TWINS:
        for device in ("hailo8", "hailo8l"):
            ra, rb = table.get((device, a)), table.get((device, b))
            if ra is None or rb is None:
                continue
            lines.append(
                [
                    f"{a} / {b}",
                    device,
                    f"{ra.ops_g:g} / {rb.ops_g:g}",
                    f"{ra.params_m:g} / {rb.params_m:g}",
                    f"{ra.fps_batch1:g} / {rb.fps_batch1:g}",
                    f"{max(ra.fps_batch1, rb.fps_batch1) / min(ra.fps_batch1, rb.fps_batch1):.2f}",
                ]
            )
    return lines


def section(data: list[dict], argv: Sequence[str] | None) -> list[str]:
    x = np.array([[d[k] for k in FEATURES] for d in data])
    y = np.array([d["y"] for d in data])
    model = np.array([d["model"] for d in data])
    groups = [d["network"] for d in data]
    theta = fit_relative(x, y)
    insample = relative_errors(x @ theta, y)
    loo = leave_one_group_out(x, y, groups)
    current = relative_errors(model, y)

    by_net: dict[str, dict[str, dict]] = {}
    for d in data:
        by_net.setdefault(d["network"], {})[d["device"]] = d
    pairs = sorted(
        (
            math.log(
                pair_ratio(  # FPS is proportional to 1 / work on both sides
                    1 / v["hailo8"]["y"],
                    1 / v["hailo8"]["model"],
                    1 / v["hailo8l"]["y"],
                    1 / v["hailo8l"]["model"],
                )
            ),
            name,
        )
        for name, v in by_net.items()
        if len(v) == 2
    )
    logs = [r for r, _ in pairs]

    def pct(v: float) -> str:
        return f"{100 * v:.1f}%"

    lines = [
        *header(command_line("python -m benchmarks.data_floor", argv)),
        "",
        "Rows: the Model Zoo rows published as one context that ctxfit also answers with one "
        "context whose FPS its compute cap sets (subclusters bind; no layer at its split limit, "
        "no PCIe floor, no required FPS, at the constants in the code). On them the cost "
        "model's FPS is `SC limit x clock / sum of work`, so each row measures a work budget "
        "`y = SC limit x clock / published FPS` in SC-cycles per frame. "
        f"{len(data)} rows on {len(by_net)} networks.",
        "",
        "### The best linear work model against the cost model",
        "",
        "Work fitted as `sum_k theta_k x_k` with free non-negative coefficients, relative least "
        "squares (`fit_relative`); leave-one-network-out refits without the row's network.",
        "",
        *md_table(
            ["work model", "median |error|", "90th percentile", "coefficients"],
            [
                [
                    "ctxfit's cost model (constants in the code)",
                    pct(float(np.median(current))),
                    pct(float(np.percentile(current, 90))),
                    "-",
                ],
                [
                    "best linear, in-sample",
                    pct(float(np.median(insample))),
                    pct(float(np.percentile(insample, 90))),
                    ", ".join(f"{k} {t:.3g}" for k, t in zip(FEATURES, theta, strict=True)),
                ],
                [
                    "best linear, leave-one-network-out",
                    pct(float(np.median(loo))),
                    pct(float(np.percentile(loo, 90))),
                    "-",
                ],
            ],
        ),
        "",
        "Features: " + "; ".join(f"`{k}`: {FEATURE_TEXT[k]}" for k in FEATURES) + ". "
        "(Errors of work budgets, |y / model - 1|: the FPS error of the same row.)",
        "",
        "### The same network on both chips",
        "",
        f"{len(pairs)} networks have such a row on both chips. A work model of the network alone "
        "predicts the same work on both, so the ratio of the two rows' errors "
        "(`pair_ratio`: predicted over published FPS on Hailo-8, divided by the same on "
        "Hailo-8L) does not depend on any work constant: "
        f"median |log ratio| {statistics.median(abs(r) for r in logs):.3f}; split evenly "
        f"between the two rows, the median row is still {pct(pair_floor(logs))} off "
        "(`pair_floor`), before any error of the network's own work.",
        "",
        *md_table(
            ["network", "ratio"],
            [[name, f"{math.exp(r):.2f}"] for r, name in pairs],
        ),
        "",
        "### Near-twins in the table",
        "",
        *md_table(["networks", "device", "OPs G", "params M", "FPS batch 1", "ratio"], twin_rows()),
        "",
        "Reading: the cost model is already at the best a linear work model of these terms "
        "reaches on these rows; what is left is not in its constants. What would decide more: "
        "per-layer profiler rates (the compiler's SC allocation per layer) of a few of the rows "
        "with the largest ratios above.",
    ]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.data_floor", description=__doc__)
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path("/tmp/ctxfit-calibrate-cache"),
        help="folder for imported layer graphs, shared with benchmarks.calibrate",
    )
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    data = compute_bound_rows(args.cache)
    body = section(data, argv)
    body.append("")
    body.append(f"Wall time {time.perf_counter() - t0:.0f} s.")
    print("\n".join(body))
    if not args.no_write:
        write_section(SECTION, body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
