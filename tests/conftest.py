"""Shared test setup: the network disk cache (partitioner.netcache) is never the user's.

``CTXFIT_CACHE_DIR`` (inherited by subprocesses) points at a session directory from the start,
so module- and session-scoped fixtures that load zoo models stay out of ``~/.cache``; each test
then gets an empty directory of its own, so every test imports as if the cache were cold.
``CTXFIT_NO_CACHE`` from the caller's shell is removed, so the cache tests see the cache enabled.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def _session_network_cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CTXFIT_CACHE_DIR", str(tmp_path_factory.mktemp("netcache-session")))
        patch.delenv("CTXFIT_NO_CACHE", raising=False)
        yield


@pytest.fixture(autouse=True)
def _private_network_cache(monkeypatch, tmp_path_factory):
    monkeypatch.setenv("CTXFIT_CACHE_DIR", str(tmp_path_factory.mktemp("netcache")))
