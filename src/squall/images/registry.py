"""Registry images without Docker: pull any OCI / Docker v2 image into a plain root filesystem.

`pull_rootfs` is what `Image.from_registry` (and a Dockerfile's `FROM`) builds on:

    skopeo copy docker://REF oci:LAYOUT:image      # fetch manifest, config and layers
    umoci raw unpack --image LAYOUT:image DEST      # apply the layers (whiteouts included)

`umoci raw unpack` writes just the root filesystem (no runtime bundle, config.json or mtree
file), so `DEST` ends up as a plain directory tree with the image's own owners and modes
(we run as root; a non-root caller gets `--rootless`, where every file belongs to it). The
image's runtime settings (Env, WorkingDir, Entrypoint, Cmd, User) are read from the OCI
image config blob and returned as an `ImageConfig`.

Design choices:
- The OCI layout is a scratch directory beside `dest` (same filesystem, so no copy through a
  small /tmp), deleted when the pull ends, success or not. Only `dest` remains; callers wrap
  the pull in `build_once`, which makes it atomic and cached.
- Credentials go to skopeo through a 0600 auth file in a private temp dir, never on the
  command line (where any local user could read them in /proc), and every line we log or
  put in an error has the password masked.
- Loopback registries (`localhost`, `127.0.0.1`, `[::1]`, any port) and the host:port
  entries of SQUALL_INSECURE_REGISTRIES are reached with TLS verification off, which lets
  skopeo fall back to plain HTTP.
- skopeo's last words are mapped to errors a user can act on: registry unreachable, image
  not found, authentication needed or refused, TLS problems, bad reference, missing tools.
- `inspect_digest` hashes the raw top-level manifest (for a multi-arch image, the index), so
  a cache keyed on it changes exactly when the tag is moved; `REPO@DIGEST` pulls that image.
- `push_dir_as_image` (umoci init/new/insert/config + skopeo copy) lets tests put an image
  into a registry without Docker.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
import tempfile
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from squall._redact import redact
from squall.images.base import ImageBuildError

ENV_INSECURE_REGISTRIES = "SQUALL_INSECURE_REGISTRIES"  # comma-separated host[:port]
DOCKER_HUB = "docker.io"
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})
# The tag our scratch OCI layouts use, whatever the image's own tag is.
_LAYOUT_TAG = "image"
_INSTALL_HINT = "run `make install` (scripts/install-system-deps.sh) or `apt-get install skopeo umoci`"
_SECRET_HINT = "pass a Secret with REGISTRY_USERNAME and REGISTRY_PASSWORD (e.g. Image.from_registry(tag, secret=Secret.from_name(...)))"


@dataclass(frozen=True)
class ImageConfig:
    """The runtime settings an image carries in its OCI image config (all may be absent)."""

    env: tuple[str, ...] = ()  # "KEY=VALUE" entries, in image order
    working_dir: str = ""
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    user: str = ""

    @property
    def env_dict(self) -> dict[str, str]:
        """`env` as a dict; a later entry for the same key wins, as in a container."""
        return dict(e.partition("=")[::2] for e in self.env)

    @classmethod
    def from_oci(cls, image_config: dict) -> ImageConfig:
        """Read the `config` section of an OCI image config blob (application/vnd.oci.image.config.v1+json)."""
        c = image_config.get("config") or {}

        def argv(v: object) -> tuple[str, ...] | None:
            return None if v is None else tuple(str(a) for a in v)  # type: ignore[union-attr]

        return cls(
            env=tuple(str(e) for e in c.get("Env") or ()),
            working_dir=str(c.get("WorkingDir") or ""),
            entrypoint=argv(c.get("Entrypoint")),
            cmd=argv(c.get("Cmd")),
            user=str(c.get("User") or ""),
        )


def registry_host(ref: str) -> str:
    """The registry a Docker reference points at: `ghcr.io/a/b:1` -> `ghcr.io`, `python:3.11` -> `docker.io`.

    As Docker decides it: the first path component is a registry host when it contains a
    `.` or a `:` or is `localhost`; otherwise the image is on Docker Hub.
    """
    first, sep, _ = ref.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first
    return DOCKER_HUB


def _host_without_port(host: str) -> str:
    if host.startswith("["):  # [::1]:5000
        return host.partition("]")[0] + "]"
    return host.rpartition(":")[0] if host.count(":") == 1 else host


def is_insecure_registry(host: str) -> bool:
    """Whether `host` (host[:port]) is reached without TLS verification (and so may speak plain HTTP)."""
    if _host_without_port(host) in LOOPBACK_HOSTS:
        return True
    listed = {h.strip() for h in os.environ.get(ENV_INSECURE_REGISTRIES, "").split(",") if h.strip()}
    return host in listed


def _check_ref(ref: str) -> str:
    if not isinstance(ref, str) or not ref.strip():
        raise ImageBuildError(f"image reference {ref!r} is empty: give one like 'python:3.11-slim' or 'ghcr.io/org/image:tag'")
    if "://" in ref or any(c.isspace() for c in ref) or ref.startswith("-"):
        raise ImageBuildError(
            f"image reference {ref!r} is not valid: give [REGISTRY[:PORT]/]REPOSITORY[:TAG][@DIGEST] "
            "without a scheme or spaces, e.g. 'python:3.11-slim' or 'localhost:5000/team/app:1'"
        )
    return registry_host(ref)


def _require_tools(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        raise ImageBuildError(f"{' and '.join(missing)} not found on this machine (needed to use registry images): {_INSTALL_HINT}")


def _check_creds(username: str | None, password: str | None) -> None:
    if (username is None) != (password is None) or username == "" or password == "":
        raise ImageBuildError(
            "registry credentials need both a username and a password (REGISTRY_USERNAME and REGISTRY_PASSWORD); "
            f"got {'a username' if username else 'no username'} and {'a password' if password else 'no password'}"
        )
    if username is not None and ":" in username:
        raise ImageBuildError(f"registry username {username!r} contains ':', which registries do not allow")


@contextmanager
def _skopeo_options(host: str, direction: str, username: str | None, password: str | None) -> Iterator[list[str]]:
    """skopeo flags for talking to `host` as `direction` ("src", "dest" or "" for inspect).

    Yields inside a private temp dir holding the auth file (and a trust policy when the
    machine has none, as skopeo refuses to run without one); the dir is removed after.
    """
    prefix = f"{direction}-" if direction else ""
    with tempfile.TemporaryDirectory(prefix="squall-skopeo-") as tmp:
        opts: list[str] = []
        if is_insecure_registry(host):
            opts.append(f"--{prefix}tls-verify=false")
        if username is not None and password is not None:
            auth = base64.b64encode(f"{username}:{password}".encode()).decode()
            authfile = Path(tmp) / "auth.json"
            fd = os.open(authfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump({"auths": {host: {"auth": auth}}}, f)
            opts.append(f"--{prefix}authfile={authfile}")
        yield opts


def _policy_options(tmp: Path) -> list[str]:
    """The trust policy flag: the machine's own policy.json if it has one, else accept anything (as Docker does)."""
    for p in (Path.home() / ".config/containers/policy.json", Path("/etc/containers/policy.json")):
        if p.is_file():
            return []
    policy = tmp / "policy.json"
    policy.write_text(json.dumps({"default": [{"type": "insecureAcceptAnything"}]}))
    return [f"--policy={policy}"]


