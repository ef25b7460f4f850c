"""Building and fetching image layers on a worker.

Every layer lives in the worker's cache as `<cache>/layers/<layer_id>/fs`: the upper
directory of the overlay its step ran in, so it holds just what the step changed
(overlayfs whiteouts and opaque directories included). A container's root is an
overlay whose lower layers are these directories, top-most first, over the base.

- The base is made where it is needed: debian_slim with mmdebstrap (base.py), a
  registry image with skopeo + umoci (registry.py), scratch as an empty directory.
- A step layer is built once: the step's commands run in build containers (the worker's
  runc, with network) over the layers below it, writing into a fresh upper directory;
  then the layer is packed (tar + zstd, xattrs kept) into the blob store, so any other
  worker fetches it instead of building it again. A layer that fails is never cached.
- `build_once_async` serialises builders of one layer across processes: two images
  that share a prefix, built at the same time, build the shared layers once.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import json
import os
import shutil
import tarfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, Protocol

from squall.images import steps as build_steps
from squall.images.base import ImageBuildError, build_once, build_once_async, debian_slim_path, ensure_debian_slim, run_logged
from squall.images.recipe import describe_step
from squall.runtime.base import ContainerSpec, Mount, Runtime

TAIL_LINES = 20  # output lines a failed step's error shows
BUILD_MEMORY_MB = int(os.environ.get("SQUALL_BUILD_MEMORY_MB", "4096"))
BUILD_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
TAR_XATTRS = ["--xattrs", "--xattrs-include=trusted.overlay.*", "--numeric-owner"]


class Blobs(Protocol):
    """The blob store, as the worker reaches it (over the control plane)."""

    def get(self, digest: str) -> AsyncIterator[bytes]: ...

    async def put(self, chunks: AsyncIterator[bytes]) -> str: ...


class LayerCache:
    """`<cache home>/layers/<id>/fs`, with the blob digest it came from in `<id>/digest`."""

    def __init__(self, cache_home: Path) -> None:
        self.home = cache_home
        self.root = cache_home / "layers"

    def dir(self, layer_id: str) -> Path:
        return self.root / layer_id

    def fs(self, layer_id: str) -> Path:
        return self.dir(layer_id) / "fs"

    def digest(self, layer_id: str) -> str:
        with contextlib.suppress(OSError):
            return (self.dir(layer_id) / "digest").read_text().strip()
        return ""

    def size(self, layer_id: str) -> int:
        return self.size_of(self.fs(layer_id))

    @staticmethod
    def size_of(path: Path) -> int:
        total = 0
        for dirpath, _dirs, files in os.walk(path):
            for name in files:
                with contextlib.suppress(OSError):
                    total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
        return total

    def gc(self, keep: set[str], in_use: set[str]) -> list[str]:
        """Remove cached step layers not in `keep` (nor used by a running container)."""
        removed = []
        if not self.root.is_dir():
            return removed
        for d in self.root.iterdir():
            if d.name.startswith(".") or d.name.startswith("agent-") or d.name in keep or d.name in in_use:
                continue
            if (d / "fs").is_dir():
                shutil.rmtree(d, ignore_errors=True)
                removed.append(d.name)
        return removed


def detect_python(layers_top_first: list[Path]) -> str:
    """The image's python3 version ("3.12"), found by looking at its files, or ""."""
    for candidate in ("usr/local/bin/python3", "usr/bin/python3"):
        for layer in layers_top_first:
            p = layer / candidate
            if os.path.lexists(p):
                target = os.readlink(p) if p.is_symlink() else p.name
                name = os.path.basename(target)
                if name.startswith("python3."):
                    return name.removeprefix("python")
                for layer2 in layers_top_first:  # python3 is a real file: look for its stdlib
                    for lib in sorted((layer2 / candidate).parent.parent.glob("lib/python3.*")):
                        return lib.name.removeprefix("python")
                return ""
    return ""


