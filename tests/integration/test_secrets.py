"""Secrets end to end on runc: created with the CLI, injected only where asked for, and never
leaked into stored logs, `squall app logs`, `squall secret list` or the state database."""

from __future__ import annotations

import hashlib
import time

import pytest

from squall.exception import InvalidError
from tests.apps import secrets as apps
from tests.conftest import make_cluster, needs_root, using

pytestmark = [pytest.mark.runtime, pytest.mark.integration, pytest.mark.timeout(600)]

VALUE = "s3cr3t-value"


@pytest.fixture(scope="module")
def runc_cluster(tmp_path_factory):
    needs_root()
    c = make_cluster(tmp_path_factory, "runc")
    out = c.squall("secret", "create", "api", f"TOKEN={VALUE}", "OTHER=x")
    assert out.returncode == 0, out.stderr
    assert VALUE not in out.stdout + out.stderr
    yield c
    c.stop()


@pytest.fixture
def sdk(runc_cluster, monkeypatch):
    yield from using(runc_cluster, monkeypatch)


def test_only_the_functions_that_ask_see_the_secret(sdk):
    with apps.app.run():
        assert apps.token_digest.remote() == hashlib.sha256(VALUE.encode()).hexdigest()
        assert apps.no_token.remote() == (None, None)
        assert apps.inline_value.remote() == "inline-value"
    out = sdk.squall("secret", "list")
    assert out.returncode == 0, out.stderr
    assert "api" in out.stdout and "TOKEN" in out.stdout and VALUE not in out.stdout
    assert "inline" not in out.stdout.lower()  # the from_dict secret is ephemeral: not listed, and deleted with its app


def test_missing_required_keys_fail_before_any_container_starts(sdk):
    from squall._proto.squall.v1 import api_pb2
    from squall.client.client import get_client
    from squall.sdk._sync import run_sync

    async def containers() -> int:
        return len((await (await get_client()).call("ContainerList", api_pb2.ContainerListRequest())).containers)

    before = run_sync(containers())
    started = time.monotonic()
    with pytest.raises(InvalidError, match="secret 'api' is missing the required keys NOT_THERE") as exc:
        with apps.needs_missing.run():
            apps.never_runs.remote()
    assert time.monotonic() - started < 5
    assert VALUE not in str(exc.value)
    assert run_sync(containers()) == before


def test_the_value_never_leaks(sdk):
    with apps.app.run():
        with pytest.raises(Exception) as exc:
            apps.leak.remote()
        app_id = apps.app.app_id
    assert VALUE not in str(exc.value) and "***" in str(exc.value)

    deadline = time.monotonic() + 10
    while True:  # the printed line reaches the store shortly after the call returns
        out = sdk.squall("app", "logs", app_id)
        assert out.returncode == 0, out.stderr
        if "the token is ***" in out.stdout or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "the token is ***" in out.stdout
    assert VALUE not in out.stdout + out.stderr

    out = sdk.squall("secret", "list")
    assert VALUE not in out.stdout + out.stderr

    db = [p for p in (sdk.home / "server").iterdir() if p.name.startswith("state.db")]
    assert db
    for path in db:
        assert VALUE.encode() not in path.read_bytes(), path.name
