"""The data-floor benchmark's helpers (benchmarks/data_floor.py): hand-computed values."""

from __future__ import annotations

import doctest
import math
from dataclasses import replace

import numpy as np
import pytest

import benchmarks.data_floor as data_floor
from cost_model.hardware import preset
from cost_model.layer import Layer, OpKind


def test_docstring_examples():
    result = doctest.testmod(data_floor)
    assert result.attempted >= 6 and result.failed == 0


def test_pair_ratio_is_blind_to_a_common_work_factor():
    # the same network over-priced by 1.3x on both chips: the ratio does not see it
    assert data_floor.pair_ratio(100.0, 100.0 / 1.3, 40.0, 40.0 / 1.3) == pytest.approx(1.0)
    # Hailo-8 right, Hailo-8L predicted at half the published FPS
    assert data_floor.pair_ratio(100.0, 100.0, 40.0, 20.0) == pytest.approx(2.0)


def test_pair_floor_splits_each_pair_evenly():
    # ratios 4 and 1/4: each row of either pair is off by sqrt(4) - 1 = 100%; ratio 1: 0%
    logs = [math.log(4.0), -math.log(4.0), 0.0]
    assert data_floor.pair_floor(logs) == pytest.approx(1.0)


def test_fit_relative_recovers_exact_coefficients():
    rng = np.random.default_rng(0)
    x = rng.uniform(1.0, 10.0, size=(12, 3))
    theta = np.array([0.5, 2.0, 7.0])
    assert data_floor.fit_relative(x, x @ theta) == pytest.approx(theta)


def test_fit_relative_drops_a_negative_coefficient():
    # y grows with the first column only; the second column is anti-correlated noise that plain
    # least squares would give a negative weight
    x = np.array([[1.0, 3.0], [2.0, 2.0], [3.0, 1.0], [4.0, 0.5]])
    y = np.array([1.0, 2.1, 3.2, 4.4])
    ols, *_ = np.linalg.lstsq(x / y[:, None], np.ones(4), rcond=None)
    assert ols[1] < 0
    theta = data_floor.fit_relative(x, y)
    assert theta[1] == 0.0 and theta[0] > 0


def test_leave_one_group_out_refits_without_the_group():
    x = np.ones((4, 1))
    y = np.array([1.0, 1.0, 3.0, 3.0])  # groups a, a, b, b
    errors = data_floor.leave_one_group_out(x, y, ["a", "a", "b", "b"])
    # without a the fit is 3 (a's rows: |1/3 - 1|); without b it is 1 (b's rows: |3 - 1|)
    assert errors == pytest.approx([2 / 3, 2 / 3, 2.0, 2.0])


def test_work_features_by_hand():
    hw = replace(preset("hailo8"), dwconv_kernel_exponent=0.5)
    conv = Layer(
        name="c",
        op=OpKind.CONV,
        inputs=("x",),
        input_shapes=((8, 10, 10),),
        output_shape=(16, 10, 10),
        kernel=(3, 3),
        stride=(1, 1),
        params=1152,
        macs=115200,
    )
    dw = Layer(
        name="d",
        op=OpKind.DWCONV,
        inputs=("c",),
        input_shapes=((16, 10, 10),),
        output_shape=(16, 5, 5),
        kernel=(5, 5),
        stride=(2, 2),
        params=400,
        macs=10000,
    )
    add = Layer(
        name="a",
        op=OpKind.ADD,
        inputs=("d", "d"),
        input_shapes=((16, 5, 5), (16, 5, 5)),
        output_shape=(16, 5, 5),
    )
    f = data_floor.work_features([conv, dw, add], hw)
    assert f["dense"] == pytest.approx(115200 / 64)
    assert f["depthwise"] == pytest.approx(10000 * (9 / 25) ** 0.5 / 64)  # 10000 x 0.6 / 64
    assert f["rows"] == 10 + 5 + 5
    assert f["elements"] == 800  # the add reads 2 x 400 elements, writes 400