class ImageBuilder:
    def __init__(
        self,
        cache_home: Path,
        runtime: Runtime | None,
        blobs: Blobs,
        squall_pkg: Path,
        agent_layer: Callable[[str], Path],
        host_build_mounts: list[Mount] | None = None,
        host_build_env: dict[str, str] | None = None,
    ) -> None:
        self.cache_home = cache_home
        self.layers = LayerCache(cache_home)
        self.runtime = runtime
        self.blobs = blobs
        self.squall_pkg = squall_pkg
        self.agent_layer = agent_layer
        self.host_mounts = host_build_mounts or []
        self.host_env = host_build_env or {}

    # -- running an image ----------------------------------------------------------------------
    async def rootfs(self, layers: list[Any], log: Callable[[str], None]) -> list[Path]:
        """The lower directories for a container of this image, top-most first; fetches any
        step layer this worker does not have from the blob store."""
        paths = [await self._base(layers[0], {}, log)]
        for spec in layers[1:]:
            if self.digest_ok(spec.layer_id, spec.blob_digest):
                paths.append(self.layers.fs(spec.layer_id))
                continue
            if not spec.blob_digest:
                raise ImageBuildError(f"layer {spec.layer_id} ({describe_step(json.loads(spec.step_json))}) was never built; build the image again")
            paths.append(await self._fetch(spec.layer_id, spec.blob_digest, log))
        return paths[::-1]

    def digest_ok(self, layer_id: str, digest: str) -> bool:
        return self.layers.fs(layer_id).is_dir() and (not digest or self.layers.digest(layer_id) == digest)

    # -- building ------------------------------------------------------------------------------
    async def build(self, layers: list[Any], registry_auth: dict[str, str], log: Callable[[str], None]) -> tuple[list[tuple[str, str]], str]:
        """Make every layer of the plan present here; returns ((layer id, blob digest) for each
        step layer, the image's python version). Layers the blob store has are fetched;
        missing ones are built and uploaded."""
        base_step = json.loads(layers[0].step_json)
        below = [await self._base(layers[0], registry_auth, log)]  # bottom first
        python = base_step.get("python_version", "")
        built: list[tuple[str, str]] = []
        for n, spec in enumerate(layers[1:], start=1):
            step = json.loads(spec.step_json)
            if not spec.force and self.digest_ok(spec.layer_id, spec.blob_digest) and self.layers.digest(spec.layer_id):
                log(f"=> step {n}/{len(layers) - 1} {describe_step(step)}: cached")
                below.append(self.layers.fs(spec.layer_id))
                built.append((spec.layer_id, self.layers.digest(spec.layer_id)))
                continue
            if not spec.force and spec.blob_digest:
                log(f"=> step {n}/{len(layers) - 1} {describe_step(step)}: fetching the built layer")
                below.append(await self._fetch(spec.layer_id, spec.blob_digest, log))
                built.append((spec.layer_id, spec.blob_digest))
                continue
            log(f"=> step {n}/{len(layers) - 1} {describe_step(step)}")
            started = time.monotonic()
            python = python or detect_python(below[::-1])
            digest = await self._build_layer(spec, step, below[::-1], python, n, log)
            log(f"   done in {time.monotonic() - started:.1f}s")
            below.append(self.layers.fs(spec.layer_id))
            built.append((spec.layer_id, digest))
        return built, base_step.get("python_version") or detect_python(below[::-1])

    async def _base(self, spec: Any, registry_auth: dict[str, str], log: Callable[[str], None]) -> Path:
        step = json.loads(spec.step_json)
        kind = step["kind"]
        if kind == "debian_slim":
            built = debian_slim_path(self.cache_home)
            if built.is_dir():  # the usual case, on every container start: no thread hop
                return built
            return await asyncio.to_thread(ensure_debian_slim, self.cache_home, _threadsafe(log))
        final = self.layers.dir(spec.layer_id)
        if kind == "scratch":
            return build_once(final, lambda tmp: (tmp / "fs").mkdir(), log) / "fs"
        if kind == "registry":
            from squall.images import registry

            thread_log = _threadsafe(log)

            def pull(tmp: Path) -> None:
                thread_log(f"=> pulling {step['ref']}")
                config = registry.pull_rootfs(step["ref"], tmp / "fs", username=registry_auth.get("REGISTRY_USERNAME"),
                                              password=registry_auth.get("REGISTRY_PASSWORD"), log=thread_log)
                (tmp / "config.json").write_text(json.dumps(_config_dict(config)))

            if not final.is_dir() or spec.force:
                await build_once_async(final, lambda tmp: asyncio.to_thread(pull, tmp), log, force=spec.force)
            return final / "fs"
        raise ImageBuildError(f"unknown image base {kind!r}")

    def base_config(self, spec: Any) -> dict[str, Any]:
        """ENV, WORKDIR, ENTRYPOINT and CMD a registry image brings with it."""
        with contextlib.suppress(OSError, ValueError):
            return json.loads((self.layers.dir(spec.layer_id) / "config.json").read_text())
        return {}

    async def _build_layer(self, spec: Any, step: dict[str, Any], lower: list[Path], python: str, n: int, log: Callable[[str], None]) -> str:
        async def build(tmp: Path) -> None:
            upper = tmp / "fs"
            upper.mkdir()
            if step["op"] == "copy":
                await self._copy_in(step, upper)
            else:
                await self._run_step(spec, step, lower, upper, tmp, python, n, log)
            shutil.rmtree(tmp / "fs.work", ignore_errors=True)
            shutil.rmtree(tmp / "files", ignore_errors=True)
            digest = await self.pack_layer(upper)
            (tmp / "digest").write_text(digest)

        await build_once_async(self.layers.dir(spec.layer_id), build, log, force=spec.force)
        return self.layers.digest(spec.layer_id)

    async def _run_step(self, spec: Any, step: dict[str, Any], lower: list[Path], upper: Path, tmp: Path, python: str, n: int,
                        log: Callable[[str], None]) -> None:
        if self.runtime is None:
            raise ImageBuildError("this worker has no container runtime to build images with; enable runc (`squall worker --runtime runc`)")
        files = tmp / "files"
        files.mkdir()
        for name, text in build_steps.step_files(step).items():
            (files / name).write_text(text)
        mounts = [Mount(files, build_steps.STEP_DIR), *self.host_mounts]
        env = {"PATH": BUILD_PATH, "HOME": "/root", "DEBIAN_FRONTEND": "noninteractive", "PIP_ROOT_USER_ACTION": "ignore",
               "PIP_BREAK_SYSTEM_PACKAGES": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1", **self.host_env, **step.get("env", {})}
        if step["op"] == "uv_pip_install":
            mounts.append(Mount(await asyncio.to_thread(ensure_uv, self.cache_home, _threadsafe(log)), build_steps.UV_DIR))
            env["UV_NATIVE_TLS"] = "1"
        if step["op"] == "run_function":
            await self._fetch_file(step["_payload"], files / "payload.pkl")
            if not python:
                raise ImageBuildError(f"step {n} run_function: the image has no python3; add one first (e.g. from_registry(..., add_python='3.11'))")
            mounts.append(Mount(await asyncio.to_thread(self.agent_layer, python), build_steps.AGENT_DIR))
            mounts.append(Mount(self.squall_pkg, f"{build_steps.LIB_DIR}/squall"))
            env["PYTHONPATH"] = f"{build_steps.AGENT_DIR}:{build_steps.LIB_DIR}"
        for argv in build_steps.commands(step):
            shown = build_steps.display(argv)
            log(f"$ {shown}")
            tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)

            def out(line: str, tail=tail) -> None:
                tail.append(line)
                log(line)

            code = await self._run(argv, env, step.get("workdir") or "/", mounts, lower, upper, out)
            if code != 0:
                how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
                last = "\n".join(f"  | {line}" for line in tail) or "  | (no output)"
                raise ImageBuildError(f"image build failed at step {n} ({describe_step(step)}): `{shown}` {how}. Last output:\n{last}")
        _remove_mount_points(upper, lower, [m.target for m in mounts] + ["/etc/resolv.conf"])

    async def _run(self, argv: list[str], env: dict[str, str], workdir: str, mounts: list[Mount], lower: list[Path], upper: Path,
                   out: Callable[[str], None]) -> int:
        assert self.runtime is not None
        spec = ContainerSpec(
            container_id=f"build-{uuid.uuid4().hex[:12]}", rootfs=lower, argv=argv, env=env, mounts=mounts, workdir=workdir,
            cpu_limit=float(os.cpu_count() or 1), memory_limit_mb=BUILD_MEMORY_MB, pids_limit=4096, network=True, upper_dir=upper,
        )
        container = await self.runtime.start(spec)

        async def pump(reader: asyncio.StreamReader) -> None:
            while line := await reader.readline():
                out(line.decode(errors="replace").rstrip("\n"))

        pumps = [asyncio.create_task(pump(container.stdout)), asyncio.create_task(pump(container.stderr))]
        try:
            status = await container.wait()
        except BaseException:
            await container.kill()
            raise
        await asyncio.gather(*pumps, return_exceptions=True)
        if status.oom_killed:
            out(f"(the build ran out of memory: limit {BUILD_MEMORY_MB} MiB, set SQUALL_BUILD_MEMORY_MB on the worker)")
        return status.exit_code

    async def _copy_in(self, step: dict[str, Any], upper: Path) -> None:
        buf = io.BytesIO()
        async for chunk in self.blobs.get(step["context"]):
            buf.write(chunk)
        buf.seek(0)
        dest = upper / step["dest"].lstrip("/")

        def unpack() -> None:
            with tarfile.open(fileobj=buf, mode="r") as tar:
                if step.get("is_file"):
                    member = tar.getmembers()[0]
                    member.name = dest.name
                    dest.parent.mkdir(parents=True, exist_ok=True)
                    tar.extract(member, dest.parent, filter="data")
                else:
                    dest.mkdir(parents=True, exist_ok=True)
                    tar.extractall(dest, filter="data")

        await asyncio.to_thread(unpack)

    async def _fetch_file(self, digest: str, dest: Path) -> None:
        with open(dest, "wb") as f:
            async for chunk in self.blobs.get(digest):
                f.write(chunk)

    # -- layers in the blob store --------------------------------------------------------------
    async def pack_layer(self, fs: Path) -> str:
        """Pack a directory (an overlay upper dir) into the blob store; returns the blob digest."""
        proc = await asyncio.create_subprocess_shell(
            f"tar -C {_q(fs)} {' '.join(TAR_XATTRS)} -cf - . | zstd -q -T0 -3 -c",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdout is not None

        async def chunks() -> AsyncIterator[bytes]:
            while chunk := await proc.stdout.read(1024 * 1024):  # type: ignore[union-attr]
                yield chunk

        digest = await self.blobs.put(chunks())
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise ImageBuildError(f"packing the layer failed: {err.decode(errors='replace').strip()}")
        return digest

    async def unpack(self, digest: str, dest: Path, what: str) -> None:
        """Stream the tar+zstd blob `digest` into the directory `dest` (xattrs and owners kept)."""
        proc = await asyncio.create_subprocess_shell(
            f"zstd -q -d -c | tar -C {_q(dest)} {' '.join(TAR_XATTRS)} -xpf -",
            stdin=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdin is not None
        async for chunk in self.blobs.get(digest):
            proc.stdin.write(chunk)
            await proc.stdin.drain()
        proc.stdin.close()
        _, err = await proc.communicate()
        if proc.returncode != 0:
            raise ImageBuildError(f"unpacking {what} failed: {err.decode(errors='replace').strip()[:500]}")

    async def _fetch(self, layer_id: str, digest: str, log: Callable[[str], None]) -> Path:
        async def fetch(tmp: Path) -> None:
            (tmp / "fs").mkdir()
            await self.unpack(digest, tmp / "fs", f"layer {layer_id}")
            (tmp / "digest").write_text(digest)

        final = self.layers.dir(layer_id)
        force = final.is_dir() and self.layers.digest(layer_id) != digest  # rebuilt elsewhere (force_build)
        await build_once_async(final, fetch, log, force=force)
        return final / "fs"


def _config_dict(config: Any) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(config) if dataclasses.is_dataclass(config) else dict(config or {})


def _q(p: Path) -> str:
    import shlex

    return shlex.quote(str(p))


def _threadsafe(log: Callable[[str], None]) -> Callable[[str], None]:
    """`log` for code running in a worker thread: hand each line back to the event loop."""
    loop = asyncio.get_running_loop()
    return lambda line: loop.call_soon_threadsafe(log, line)


def _remove_mount_points(upper: Path, lower: list[Path], targets: list[str]) -> None:
    """Drop the empty files and directories the runtime made in the layer as mount points."""
    for target in sorted(set(targets), key=len, reverse=True):
        rel = target.strip("/")
        if rel.startswith("tmp/") or not rel:
            continue
        parts = Path(rel).parts
        for i in range(len(parts), 0, -1):
            sub = Path(*parts[:i])
            p = upper / sub
            if any(os.path.lexists(layer / sub) for layer in lower):
                break
            try:
                if p.is_dir() and not p.is_symlink():
                    p.rmdir()
                elif p.is_file() and p.stat().st_size == 0:
                    p.unlink()
                else:
                    break
            except OSError:
                break


UV_VERSION = os.environ.get("SQUALL_UV_VERSION", "")


def ensure_uv(cache_home: Path, log: Callable[[str], None] = print) -> Path:
    """uv, installed once per worker into a directory mounted into uv_pip_install builds."""
    import platform
    import sys

    from squall.images.base import recipe_hash

    spec = f"uv=={UV_VERSION}" if UV_VERSION else "uv"
    final = cache_home / "layers" / f"agent-uv-{recipe_hash({'spec': spec, 'arch': platform.machine()})}"

    def build(tmp: Path) -> None:
        log(f"installing {spec} for uv_pip_install builds")
        run_logged([sys.executable, "-m", "pip", "install", "--target", str(tmp), "--only-binary=:all:", "--no-deps", "--disable-pip-version-check", spec], log)

    return build_once(final, build, log)



def host_build_settings() -> tuple[list[Mount], dict[str, str]]:
    """Mounts and env that let builds reach package registries the way this machine does.

    A build container gets the worker's CA bundle (some networks inspect TLS with their
    own CA) and its pip settings (index, extra indexes, find-links, trusted hosts, from
    `pip config` and PIP_* variables), with local find-links and file:// indexes mounted
    read-only at the same paths. SQUALL_BUILD_INHERIT_PIP=0 turns the pip part off.
    """
    import subprocess
    import sys

    mounts: list[Mount] = []
    env: dict[str, str] = {}
    ca = os.environ.get("SSL_CERT_FILE") or "/etc/ssl/certs/ca-certificates.crt"
    if os.path.isfile(ca):
        mounts.append(Mount(Path(ca), f"{build_steps.BUILD_DIR}/ca.crt"))
        for var in ("SSL_CERT_FILE", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
            env[var] = f"{build_steps.BUILD_DIR}/ca.crt"
    if os.environ.get("SQUALL_BUILD_INHERIT_PIP", "1") == "0":
        return mounts, env
    names = ("index-url", "extra-index-url", "find-links", "trusted-host")
    settings: dict[str, list[str]] = {}
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True, timeout=60, check=False).stdout
        for line in out.splitlines():
            key, _, value = line.partition("=")
            name = key.partition(".")[2]
            if name in names:
                settings.setdefault(name, []).extend(value.strip().strip("'\"").split())
    for name in names:
        var = "PIP_" + name.upper().replace("-", "_")
        if os.environ.get(var):
            settings[name] = os.environ[var].split()
    seen: set[str] = set()
    for name, values in settings.items():
        env["PIP_" + name.upper().replace("-", "_")] = " ".join(dict.fromkeys(values))
        for v in values:
            path = v.removeprefix("file://").rstrip("/")
            if path.endswith("/simple"):  # a local PEP 503 index links to files beside it
                path = os.path.dirname(path)
            if path.startswith("/") and os.path.isdir(path) and path not in seen:
                seen.add(path)
                mounts.append(Mount(Path(path), path))
    return mounts, env
