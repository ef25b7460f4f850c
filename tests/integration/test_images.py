"""Images end to end: real builds on a real server and runc worker, driven through the CLI and SDK.

The module's worker has a layer cache of its own (the debian_slim base is shared with the
other tests through a symlink), so "nothing cached yet" and `squall image gc` are about
this module's layers only.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import threading

import pytest

from squall._proto.squall.v1 import api_pb2
from squall.images import recipe
from tests.conftest import CACHE, ROOT, Cluster, needs_root
from tests.integration.test_registry import PASSWORD, USER, Registry, require_tools

pytestmark = [pytest.mark.runtime, pytest.mark.integration, pytest.mark.timeout(900)]

APP_SOURCE = (ROOT / "tests" / "apps" / "images.py").read_text()


@pytest.fixture(scope="module")
def images_cluster(tmp_path_factory):
    needs_root()
    home = tmp_path_factory.mktemp("images-cluster")
    cache = home / "cache"
    (cache / "images").parent.mkdir(parents=True)
    (CACHE / "images").mkdir(parents=True, exist_ok=True)
    (cache / "images").symlink_to(CACHE / "images")  # the mmdebstrap base, built once per machine
    c = Cluster(home, "runc")
    c.env["SQUALL_CACHE_HOME"] = str(cache)
    c.cache = cache
    c.start_server()
    c.start_worker()
    yield c
    c.stop()


def write_app(directory: pathlib.Path, marker: str = "first") -> pathlib.Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "data").mkdir(exist_ok=True)
    (directory / "data" / "x.txt").write_text("x-data\n")
    (directory / "data" / "ignored.skip").write_text("must not be attached\n")
    (directory / "app.conf").write_text("conf=1\n")
    (directory / "mylib").mkdir(exist_ok=True)
    (directory / "mylib" / "__init__.py").write_text("VALUE = 'from-mylib'\n")
    path = directory / "images_app.py"
    path.write_text(APP_SOURCE.replace('MARKER = "first"', f"MARKER = {marker!r}"))
    return path


def probe(result) -> dict:
    lines = [line for line in result.stdout.splitlines() if line.startswith("PROBE ")]
    assert result.returncode == 0 and lines, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-4000:]}"
    return json.loads(lines[-1].removeprefix("PROBE "))


def build_lines(result) -> list[str]:
    return [line for line in result.stderr.splitlines() if line.startswith("[build ")]


def test_every_step_kind_ends_up_in_the_container(images_cluster, tmp_path):
    app = write_app(tmp_path / "app")
    first = images_cluster.squall("run", str(app), cwd=app.parent, timeout=900)
    seen = probe(first)
    assert seen.pop("six").startswith("1.") and seen.pop("toolz").count(".") >= 1
    assert seen == {
        "jq": "jq-1.6",
        "built": "first",
        "greeting": "hi",
        "cwd": "/work",
        "run_function": "from-fn",
        "app_conf": "conf=1",
        "data": ["x.txt"],  # the ignored file is not attached
        "data_x": "x-data",
        "mylib": "from-mylib",
    }
    # The build streamed its log live: each step and the commands it ran.
    log = "\n".join(build_lines(first))
    for expected in ("=> step 1/6 apt_install(jq)", "$ python3 -m pip install --no-cache-dir six", "$ echo first > /built.txt", "run_function(write_marker)"):
        assert expected in log

    # A second run builds nothing, and editing a copy=False file rebuilds no layer.
    (app.parent / "data" / "x.txt").write_text("x-data-2\n")
    second = images_cluster.squall("run", str(app), cwd=app.parent)
    assert probe(second)["data_x"] == "x-data-2"
    assert build_lines(second) == []

    # Changing one step rebuilds that step and the ones after it, nothing before.
    app = write_app(tmp_path / "app", marker="second")
    third = images_cluster.squall("run", str(app), cwd=app.parent, timeout=900)
    assert probe(third)["built"] == "second"
    log = "\n".join(build_lines(third))
    assert "step 1/6 apt_install(jq): cached" in log
    assert "step 2/6 pip_install(six): cached" in log and "step 3/6 uv_pip_install(toolz): cached" in log
    assert "$ echo second > /built.txt" in log
    assert "step 4/6 run_commands(echo second > /built.txt; mkdir -p /work)" in log
    assert "step 4/6 run_commands(echo second > /built.txt; mkdir -p /work): cached" not in log
    assert "step 5/6 run_function(write_marker): cached" not in log  # above the changed step


def test_images_share_layers_and_layers_travel_through_the_blob_store(images_cluster, tmp_path, monkeypatch):
    images_cluster.use_in_this_process(monkeypatch)
    import squall
    from squall.client.client import get_client
    from squall.sdk._sync import run_sync

    base = squall.Image.debian_slim().run_commands("echo shared > /shared.txt")
    one = base.run_commands("echo one > /which.txt")
    two = base.run_commands("echo two > /which.txt")

    async def build(image):
        return await image._build(await get_client())

    one_id = run_sync(build(one))[0]
    run_sync(build(two))
    plan_one = recipe.plan({"base": one._base, "steps": list(one._steps)})
    plan_two = recipe.plan({"base": two._base, "steps": list(two._steps)})
    assert plan_one.layer_ids[:2] == plan_two.layer_ids[:2] and plan_one.layer_ids[2] != plan_two.layer_ids[2]
    layers = images_cluster.cache / "layers"
    for layer_id in set(plan_one.layer_ids[1:] + plan_two.layer_ids[1:]):
        assert (layers / layer_id / "fs").is_dir()
    assert (layers / plan_one.layer_ids[1] / "fs" / "shared.txt").read_text() == "shared\n"  # on disk once, under both

    # Without the worker's copy, a container of the image (used by id) fetches its layers from the blob store.
    for layer_id in plan_one.layer_ids[1:]:
        shutil.rmtree(layers / layer_id)
    app_dir = tmp_path / "fetch"
    app_dir.mkdir()
    (app_dir / "fetch_app.py").write_text(
        "import squall\n"
        f"image = squall.Image.from_id({one_id!r})\n"
        "app = squall.App('fetch', image=image)\n"
        "@app.function()\n"
        "def f():\n"
        "    return open('/shared.txt').read() + open('/which.txt').read()\n"
    )
    result = images_cluster.squall("run", str(app_dir / "fetch_app.py"), cwd=app_dir)
    assert result.returncode == 0, result.stderr
    assert "shared\none" in result.stdout
    assert build_lines(result) == []  # fetched, not built
    assert (layers / plan_one.layer_ids[2] / "fs" / "which.txt").read_text() == "one\n"


def test_a_failing_step_says_what_failed_and_caches_nothing(images_cluster, tmp_path):
    app_dir = tmp_path / "failing"
    app_dir.mkdir()
    (app_dir / "failing_app.py").write_text(
        "import squall\n"
        "image = squall.Image.debian_slim().run_commands('echo ok > /ok.txt').run_commands('echo about to fail; echo on stderr >&2; exit 3')\n"
        "app = squall.App('failing', image=image)\n"
        "@app.function()\n"
        "def f():\n"
        "    return 1\n"
    )
    for attempt in range(2):
        result = images_cluster.squall("run", str(app_dir / "failing_app.py"), cwd=app_dir)
        assert result.returncode == 1
        err = result.stderr
        assert "image build failed at step 2 (run_commands(echo about to fail; echo on stderr >&2; exit 3))" in err
        assert "`echo about to fail; echo on stderr >&2; exit 3` exited with code 3" in err
        assert "  | about to fail" in err and "  | on stderr" in err
        log = "\n".join(build_lines(result))
        # The step that failed is built again on the next run: it was never cached.
        assert "step 2/2 run_commands(echo about to fail" in log and "step 2/2 run_commands(echo about to fail; echo on stderr >&2; exit 3): cached" not in log
        if attempt == 1:
            assert "step 1/2 run_commands(echo ok > /ok.txt): cached" in log
    listing = images_cluster.squall("image", "list")
    assert "failed" in listing.stdout


def test_a_package_that_does_not_exist_fails_the_build(images_cluster, tmp_path):
    app_dir = tmp_path / "nopkg"
    app_dir.mkdir()
    (app_dir / "nopkg_app.py").write_text(
        "import squall\n"
        "image = squall.Image.debian_slim().pip_install('squall-test-no-such-package-zzz')\n"
        "app = squall.App('nopkg', image=image)\n"
        "@app.function()\n"
        "def f():\n"
        "    return 1\n"
    )
    result = images_cluster.squall("run", str(app_dir / "nopkg_app.py"), cwd=app_dir, timeout=600)
    assert result.returncode == 1
    assert "image build failed at step 1 (pip_install(squall-test-no-such-package-zzz))" in result.stderr
    assert "No matching distribution found for squall-test-no-such-package-zzz" in result.stderr


def test_concurrent_builds_of_one_image_build_once(images_cluster, monkeypatch):
    images_cluster.use_in_this_process(monkeypatch)
    import squall
    from squall.client.client import get_client
    from squall.sdk._sync import run_sync

    image = squall.Image.debian_slim().run_commands(f"sleep 2; echo {os.getpid()} > /concurrent.txt")

    async def stream():
        client = await get_client()
        request = api_pb2.ImageBuildRequest(recipe_json=await image._recipe(client))
        return [event async for event in client.stream("ImageBuild", request)]

    results: list = [None, None]

    def go(i):
        results[i] = run_sync(stream())

    threads = [threading.Thread(target=go, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    done = [r[-1].done for r in results]
    assert done[0].image_id == done[1].image_id and done[0].status == "ready"
    assert not done[0].cached and not done[1].cached  # both joined the one build...
    logs = [[e.log for e in r if e.WhichOneof("event") == "log"] for r in results]
    assert logs[0] == logs[1]  # ...and saw the same log from its start
    assert sum("$ sleep 2" in line for line in logs[0]) == 1


def test_image_build_list_and_gc_commands(images_cluster, tmp_path):
    app_dir = tmp_path / "cli"
    app_dir.mkdir()
    (app_dir / "cli_app.py").write_text(
        "import squall\n"
        "image = squall.Image.debian_slim().run_commands('echo gc-me > /gc.txt')\n"
        "app = squall.App('cli', image=image)\n"
    )
    built = images_cluster.squall("image", "build", str(app_dir / "cli_app.py") + "::image", cwd=app_dir)
    assert built.returncode == 0, built.stderr
    assert "is ready" in built.stdout + built.stderr
    image_id = next(w for w in (built.stdout + built.stderr).split() if w.startswith("im-"))
    plan = recipe.plan({"base": {"kind": "debian_slim", "python_version": "3.11", "force_build": False},
                        "steps": [{"op": "run_commands", "commands": ["echo gc-me > /gc.txt"], "force_build": False}]})
    assert plan.image_id == image_id
    layer = images_cluster.cache / "layers" / plan.layer_ids[1]
    assert layer.is_dir()
    listing = images_cluster.squall("image", "list")
    assert image_id in listing.stdout and "ready" in listing.stdout

    again = images_cluster.squall("image", "build", str(app_dir / "cli_app.py") + "::nothing", cwd=app_dir)
    assert again.returncode == 1 and "no image, app, function or class named 'nothing'" in again.stderr and "image" in again.stderr

    gc = images_cluster.squall("image", "gc")
    assert gc.returncode == 0, gc.stderr
    assert "removed" in gc.stdout
    listing = images_cluster.squall("image", "list")
    assert image_id not in listing.stdout
    for _ in range(100):  # the worker drops its copy when the gc command reaches it
        if not layer.exists():
            break
        threading.Event().wait(0.05)
    assert not layer.exists()


def test_registry_and_dockerfile_images(images_cluster, tmp_path):
    require_tools()
    from squall.images.base import ensure_debian_slim
    from squall.images.registry import ImageConfig, push_dir_as_image

    (tmp_path / "registry").mkdir()
    registry = Registry(tmp_path / "registry", auth=False)
    try:
        rootfs = tmp_path / "rootfs"
        subprocess.run(["cp", "-a", str(ensure_debian_slim(CACHE)), str(rootfs)], check=True)  # device nodes and all
        (rootfs / "srv").mkdir(exist_ok=True)
        (rootfs / "srv" / "marker.txt").write_text("from-the-registry\n")
        ref = f"{registry.host}/squall/base:v1"
        push_dir_as_image(rootfs, ref, config=ImageConfig(env=("PATH=/usr/local/bin:/usr/bin:/bin", "FROM_REGISTRY=yes"), working_dir="/srv"))

        app_dir = tmp_path / "reg"
        app_dir.mkdir()
        (app_dir / "hello.txt").write_text("copied\n")
        (app_dir / "Dockerfile").write_text(
            f"FROM {ref}\n"
            "ARG WHO=docker\n"
            "ENV FROM_DOCKERFILE=yes\n"
            "WORKDIR /app\n"
            "COPY hello.txt /app/hello.txt\n"
            "RUN echo built-by-$WHO > /app/run.txt\n"
        )
        (app_dir / "reg_app.py").write_text(
            "import os, pathlib, squall\n"
            f"registry_image = squall.Image.from_registry({ref!r}).run_commands('echo layered > /layered.txt')\n"
            "docker_image = squall.Image.from_dockerfile(pathlib.Path(__file__).parent / 'Dockerfile')\n"
            "app = squall.App('reg')\n"
            "@app.function(image=registry_image)\n"
            "def from_registry():\n"
            "    return [open('/srv/marker.txt').read().strip(), open('/layered.txt').read().strip(), os.environ.get('FROM_REGISTRY'), os.getcwd()]\n"
            "@app.function(image=docker_image)\n"
            "def from_dockerfile():\n"
            "    return [open('/app/hello.txt').read().strip(), open('/app/run.txt').read().strip(), os.environ.get('FROM_DOCKERFILE'), os.getcwd()]\n"
            "@app.local_entrypoint()\n"
            "def main():\n"
            "    print('REG', from_registry.remote())\n"
            "    print('DOCKER', from_dockerfile.remote())\n"
        )
        result = images_cluster.squall("run", str(app_dir / "reg_app.py"), cwd=app_dir, timeout=600)
        assert result.returncode == 0, result.stderr[-4000:]
        assert "REG ['from-the-registry', 'layered', 'yes', '/srv']" in result.stdout
        assert "DOCKER ['copied', 'built-by-docker', 'yes', '/app']" in result.stdout

        # A private registry: credentials come from a Secret, and never show in the log.
        (tmp_path / "private").mkdir()
        private = Registry(tmp_path / "private", auth=True)
        try:
            private_ref = f"{private.host}/squall/private:v1"
            push_dir_as_image(rootfs, private_ref, config=ImageConfig(env=("PATH=/usr/bin:/bin",)), username=USER, password=PASSWORD)
            (app_dir / "private_app.py").write_text(
                "import squall\n"
                "creds = squall.Secret.from_local_environ(['REGISTRY_USERNAME', 'REGISTRY_PASSWORD'])\n"
                f"app = squall.App('private', image=squall.Image.from_registry({private_ref!r}, secret=creds))\n"
                "@app.function()\n"
                "def f():\n"
                "    return open('/srv/marker.txt').read().strip()\n"
                "@app.local_entrypoint()\n"
                "def main():\n"
                "    print('PRIVATE', f.remote())\n"
            )
            images_cluster.env.update(REGISTRY_USERNAME=USER, REGISTRY_PASSWORD=PASSWORD)
            ok = images_cluster.squall("run", str(app_dir / "private_app.py"), cwd=app_dir, timeout=600)
            assert ok.returncode == 0, ok.stderr[-3000:]
            assert "PRIVATE from-the-registry" in ok.stdout and PASSWORD not in ok.stderr
            images_cluster.env["REGISTRY_PASSWORD"] = "wrong-pass-zz"
            images_cluster.env["SQUALL_FORCE_BUILD"] = "1"  # built already; pull it again
            wrong = images_cluster.squall("run", str(app_dir / "private_app.py"), cwd=app_dir)
            assert wrong.returncode == 1 and "wrong-pass-zz" not in wrong.stderr
            assert "rejected the credentials" in wrong.stderr and "REGISTRY_PASSWORD" in wrong.stderr
        finally:
            images_cluster.env.pop("REGISTRY_USERNAME", None)
            images_cluster.env.pop("REGISTRY_PASSWORD", None)
            images_cluster.env.pop("SQUALL_FORCE_BUILD", None)
            private.stop()

        # A registry nobody listens on: the build fails and names it.
        (app_dir / "bad_app.py").write_text(
            "import squall\n"
            "app = squall.App('bad', image=squall.Image.from_registry('127.0.0.1:9/nothing/here:v1'))\n"
            "@app.function()\n"
            "def f():\n"
            "    return 1\n"
        )
        bad = images_cluster.squall("run", str(app_dir / "bad_app.py"), cwd=app_dir)
        assert bad.returncode == 1 and "127.0.0.1:9" in bad.stderr
    finally:
        registry.stop()
