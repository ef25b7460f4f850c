"""The CLI end to end: `squall run` on the embedded default, and the CLI's errors."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

from tests.conftest import CACHE, ROOT, needs_root

pytestmark = [pytest.mark.runtime, pytest.mark.timeout(600)]


def squall(*args: str, home: pathlib.Path, extra_env: dict | None = None, cwd=ROOT) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SQUALL_")}
    env.update({"SQUALL_HOME": str(home), "SQUALL_CACHE_HOME": str(CACHE), **(extra_env or {})})
    return subprocess.run([sys.executable, "-m", "squall.cli.main", *args], env=env, capture_output=True, text=True, timeout=540, cwd=cwd)


@pytest.mark.parametrize("runtime", ["runc", "gvisor"])
def test_squall_run_hello_on_the_embedded_default(tmp_path, runtime):
    needs_root()
    r = squall("run", "examples/hello.py", "--n", "20", home=tmp_path, extra_env={"SQUALL_RUNTIME": runtime})
    assert r.returncode == 0, r.stderr
    assert "square(7) = 49" in r.stdout
    assert "sum of squares below 20 = 2470" in r.stdout
    assert "Hi, Ada! (call 1 in this container)" in r.stdout
    assert "Hi, Grace! (call 2 in this container)" in r.stdout
    # the container's own print comes back, prefixed by function and container
    assert any(line.startswith("[where_am_i ta-") and "running in" in line for line in r.stdout.splitlines())


MODAL_APP = '''
import modal

app = modal.App("modal-compat")

@app.function()
def double(x: int) -> int:
    return 2 * x

@app.local_entrypoint()
def main(x: int = 4):
    print("double:", double.remote(x))
'''


def test_an_unmodified_modal_file_runs_and_names_are_checked(tmp_path):
    needs_root()
    app_file = tmp_path / "modal_app.py"
    app_file.write_text(MODAL_APP)
    r = squall("run", str(app_file), "--x", "21", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "double: 42" in r.stdout
    r = squall("run", f"{app_file}::double", "--x", "5", home=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "10" in r.stdout
    r = squall("run", f"{app_file}::nope", home=tmp_path)
    assert r.returncode == 1
    assert "no entrypoint, function or method named 'nope'; choose one of: double, main" in r.stderr


def test_missing_runtime_binary_says_how_to_install(tmp_path):
    needs_root()
    app_file = tmp_path / "modal_app.py"
    app_file.write_text(MODAL_APP)
    r = squall("run", str(app_file), home=tmp_path, extra_env={"SQUALL_RUNTIME": "runc", "PATH": "/nonexistent"})
    assert r.returncode == 1
    assert "runc" in r.stderr and "install" in r.stderr


def test_cli_against_a_long_lived_server(cluster, tmp_path):
    app_file = tmp_path / "modal_app.py"
    app_file.write_text(MODAL_APP)
    r = cluster.squall("run", str(app_file))
    assert r.returncode == 0, r.stderr
    listing = cluster.squall("app", "list")
    assert "modal-compat" in listing.stdout and "stopped" in listing.stdout
    logs = cluster.squall("app", "logs", "modal-compat")
    assert logs.returncode == 0
    containers = cluster.squall("container", "list", "--all")
    assert "double" in containers.stdout
