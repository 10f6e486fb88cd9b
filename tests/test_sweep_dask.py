"""``ctxfit sweep --executor dask://HOST:PORT`` against a local Dask cluster on loopback.

The same task function runs on the cluster; its results must equal the local run's exactly
(same CSV text), and must be streamed into the cache (a rerun computes nothing).
"""

from __future__ import annotations

import shutil

import pytest

distributed = pytest.importorskip("distributed")

from cost_model.hardware import load_hardware  # noqa: E402
from partitioner.cli import main  # noqa: E402
from partitioner.sweep import (  # noqa: E402
    CACHE_DIR,
    SweepCache,
    cache_key,
    csv_text,
    plan_sweep,
    run_sweep,
)
from tests.test_sweep import PART  # noqa: E402

TIMEOUT_S = 20.0


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=1,
        threads_per_worker=1,
        processes=False,
        protocol="tcp://",
        host="127.0.0.1",
        dashboard_address=None,
    ) as local_cluster:
        yield local_cluster


@pytest.fixture(scope="module")
def plan():
    # ResNet-18 on Hailo-8L with 32 KiB L3 cuts at 64 px: width 1.0 fits one context, width
    # 1.25 needs several (see tests/test_sweep.py)
    return plan_sweep(
        "resnet_v1_18",
        hardware=[load_hardware(str(PART))],
        widths=(1.0, 1.25),
        resolutions=(64,),
        timeout_s=TIMEOUT_S,
    )


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    return tmp_path_factory.mktemp("dask")


def test_cluster_run_equals_local_run_and_fills_the_cache(cluster, plan, work):
    address = cluster.scheduler_address
    assert address.startswith("tcp://127.0.0.1:")
    executor = address.replace("tcp://", "dask://")
    local = run_sweep(plan, SweepCache(work / "local"), jobs=1)
    cache = SweepCache(work / "dask")
    remote = run_sweep(plan, cache, executor=executor)
    assert (remote.computed, remote.cached, remote.failed) == (2, 0, 0)
    assert [r["num_contexts"] == 1 for r in remote.records] == [True, False]
    assert csv_text(plan, remote) == csv_text(plan, local)
    assert len(cache) == 2
    again = run_sweep(plan, cache, executor=executor)
    assert (again.computed, again.cached) == (0, 2)


def test_cli_on_the_cluster_computes_only_what_is_missing(cluster, plan, work, capsys):
    out = work / "out"
    shutil.copytree(work / "dask", out / CACHE_DIR)
    cache = SweepCache(out / CACHE_DIR)
    cache.path(cache_key(plan.key_data(plan.points()[1], plan.hardware[0]))).unlink()
    executor = cluster.scheduler_address.replace("tcp://", "dask://")
    args = ["sweep", "resnet_v1_18", "--width", "1.0:1.25:0.25", "--res", "64", "--hw"]
    args += [str(PART), "--out", str(out), "--timeout", str(TIMEOUT_S), "--executor", executor]
    assert main(args) == 0
    assert "1 computed, 1 from the cache, 0 failed" in capsys.readouterr().out
    assert len(cache) == 2
    local = run_sweep(plan, SweepCache(work / "local"), jobs=1)  # all cached: no computing
    assert (out / "sweep.csv").read_text() == csv_text(plan, local)
