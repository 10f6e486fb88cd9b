"""The disk cache of imported zoo networks (partitioner.netcache): hits equal fresh imports and
import no torch; a changed key or source misses; a bad file or directory never breaks a load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import partitioner.zoo
from partitioner import netcache
from partitioner.errors import UsageError
from partitioner.models import ModelRequest, load_network

ROOT = Path(__file__).resolve().parent.parent
SMALL = ModelRequest(spec="squeezenet", width=0.5, resolution=64)


@pytest.fixture
def builds(monkeypatch):
    """Count the zoo builds (cache misses)."""
    calls: list[str] = []
    real = partitioner.zoo.build_module

    def counting(name, **knobs):
        calls.append(name)
        return real(name, **knobs)

    monkeypatch.setattr(partitioner.zoo, "build_module", counting)
    return calls


def cache_files() -> list[Path]:
    return sorted(Path(os.environ["CTXFIT_CACHE_DIR"]).glob("*"))


def fresh_import(request: ModelRequest):
    from partitioner.importers.torch_fx import import_module

    module, shape = partitioner.zoo.build_module(
        "squeezenet_v1.1", width=request.width, resolution=request.resolution
    )
    return import_module(module, shape, name="squeezenet_v1.1")


def test_a_hit_equals_a_fresh_import(builds):
    first = load_network(SMALL)
    [path] = cache_files()
    assert path.name.startswith("squeezenet_v1.1-") and path.suffix == ".json"
    second = load_network(SMALL)
    assert builds == ["squeezenet_v1.1"]
    fresh = fresh_import(SMALL)
    assert second.to_json() == first.to_json() == fresh.to_json()
    assert second == fresh
    assert second.topological_order() == fresh.topological_order()


def test_the_published_knobs_share_one_entry(builds):
    load_network(ModelRequest(spec="squeezenet_v1.1", resolution=64))
    load_network(ModelRequest(spec="SqueezeNet", width=1.0, input_shape=(1, 3, 64, 64)))
    assert builds == ["squeezenet_v1.1"]
    assert len(cache_files()) == 1


def test_a_hit_does_not_import_torch():
    load_network(SMALL)  # warm the cache of this test
    code = (
        "import sys; from partitioner.models import ModelRequest, load_network; "
        "net = load_network(ModelRequest(spec='squeezenet', width=0.5, resolution=64)); "
        "print(len(net), 'torch' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert out.stdout.split() == [str(len(load_network(SMALL))), "False"]


def test_another_width_misses(builds):
    load_network(SMALL)
    load_network(ModelRequest(spec="squeezenet", width=0.75, resolution=64))
    assert builds == ["squeezenet_v1.1"] * 2
    assert len(cache_files()) == 2


def test_changed_sources_miss(builds, monkeypatch):
    load_network(SMALL)
    monkeypatch.setattr(netcache, "source_hash", lambda: "edited")
    load_network(SMALL)
    load_network(SMALL)
    assert builds == ["squeezenet_v1.1"] * 2


def test_the_source_hash_covers_the_import_path():
    listed = {
        p.relative_to(netcache.ROOT).as_posix()
        for g in netcache.SOURCES
        for p in netcache.ROOT.glob(g)
    }
    for needed in (
        "partitioner/zoo/__init__.py",
        "partitioner/zoo/yolo.py",
        "partitioner/importers/torch_fx.py",
        "partitioner/importers/builder.py",
        "partitioner/graph.py",
        "partitioner/models.py",
        "cost_model/layer.py",
    ):
        assert needed in listed
    assert len(netcache.source_hash()) == 64


@pytest.mark.parametrize("garbage", ["", "{not json", '{"key": {}, "network": {}}', "[1, 2]"])
def test_a_corrupt_file_is_rebuilt(builds, garbage):
    good = load_network(SMALL)
    [path] = cache_files()
    path.write_text(garbage)
    assert load_network(SMALL) == good
    assert builds == ["squeezenet_v1.1"] * 2
    assert load_network(SMALL) == good  # rewritten: a hit again
    assert len(builds) == 2
    assert not [p for p in cache_files() if p.suffix == ".tmp"]


def test_a_right_key_with_a_broken_network_is_rebuilt(builds):
    good = load_network(SMALL)
    [path] = cache_files()
    data = json.loads(path.read_text())
    data["network"]["layers"][0]["op"] = "no-such-op"
    path.write_text(json.dumps(data))
    assert load_network(SMALL) == good
    assert load_network(SMALL) == good
    assert builds == ["squeezenet_v1.1"] * 2


def test_an_unwritable_directory_means_no_cache(builds, monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("CTXFIT_CACHE_DIR", str(blocker / "cache"))  # mkdir fails, even as root
    assert load_network(SMALL) == load_network(SMALL)
    assert builds == ["squeezenet_v1.1"] * 2


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root writes anyway")
def test_a_read_only_directory_means_no_cache(builds, tmp_path, monkeypatch):
    monkeypatch.setenv("CTXFIT_CACHE_DIR", str(tmp_path))
    tmp_path.chmod(0o500)
    try:
        assert len(load_network(SMALL)) > 0
    finally:
        tmp_path.chmod(0o700)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("value", ["1", "yes"])
def test_ctxfit_no_cache_disables_it(builds, monkeypatch, value):
    monkeypatch.setenv("CTXFIT_NO_CACHE", value)
    load_network(SMALL)
    load_network(SMALL)
    assert builds == ["squeezenet_v1.1"] * 2
    assert cache_files() == []


def test_files_are_not_cached(tmp_path):
    saved = tmp_path / "net.json"
    load_network(SMALL).save(saved)
    [entry] = cache_files()
    load_network(ModelRequest(spec=str(saved)))
    assert cache_files() == [entry]


def test_a_bad_knob_fails_before_the_cache(builds):
    with pytest.raises(UsageError, match="no depth knob"):
        load_network(ModelRequest(spec="squeezenet", depth=2.0))
    assert builds == [] and cache_files() == []


def test_where_the_cache_lives(monkeypatch, tmp_path):
    monkeypatch.setenv("CTXFIT_CACHE_DIR", str(tmp_path / "mine"))
    assert netcache.cache_dir() == tmp_path / "mine"
    monkeypatch.setenv("CTXFIT_CACHE_DIR", "")  # empty: unset
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert netcache.cache_dir() == tmp_path / "xdg" / "ctxfit" / "networks"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # ignored, as the XDG spec says
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert netcache.cache_dir() == tmp_path / "home" / ".cache" / "ctxfit" / "networks"
    monkeypatch.setenv("CTXFIT_NO_CACHE", "0")
    assert netcache.cache_dir() is not None
    monkeypatch.setenv("CTXFIT_NO_CACHE", "1")
    assert netcache.cache_dir() is None