_FATAL_MSG = re.compile(r'level=fatal msg="((?:[^"\\]|\\.)*)"')


def _run(argv: list[str], log: Callable[[str], None], secrets: list[str], cwd: Path | None = None) -> tuple[int, list[str]]:
    """Run argv, streaming its combined output to `log` (secrets masked); return (exit code, last lines)."""
    tail: deque[str] = deque(maxlen=40)
    with subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace", cwd=cwd) as proc:
        assert proc.stdout is not None
        for raw in proc.stdout:
            line = redact(raw.rstrip("\n"), secrets)
            log(line)
            tail.append(line)
    return proc.returncode, list(tail)


def _skopeo_message(lines: list[str]) -> str:
    """skopeo's own error text (the msg of its fatal log line), else its last output line."""
    for line in reversed(lines):
        m = _FATAL_MSG.search(line)
        if m:
            msg = m.group(1).replace('\\"', '"').replace("\\\\", "\\")
            # skopeo prefixes every failure with the reference, which the caller names already.
            return re.sub(r'^(Error parsing image name "[^"]*"|initializing source \S+|Invalid source name \S+): ', "", msg)
    return next((line.strip() for line in reversed(lines) if line.strip()), "(no output)")


_UNREACHABLE = (
    "connection refused",
    "no such host",
    "i/o timeout",
    "network is unreachable",
    "no route to host",
    "connection reset",
    "deadline exceeded",
    "tls handshake timeout",
    "server misbehaving",
    "temporary failure in name resolution",
    ": eof",
)


