"""Fixtures for the runtime tests of one module: clusters made when a test first asks for them."""

from __future__ import annotations

import pytest

from tests.conftest import Cluster, needs_root, using


@pytest.fixture(scope="module")
def clusters(request, tmp_path_factory):
    """`clusters(runtime)`: this module's server and worker for `runtime`, started on first use,
    with the module's CLUSTER_ENV (if it has one) in their environment."""
    needs_root()
    env = getattr(request.module, "CLUSTER_ENV", {})
    made: dict[str, Cluster] = {}

    def make(runtime: str) -> Cluster:
        if runtime not in made:
            c = made[runtime] = Cluster(tmp_path_factory.mktemp(f"cluster-{runtime}"), runtime)
            c.env.update(env)
            c.start_server()
            c.start_worker()
        return made[runtime]

    yield make
    for c in made.values():
        c.stop()


@pytest.fixture(params=["gvisor", "runc"])
def any_runtime(request, clusters, monkeypatch):
    """The test runs once per isolating runtime, talking to its cluster; yields the runtime's name."""
    for _ in using(clusters(request.param), monkeypatch):
        yield request.param


@pytest.fixture
def gvisor(clusters, monkeypatch):
    """The test talks to this module's gVisor cluster; yields it."""
    yield from using(clusters("gvisor"), monkeypatch)
