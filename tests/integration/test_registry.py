"""Registry images against a real registry: Debian's docker-registry on loopback, driven by skopeo and umoci.

Each fixture starts its own `docker-registry serve` on 127.0.0.1 with a free port and a temp
storage dir (never the system service), one of them behind htpasswd auth. Nothing here talks
to a registry off this machine. Ownership round-trips need root, which CI has.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from squall.images.base import ImageBuildError, ensure_debian_slim
from squall.images.registry import ImageConfig, inspect_digest, is_insecure_registry, pull_rootfs, push_dir_as_image, registry_host
from tests.conftest import CACHE, free_port

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

USER, PASSWORD = "squall-user", "pa55-Not-In-Logs"
TOOLS = ("docker-registry", "skopeo", "umoci", "htpasswd")


def require_tools() -> None:
    missing = [t for t in TOOLS if shutil.which(t) is None]
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"CI must have {', '.join(missing)}: run scripts/install-system-deps.sh")
        pytest.skip(f"needs {', '.join(missing)} (scripts/install-system-deps.sh)")


class Registry:
    def __init__(self, root: Path, *, auth: bool):
        self.root = root
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        config = [
            "version: 0.1",
            "log:",
            "  level: warn",
            "storage:",
            "  filesystem:",
            f"    rootdirectory: {root / 'storage'}",
            "http:",
            f"  addr: {self.host}",
        ]
        if auth:
            subprocess.run(["htpasswd", "-Bbc", str(root / "htpasswd"), USER, PASSWORD], check=True, capture_output=True)
            config += ["auth:", "  htpasswd:", "    realm: squall-test", f"    path: {root / 'htpasswd'}"]
        (root / "config.yml").write_text("\n".join(config) + "\n")
        self.log = open(root / "registry.log", "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(["docker-registry", "serve", str(root / "config.yml")], stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://{self.host}/v2/", timeout=1)
                break
            except urllib.error.HTTPError:  # 401 from the auth variant: it answers
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"docker-registry did not start: {(root / 'registry.log').read_text()[-2000:]}") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    require_tools()
    r = Registry(tmp_path_factory.mktemp("registry"), auth=False)
    yield r
    r.stop()


@pytest.fixture(scope="module")
def auth_registry(tmp_path_factory):
    require_tools()
    r = Registry(tmp_path_factory.mktemp("registry-auth"), auth=True)
    yield r
    r.stop()


CONFIG = ImageConfig(
    env=("PATH=/usr/local/bin:/usr/bin:/bin", "GREETING=hello world", "EMPTY="),
    working_dir="/srv/app",
    entrypoint=("/bin/sh", "-c"),
    cmd=("echo $GREETING",),
    user="1000:1000",
)


@pytest.fixture(scope="module")
def small_rootfs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("small-rootfs")
    (root / "srv" / "app").mkdir(parents=True)
    (root / "srv" / "app" / "main.py").write_text("print('hi')\n")
    (root / "srv" / "app" / "run.sh").write_text("#!/bin/sh\n")
    (root / "srv" / "app" / "run.sh").chmod(0o750)
    (root / "srv" / "app" / "link").symlink_to("main.py")
    (root / "etc").mkdir()
    (root / "etc" / "owned").write_text("x")
    if os.geteuid() == 0:
        os.chown(root / "etc" / "owned", 1234, 5678)
    return root


def test_round_trip_files_and_config(registry, small_rootfs, tmp_path):
    ref = f"{registry.host}/squall/small:v1"
    digest = push_dir_as_image(small_rootfs, ref, config=CONFIG, log=lambda _: None)
    assert digest.startswith("sha256:") and len(digest) == 71
    assert inspect_digest(ref, log=lambda _: None) == digest

    lines: list[str] = []
    dest = tmp_path / "out" / "rootfs"
    config = pull_rootfs(ref, dest, log=lines.append)
    assert config == CONFIG
    assert config.env_dict == {"PATH": "/usr/local/bin:/usr/bin:/bin", "GREETING": "hello world", "EMPTY": ""}
    assert (dest / "srv" / "app" / "main.py").read_text() == "print('hi')\n"
    assert (dest / "srv" / "app" / "run.sh").stat().st_mode & 0o777 == 0o750
    assert os.readlink(dest / "srv" / "app" / "link") == "main.py"
    if os.geteuid() == 0:
        st = (dest / "etc" / "owned").stat()
        assert (st.st_uid, st.st_gid) == (1234, 5678)
    # Only dest is left behind: the scratch OCI layout next to it is gone.
    assert sorted(p.name for p in dest.parent.iterdir()) == ["rootfs"]
    assert not (dest / "config.json").exists() and not (dest / "rootfs").exists()  # a plain rootfs, not a bundle
    assert any("Copying blob" in line for line in lines) and any("unpacked" in line for line in lines)

    # Pulling by digest gives the same image; a moved tag changes the digest.
    assert pull_rootfs(f"{registry.host}/squall/small@{digest}", tmp_path / "by-digest", log=lambda _: None) == CONFIG
    (small_rootfs / "new-file").write_text("v2")
    try:
        digest2 = push_dir_as_image(small_rootfs, ref, config=ImageConfig(), log=lambda _: None)
    finally:
        (small_rootfs / "new-file").unlink()
    assert digest2 != digest and inspect_digest(ref, log=lambda _: None) == digest2
    assert pull_rootfs(ref, tmp_path / "v2", log=lambda _: None) == ImageConfig()
    assert (tmp_path / "v2" / "new-file").read_text() == "v2"


def test_debian_slim_round_trip(registry, tmp_path):
    """A real root filesystem: the debian_slim base, pushed and pulled back whole."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the debian_slim rootfs holds root-owned files")
    rootfs = ensure_debian_slim(CACHE)
    ref = f"{registry.host}/squall/debian-slim:bookworm"
    push_dir_as_image(rootfs, ref, config=ImageConfig(env=("LANG=C.UTF-8",), working_dir="/root", cmd=("python3",)), log=lambda _: None)
    started = time.monotonic()
    config = pull_rootfs(ref, tmp_path / "rootfs", log=lambda _: None)
    elapsed = time.monotonic() - started
    print(f"pull of debian_slim ({ref}) took {elapsed:.1f} s")
    assert config.env == ("LANG=C.UTF-8",) and config.working_dir == "/root" and config.cmd == ("python3",)
    for rel in ("usr/bin/python3", "etc/os-release", "etc/ssl/certs/ca-certificates.crt", "etc/hosts", "opt/squall/agent"):
        assert os.path.lexists(tmp_path / "rootfs" / rel), rel
    assert "bookworm" in (tmp_path / "rootfs" / "etc" / "os-release").read_text()
    mode = (tmp_path / "rootfs" / "tmp").stat().st_mode
    assert mode & 0o1777 == 0o1777  # sticky, world-writable /tmp survives the trip