def _registry_error(action: str, ref: str, host: str, message: str, username: str | None) -> ImageBuildError:
    """Turn skopeo's error text about `ref` into an error that says what to do."""
    low = message.lower()
    detail = f"(skopeo: {message})"
    if "invalid reference format" in low:
        return ImageBuildError(f"image reference {ref!r} is not valid {detail}: give [REGISTRY[:PORT]/]REPOSITORY[:TAG] with a lowercase repository name")
    if "server gave http response to https client" in low:
        return ImageBuildError(
            f"registry {host} answers plain HTTP, not HTTPS, for {ref!r}: if that registry is meant to be used without TLS, "
            f"add {host!r} to {ENV_INSECURE_REGISTRIES} (comma-separated host:port) on every worker {detail}"
        )
    if "x509:" in low or "certificate" in low or "tls:" in low:
        return ImageBuildError(
            f"could not verify the TLS certificate of registry {host} for {ref!r}: install its CA on the worker, or, for a "
            f"registry without trusted TLS, add {host!r} to {ENV_INSECURE_REGISTRIES} {detail}"
        )
    if "toomanyrequests" in low or "rate limit" in low:
        return ImageBuildError(f"registry {host} is rate-limiting {action} of {ref!r}: wait and retry, or pass credentials ({_SECRET_HINT}) {detail}")
    if "unauthorized" in low or "authentication required" in low or "denied" in low or "incorrect username or password" in low:
        if username is not None:
            return ImageBuildError(
                f"registry {host} rejected the credentials of user {username!r} for {ref!r}: check REGISTRY_USERNAME and "
                f"REGISTRY_PASSWORD in the Secret you passed, and that this user may {action} that repository {detail}"
            )
        return ImageBuildError(
            f"registry {host} requires authentication for {ref!r} (some registries also say this for a repository that does not "
            f"exist): check the name, and {_SECRET_HINT} {detail}"
        )
    if "manifest unknown" in low or "name unknown" in low or "not found" in low:
        return ImageBuildError(f"image {ref!r} not found in registry {host}: check the repository name and the tag {detail}")
    if "no image found in manifest list" in low or "choosing image instance" in low:
        return ImageBuildError(f"image {ref!r} has no variant for this machine's platform (linux/{os.uname().machine}) {detail}")
    if "pinging container registry" in low or any(s in low for s in _UNREACHABLE):
        return ImageBuildError(
            f"cannot reach registry {host} for {ref!r}: check the registry address and port, that it is running, and that this "
            f"worker can connect to it {detail}"
        )
    return ImageBuildError(f"could not {action} image {ref!r} (registry {host}) {detail}")


def _read_layout_config(layout: Path) -> ImageConfig:
    index = json.loads((layout / "index.json").read_text())
    entries = [m for m in index.get("manifests", []) if (m.get("annotations") or {}).get("org.opencontainers.image.ref.name") == _LAYOUT_TAG]
    if not entries:
        raise ImageBuildError(f"skopeo left no manifest tagged {_LAYOUT_TAG!r} in {layout}/index.json")

    def blob(digest: str) -> dict:
        algo, _, hexd = digest.partition(":")
        return json.loads((layout / "blobs" / algo / hexd).read_text())

    manifest = blob(entries[0]["digest"])
    return ImageConfig.from_oci(blob(manifest["config"]["digest"]))


def pull_rootfs(
    ref: str,
    dest: Path,
    *,
    username: str | None = None,
    password: str | None = None,
    log: Callable[[str], None] = print,
) -> ImageConfig:
    """Pull image `ref` from its registry and unpack it as a plain root filesystem at `dest`.

    `dest` must not exist; on failure it is removed again. `ref` is a Docker reference
    (`python:3.11-slim`, `ghcr.io/org/app:1`, `localhost:5000/x@sha256:...`); Docker Hub is
    the default registry. skopeo's and umoci's output streams to `log`. Returns the image's
    runtime config. Raises ImageBuildError saying what to fix.
    """
    host = _check_ref(ref)
    _check_creds(username, password)
    _require_tools("skopeo", "umoci")
    dest = Path(dest)
    if dest.exists():
        raise ImageBuildError(f"cannot pull {ref!r} into {dest}: it already exists (pull_rootfs fills a new directory)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    secrets = [password] if password else []
    work = Path(tempfile.mkdtemp(prefix=f".{dest.name}.pull-", dir=dest.parent))
    try:
        with _skopeo_options(host, "src", username, password) as opts:
            argv = ["skopeo", "copy", *_policy_options(work), *opts, f"docker://{ref}", f"oci:oci:{_LAYOUT_TAG}"]
            log(f"pulling {ref} from {host}{' as ' + username if username else ''}")
            # cwd=work and a relative layout path: `oci:PATH:TAG` cannot hold a ':' in PATH.
            code, tail = _run(argv, log, secrets, cwd=work)
        if code != 0:
            raise _registry_error("pull", ref, host, _skopeo_message(tail), username)
        config = _read_layout_config(work / "oci")
        unpack = ["umoci", "raw", "unpack", *([] if os.geteuid() == 0 else ["--rootless"]), "--image", f"oci:{_LAYOUT_TAG}", str(dest.absolute())]
        log(f"unpacking {ref} into {dest}")
        code, tail = _run(unpack, log, secrets, cwd=work)
        if code != 0:
            raise ImageBuildError(f"umoci could not unpack image {ref!r} into {dest} (exit code {code}): {_skopeo_message(tail)}")
        return config
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)