def test_credentials(auth_registry, small_rootfs, tmp_path):
    ref = f"{auth_registry.host}/private/app:1"
    push_dir_as_image(small_rootfs, ref, config=CONFIG, username=USER, password=PASSWORD, log=lambda _: None)

    lines: list[str] = []
    assert pull_rootfs(ref, tmp_path / "ok", username=USER, password=PASSWORD, log=lines.append) == CONFIG
    assert inspect_digest(ref, username=USER, password=PASSWORD, log=lines.append).startswith("sha256:")
    assert lines and not any(PASSWORD in line for line in lines)

    with pytest.raises(ImageBuildError) as e:
        pull_rootfs(ref, tmp_path / "anon", log=lines.append)
    assert "requires authentication" in str(e.value) and auth_registry.host in str(e.value)
    assert "REGISTRY_USERNAME" in str(e.value) and "REGISTRY_PASSWORD" in str(e.value)
    assert not (tmp_path / "anon").exists()

    wrong = "wrong-" + PASSWORD
    for call in (
        lambda: pull_rootfs(ref, tmp_path / "wrong", username=USER, password=wrong, log=lines.append),
        lambda: inspect_digest(ref, username=USER, password=wrong, log=lines.append),
    ):
        with pytest.raises(ImageBuildError) as e:
            call()
        msg = str(e.value)
        assert f"rejected the credentials of user {USER!r}" in msg and auth_registry.host in msg
        assert wrong not in msg and PASSWORD not in msg
    assert not any(wrong in line or PASSWORD in line for line in lines)
    assert not (tmp_path / "wrong").exists()


def test_unreachable_registry_is_named(tmp_path):
    require_tools()
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    for call in (lambda: pull_rootfs(f"{host}/x/y:1", tmp_path / "r", log=lambda _: None), lambda: inspect_digest(f"{host}/x/y:1", log=lambda _: None)):
        with pytest.raises(ImageBuildError) as e:
            call()
        assert f"cannot reach registry {host}" in str(e.value) and "connection refused" in str(e.value)
    assert not (tmp_path / "r").exists() and list(tmp_path.iterdir()) == []


def test_missing_image_or_tag(registry, small_rootfs, tmp_path):
    push_dir_as_image(small_rootfs, f"{registry.host}/squall/present:v1", log=lambda _: None)
    for ref in (f"{registry.host}/squall/present:nope", f"{registry.host}/squall/absent:v1"):
        with pytest.raises(ImageBuildError) as e:
            pull_rootfs(ref, tmp_path / "r", log=lambda _: None)
        assert f"image {ref!r} not found in registry {registry.host}" in str(e.value)
        with pytest.raises(ImageBuildError, match="not found"):
            inspect_digest(ref, log=lambda _: None)


@pytest.mark.parametrize(
    "ref, pattern",
    [
        ("", "is empty"),
        ("docker://python:3.11", "without a scheme"),
        ("127.0.0.1:1/Upper/Case", "not valid .*lowercase"),
    ],
)
def test_bad_references(ref, pattern, tmp_path):
    require_tools()
    with pytest.raises(ImageBuildError, match=pattern):
        pull_rootfs(ref, tmp_path / "r", log=lambda _: None)


def test_dest_must_be_new_and_creds_come_in_pairs(registry, tmp_path):
    (tmp_path / "exists").mkdir()
    with pytest.raises(ImageBuildError, match="already exists"):
        pull_rootfs(f"{registry.host}/a/b:1", tmp_path / "exists", log=lambda _: None)
    with pytest.raises(ImageBuildError, match="both a username and a password"):
        pull_rootfs(f"{registry.host}/a/b:1", tmp_path / "r", username="u", log=lambda _: None)


def test_insecure_registries(monkeypatch):
    monkeypatch.setenv("SQUALL_INSECURE_REGISTRIES", "reg.internal:5000, other:80")
    cases = {
        "localhost:5000": True,
        "localhost": True,
        "127.0.0.1:8080": True,
        "[::1]:5000": True,
        "reg.internal:5000": True,
        "reg.internal:5001": False,
        "other:80": True,
        "docker.io": False,
        "ghcr.io": False,
    }
    assert {h: is_insecure_registry(h) for h in cases} == cases
    refs = {
        "python:3.11": "docker.io",
        "library/python": "docker.io",
        "ghcr.io/o/i:1": "ghcr.io",
        "localhost/x": "localhost",
        "127.0.0.1:5000/x:1": "127.0.0.1:5000",
    }
    assert {r: registry_host(r) for r in refs} == refs