def inspect_digest(
    ref: str,
    *,
    username: str | None = None,
    password: str | None = None,
    log: Callable[[str], None] = print,
) -> str:
    """The `sha256:...` digest of the manifest `ref` names now (the index, for a multi-arch image).

    Fetches one manifest, no layers: cheap enough to run before every build to key a cache.
    `REPO@DIGEST` then pulls exactly that image.
    """
    host = _check_ref(ref)
    _check_creds(username, password)
    _require_tools("skopeo")
    with tempfile.TemporaryDirectory(prefix="squall-inspect-") as tmp, _skopeo_options(host, "", username, password) as opts:
        argv = ["skopeo", "inspect", "--raw", *_policy_options(Path(tmp)), *opts, f"docker://{ref}"]
        proc = subprocess.run(argv, check=False, stdin=subprocess.DEVNULL, capture_output=True)
    stderr = redact(proc.stderr.decode(errors="replace"), [password] if password else [])
    for line in stderr.splitlines():
        log(line)
    if proc.returncode != 0:
        raise _registry_error("inspect", ref, host, _skopeo_message(stderr.splitlines()), username)
    return "sha256:" + hashlib.sha256(proc.stdout).hexdigest()


def push_dir_as_image(
    rootfs: Path,
    ref: str,
    *,
    config: ImageConfig | None = None,
    username: str | None = None,
    password: str | None = None,
    log: Callable[[str], None] = print,
) -> str:
    """Push directory `rootfs` as a one-layer image `ref` with runtime `config`; return its manifest digest.

    For tests and tooling: builds an OCI layout with umoci (init, new, insert, config) and
    copies it to the registry with skopeo. Owners and modes in `rootfs` are kept.
    """
    host = _check_ref(ref)
    _check_creds(username, password)
    _require_tools("skopeo", "umoci")
    rootfs = Path(rootfs).absolute()
    if not rootfs.is_dir():
        raise ImageBuildError(f"cannot push {rootfs} as an image: it is not a directory")
    config = config or ImageConfig()
    secrets = [password] if password else []
    image = f"oci:{_LAYOUT_TAG}"
    with tempfile.TemporaryDirectory(prefix="squall-push-") as tmp:
        work = Path(tmp)
        umoci_conf = ["umoci", "config", "--image", image]
        umoci_conf += [f"--config.env={e}" for e in config.env]
        umoci_conf += [f"--config.entrypoint={a}" for a in config.entrypoint or ()]
        umoci_conf += [f"--config.cmd={a}" for a in config.cmd or ()]
        if config.working_dir:
            umoci_conf.append(f"--config.workingdir={config.working_dir}")
        if config.user:
            umoci_conf.append(f"--config.user={config.user}")
        steps = [
            ["umoci", "init", "--layout", "oci"],
            ["umoci", "new", "--image", image],
            ["umoci", "insert", "--image", image, str(rootfs), "/"],
            umoci_conf,
        ]
        for argv in steps:
            code, tail = _run(argv, log, secrets, cwd=work)
            if code != 0:
                raise ImageBuildError(f"umoci failed building an image from {rootfs} (exit code {code}): {' '.join(argv)}: {_skopeo_message(tail)}")
        with _skopeo_options(host, "dest", username, password) as opts:
            argv = ["skopeo", "copy", *_policy_options(work), *opts, "--digestfile=digest", f"oci:{image}", f"docker://{ref}"]
            log(f"pushing {rootfs} as {ref}")
            code, tail = _run(argv, log, secrets, cwd=work)
        if code != 0:
            raise _registry_error("push", ref, host, _skopeo_message(tail), username)
        return (work / "digest").read_text().strip()
