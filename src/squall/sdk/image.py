"""Image: the environment a function runs in, described in Python.

    image = (Image.debian_slim().apt_install("git").pip_install("numpy==2.1.0")
             .env({"MODE": "prod"}).add_local_dir("./data", "/data"))

Each method returns a new Image with one more step; nothing runs until an app that uses
the image starts (or `squall image build`). Then the SDK sends the recipe (JSON, see
`squall.images.recipe`) to the control plane, which plans it into layers and has a
worker build the ones it does not have yet; the build log streams back here.

Arguments are checked here, when the image is defined: a local path that does not exist
or a package name that is not a string fails at once, naming the value. Local files are
read when the app starts: with `copy=True` their tar becomes part of a layer (and of its
hash); with `copy=False` (the default) they are uploaded and attached to each container
when it starts, so editing them never rebuilds a layer.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import hashlib
import inspect
import io
import json
import os
import pathlib
import re
import sys
import tarfile
from collections.abc import Callable, Sequence
from typing import Any

from squall.exception import InvalidError

HOST_PYTHON = "3.11"  # Debian bookworm's python3, which mmdebstrap installs
_REGISTRY_REF = re.compile(r"^[a-z0-9]+([._\-/:@][A-Za-z0-9._\-]+)*$")
_PACKAGE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._\-\[\],<>=!~*;:@/+ '\"()]*$")
_APT_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.\-]*([=:][A-Za-z0-9.+~:\-]+)?$")

Ignore = Sequence[str] | Callable[[pathlib.Path], bool]


@dataclasses.dataclass(frozen=True)
class LocalFiles:
    """A local file or directory the image reads, and where it goes in the container."""

    local: pathlib.Path
    remote: str
    ignore: Ignore = ()

    def paths(self) -> list[tuple[pathlib.Path, str]]:
        """(local path, path inside the tar) for every file and directory, sorted."""
        if self.local.is_file():
            return [(self.local, self.local.name)]
        out = []
        for p in sorted(self.local.rglob("*")):
            rel = p.relative_to(self.local)
            if "__pycache__" in rel.parts or p.name.endswith(".pyc") or self._ignored(rel):
                continue
            out.append((p, str(rel)))
        return out

    def _ignored(self, rel: pathlib.Path) -> bool:
        """A path is left out if it, or a directory above it, matches a pattern (fnmatch, on the
        relative path or the name; `\\*` is a literal `*`)."""
        if callable(self.ignore):
            return bool(self.ignore(rel))
        patterns = [re.sub(r"\\(.)", r"[\1]", pat) for pat in self.ignore]
        for part in [rel, *rel.parents[:-1]]:
            if any(fnmatch.fnmatch(str(part), pat) or fnmatch.fnmatch(part.name, pat) for pat in patterns):
                return True
        return False

    def tarball(self) -> bytes:
        return deterministic_tar(self.paths())


def deterministic_tar(entries: Sequence[tuple[pathlib.Path, str]]) -> bytes:
    """A tar of (local path, name in the tar) with zeroed times and owners: the same files
    give the same bytes, so the same blob digest."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for p, arc in entries:
            info = tar.gettarinfo(str(p), arcname=arc)
            info.mtime = 0
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if info.isfile():
                with open(p, "rb") as f:
                    tar.addfile(info, f)
            elif info.isdir() or info.issym():
                tar.addfile(info)
    return buf.getvalue()


class Image:
    """An immutable recipe: a base plus steps. Build methods return a new Image."""

    def __init__(self, base: dict[str, Any], steps: tuple = (), mounts: tuple[LocalFiles, ...] = (), registry_secret=None):
        self._base = base
        self._steps: tuple[dict[str, Any], ...] = steps
        self._mounts = mounts  # copy=False local files, attached at container start
        self._registry_secret = registry_secret
        self._built: dict[str, tuple[str, str]] = {}  # server url -> (image id, python version), once built there

    # -- bases ------------------------------------------------------------------------------------
    @staticmethod
    def debian_slim(python_version: str | None = None, force_build: bool = False) -> Image:
        if python_version is not None and str(python_version) != HOST_PYTHON:
            raise InvalidError(
                f"Image.debian_slim(python_version={python_version!r}): this build provides Python {HOST_PYTHON} (Debian bookworm's python3); "
                f"use python_version={HOST_PYTHON!r}, leave it out, or use Image.from_registry('python:{python_version}-slim')"
            )
        return Image({"kind": "debian_slim", "python_version": HOST_PYTHON, "force_build": force_build})

    @staticmethod
    def from_registry(tag: str, *, secret=None, add_python: str | None = None, force_build: bool = False) -> Image:
        if not isinstance(tag, str) or not _REGISTRY_REF.match(tag):
            raise InvalidError(f"Image.from_registry({tag!r}): give an image reference like 'python:3.12-slim' or 'localhost:5000/team/app:v1'")
        if secret is not None:
            from squall.sdk.secret import Secret

            if not isinstance(secret, Secret):
                raise InvalidError(f"Image.from_registry(secret={secret!r}): pass a squall.Secret holding REGISTRY_USERNAME and REGISTRY_PASSWORD")
        image = Image({"kind": "registry", "ref": tag, "force_build": force_build}, registry_secret=secret)
        if add_python is not None:
            if not re.fullmatch(r"3\.\d{1,2}", str(add_python)):
                raise InvalidError(f"Image.from_registry(add_python={add_python!r}): give a version like '3.11'")
            image = image._with({"op": "add_python", "version": str(add_python)})
        return image

    @staticmethod
    def from_id(image_id: str) -> Image:
        """An image built before (`squall image list`, `image.object_id`, a sandbox snapshot)."""
        if not isinstance(image_id, str) or not re.fullmatch(r"im-[0-9a-f]{20}", image_id):
            raise InvalidError(f"Image.from_id({image_id!r}): give an image id like 'im-0123456789abcdef0123' (`squall image list`)")
        return Image({"kind": "id", "image_id": image_id})

    @staticmethod
    def from_scratch() -> Image:
        """An empty filesystem: add files to it. Functions need python3, so give it one."""
        return Image({"kind": "scratch"})

    @staticmethod
    def from_dockerfile(path: str | os.PathLike, *, context_dir: str | os.PathLike | None = None, build_args: dict[str, str] | None = None,
                        secret=None, force_build: bool = False) -> Image:
        """An image from a Dockerfile, parsed by squall (no Docker): FROM, RUN, COPY, ADD of
        local files, ENV, WORKDIR, ENTRYPOINT, CMD and ARG. Any other instruction is an error."""
        from squall.sdk._dockerfile import parse_dockerfile

        if _in_container():  # built already; the Dockerfile is not in the container
            return Image.from_scratch()
        path = _existing(path, "from_dockerfile")
        context = pathlib.Path(context_dir).expanduser().resolve() if context_dir is not None else path.parent
        plan = parse_dockerfile(path.read_text(), context_dir=context, build_args=build_args or {}, path_for_errors=str(path))
        kind, ref = plan.base
        image = Image.from_registry(ref, secret=secret, force_build=force_build) if kind == "registry" else Image.from_scratch()
        for method, args, kwargs in plan.steps:
            image = getattr(image, method)(*args, **kwargs)
        return image

    # -- package installs -------------------------------------------------------------------------
    def pip_install(self, *packages: str | list[str], index_url: str | None = None, extra_index_url: str | None = None, pre: bool = False,
                    find_links: str | None = None, extra_options: str = "", force_build: bool = False, secrets: Sequence = ()) -> Image:
        pkgs = _flatten(packages, "pip_install", _PACKAGE, "a requirement such as 'numpy' or 'numpy==2.1.0'")
        _no_build_secrets(secrets, "pip_install")
        if not pkgs:
            return self
        return self._with(_drop_empty({"op": "pip_install", "packages": pkgs, "index_url": index_url, "extra_index_url": extra_index_url, "pre": pre,
                                       "find_links": find_links, "extra_options": extra_options, "force_build": force_build}))

    def uv_pip_install(self, *packages: str | list[str], index_url: str | None = None, extra_index_url: str | None = None, pre: bool = False,
                       extra_options: str = "", force_build: bool = False, secrets: Sequence = ()) -> Image:
        pkgs = _flatten(packages, "uv_pip_install", _PACKAGE, "a requirement such as 'numpy' or 'numpy==2.1.0'")
        _no_build_secrets(secrets, "uv_pip_install")
        if not pkgs:
            return self
        return self._with(_drop_empty({"op": "uv_pip_install", "packages": pkgs, "index_url": index_url, "extra_index_url": extra_index_url,
                                       "pre": pre, "extra_options": extra_options, "force_build": force_build}))

    def pip_install_from_requirements(self, requirements_txt: str | os.PathLike, *, index_url: str | None = None, extra_index_url: str | None = None,
                                      pre: bool = False, find_links: str | None = None, force_build: bool = False, secrets: Sequence = ()) -> Image:
        if _in_container():
            return self
        path = _existing(requirements_txt, "pip_install_from_requirements")
        _no_build_secrets(secrets, "pip_install_from_requirements")
        return self._with(_drop_empty({"op": "pip_install", "packages": [], "requirements": path.read_text(), "index_url": index_url,
                                       "extra_index_url": extra_index_url, "pre": pre, "find_links": find_links, "force_build": force_build}))

    def pip_install_from_pyproject(self, pyproject_toml: str | os.PathLike, *, optional_dependencies: Sequence[str] = (), index_url: str | None = None,
                                   extra_index_url: str | None = None, pre: bool = False, force_build: bool = False, secrets: Sequence = ()) -> Image:
        import tomllib

        if _in_container():
            return self
        path = _existing(pyproject_toml, "pip_install_from_pyproject")
        try:
            project = tomllib.loads(path.read_text()).get("project", {})
        except tomllib.TOMLDecodeError as exc:
            raise InvalidError(f"pip_install_from_pyproject({str(path)!r}): not valid TOML: {exc}") from None
        deps = list(project.get("dependencies", []))
        optional = project.get("optional-dependencies", {})
        for group in optional_dependencies:
            if group not in optional:
                raise InvalidError(f"pip_install_from_pyproject: {path} has no optional-dependencies group {group!r} (it has: {', '.join(optional) or 'none'})")
            deps += optional[group]
        return self.pip_install(*deps, index_url=index_url, extra_index_url=extra_index_url, pre=pre, force_build=force_build, secrets=secrets)

    def apt_install(self, *packages: str | list[str], force_build: bool = False, secrets: Sequence = ()) -> Image:
        pkgs = _flatten(packages, "apt_install", _APT_PACKAGE, "a Debian package name such as 'git' or 'curl=7.88.1-10'")
        _no_build_secrets(secrets, "apt_install")
        if not pkgs:
            return self
        return self._with({"op": "apt_install", "packages": pkgs, "force_build": force_build})

    # -- code and commands ------------------------------------------------------------------------
    def run_commands(self, *commands: str | list[str], force_build: bool = False, secrets: Sequence = (), gpu=None) -> Image:
        cmds = _flatten(commands, "run_commands", None, "a shell command")
        _no_build_secrets(secrets, "run_commands")
        if not cmds:
            return self
        return self._with({"op": "run_commands", "commands": cmds, "force_build": force_build})

    def run_function(self, raw_f: Callable, *, args: Sequence = (), kwargs: dict | None = None, force_build: bool = False, secrets: Sequence = (),
                     **unsupported) -> Image:
        """Run `raw_f(*args, **kwargs)` inside the build container; its file changes become a layer.
        The layer is keyed by the function's source and arguments."""
        if not callable(raw_f):
            raise InvalidError(f"run_function({raw_f!r}): pass a function")
        if unsupported:
            raise InvalidError(f"run_function: {', '.join(sorted(unsupported))} not supported in image builds")
        _no_build_secrets(secrets, "run_function")
        try:
            source = inspect.getsource(raw_f)
        except (OSError, TypeError):
            source = getattr(raw_f, "__qualname__", repr(raw_f))
        import cloudpickle

        kwargs = dict(kwargs or {})
        try:
            args_key = hashlib.sha256(cloudpickle.dumps((tuple(args), kwargs))).hexdigest()
        except Exception as exc:
            raise InvalidError(f"run_function({raw_f.__name__}): its args cannot be pickled: {exc}") from None
        return self._with({"op": "run_function", "name": getattr(raw_f, "__qualname__", "function"), "source_sha": hashlib.sha256(source.encode()).hexdigest(),
                           "args_sha": args_key, "force_build": force_build, "_callable": (raw_f, tuple(args), kwargs)})

    # -- settings ---------------------------------------------------------------------------------
    def env(self, vars: dict[str, str]) -> Image:
        if not isinstance(vars, dict) or not all(isinstance(k, str) and k and "=" not in k for k in vars):
            raise InvalidError(f"Image.env({vars!r}): give a dict of variable names to string values")
        bad = {k: v for k, v in vars.items() if not isinstance(v, str)}
        if bad:
            raise InvalidError(f"Image.env: values must be strings, got {bad!r}")
        return self._with({"op": "env", "env": dict(vars)}) if vars else self

    def workdir(self, path: str | pathlib.PurePosixPath) -> Image:
        path = str(path)
        if not path.startswith("/"):
            raise InvalidError(f"Image.workdir({path!r}): give an absolute path inside the container")
        return self._with({"op": "workdir", "path": path})

    def entrypoint(self, entrypoint_commands: list[str]) -> Image:
        return self._with({"op": "entrypoint", "argv": _argv(entrypoint_commands, "entrypoint")})

    def cmd(self, cmd: list[str]) -> Image:
        return self._with({"op": "cmd", "argv": _argv(cmd, "cmd")})

    # -- local files ------------------------------------------------------------------------------
    def add_local_dir(self, local_path: str | os.PathLike, remote_path: str, *, copy: bool = False, ignore: Ignore = ()) -> Image:
        if _in_container():
            return self
        local = _existing(local_path, "add_local_dir")
        if not local.is_dir():
            raise InvalidError(f"add_local_dir({str(local_path)!r}): not a directory; use add_local_file for a file")
        return self._add_files(LocalFiles(local, _remote(remote_path, "add_local_dir"), ignore), copy)

    def add_local_file(self, local_path: str | os.PathLike, remote_path: str, *, copy: bool = False) -> Image:
        if _in_container():
            return self
        local = _existing(local_path, "add_local_file")
        if not local.is_file():
            raise InvalidError(f"add_local_file({str(local_path)!r}): not a file; use add_local_dir for a directory")
        remote = str(remote_path)
        if remote.endswith("/"):
            remote += local.name
        return self._add_files(LocalFiles(local, _remote(remote, "add_local_file")), copy)

    def add_local_python_source(self, *modules: str, copy: bool = False, ignore: Ignore = ()) -> Image:
        """Put local Python packages or modules (found on this machine's sys.path) into /root,
        which is on the container's sys.path."""
        import importlib.util

        if _in_container():
            return self
        image = self
        for name in modules:
            if not isinstance(name, str) or not name.isidentifier():
                raise InvalidError(f"add_local_python_source({name!r}): give a top-level module name")
            spec = importlib.util.find_spec(name)
            if spec is None or not spec.origin or spec.origin in ("built-in", "frozen"):
                raise InvalidError(f"add_local_python_source({name!r}): no such module on this machine's sys.path")
            origin = pathlib.Path(spec.origin)
            if spec.submodule_search_locations:
                image = image._add_files(LocalFiles(origin.parent, f"/root/{name}", ignore), copy)
            else:
                image = image._add_files(LocalFiles(origin, f"/root/{origin.name}"), copy)
        return image

    def _add_files(self, files: LocalFiles, copy: bool) -> Image:
        if copy:
            return self._with({"op": "copy", "dest": files.remote, "source": str(files.local), "is_file": files.local.is_file(), "_files": files})
        return Image(self._base, self._steps, self._mounts + (files,), self._registry_secret)

    # -- other ------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def imports(self):
        """`with image.imports(): import torch` — the imports happen in the container, where the
        image has the packages; on this machine a missing package is not an error."""
        try:
            yield
        except ImportError:
            if _in_container():
                raise

    def _with(self, step: dict[str, Any]) -> Image:
        if self._base["kind"] == "id":
            raise InvalidError("an Image.from_id() image is used as it is; build on it with a recipe of its own instead")
        if self._mounts and step["op"] not in ("env", "workdir", "entrypoint", "cmd"):
            raise InvalidError(
                f"Image.{step['op']}() after add_local_* with copy=False: those files are attached when the container starts, so later build steps "
                "cannot see them; add the files last, or pass copy=True"
            )
        return Image(self._base, self._steps + (step,), self._mounts, self._registry_secret)

    def __repr__(self) -> str:
        from squall.images.recipe import describe_step

        return "Image(" + ".".join([describe_step({"op": "base", **self._base})] + [describe_step(s) for s in self._steps]) + ")"

    # -- building ---------------------------------------------------------------------------------
    @property
    def image_id(self) -> str | None:
        """The id from the latest build (None before the image was built)."""
        if self._base["kind"] == "id":
            return self._base["image_id"]
        return list(self._built.values())[-1][0] if self._built else None

    async def _recipe(self, client) -> str:
        """The recipe JSON, uploading what copy steps and run_function need first."""
        steps = []
        for step in self._steps:
            step = dict(step)
            files = step.pop("_files", None)
            if files is not None:
                step["context"] = await upload_blob(client, files.tarball())
            fn = step.pop("_callable", None)
            if fn is not None:
                step["_payload"] = await upload_blob(client, _pickle_function(*fn))
            steps.append(step)
        return json.dumps({"base": self._base, "steps": steps}, sort_keys=True)

    async def _build(self, client, on_log: Callable[[str], None] | None = None, force: bool = False) -> tuple[str, str]:
        """Build (or find) the image; returns (image id, python version). Logs stream to on_log."""
        if client.server_url in self._built and not force:
            return self._built[client.server_url]
        if self._base["kind"] == "id":
            return await self._hydrate_id(client)
        from squall._proto.squall.v1 import api_pb2
        from squall.exception import ImageBuildError

        secret_id = ""
        if self._registry_secret is not None:
            await self._registry_secret._resolve()
            secret_id = self._registry_secret.object_id
        request = api_pb2.ImageBuildRequest(recipe_json=await self._recipe(client), force=force or _env_force(), registry_secret_id=secret_id)
        import grpc

        from squall.client.client import translate

        try:
            async for event in client.stream("ImageBuild", request):
                kind = event.WhichOneof("event")
                if kind == "log" and on_log is not None:
                    on_log(event.log)
                elif kind == "error":
                    raise ImageBuildError(event.error)
                elif kind == "done":
                    self._built[client.server_url] = (event.done.image_id, event.done.python_version)
        except grpc.aio.AioRpcError as exc:
            raise translate(exc, client.server_url) from None
        if client.server_url not in self._built:
            raise ImageBuildError("the server ended the image build without a result; try again")
        return self._built[client.server_url]

    async def _hydrate_id(self, client) -> tuple[str, str]:
        from squall._proto.squall.v1 import api_pb2

        info = await client.call("ImageGet", api_pb2.ImageGetRequest(image_id=self._base["image_id"]))
        if info.status != "ready":
            raise InvalidError(f"Image.from_id({info.image_id!r}): that image is {info.status}, not ready")
        self._built[client.server_url] = (info.image_id, info.python_version)
        return self._built[client.server_url]

    @property
    def object_id(self) -> str | None:
        return self.image_id

    async def _file_mounts(self, client) -> list:
        """A FileMount for each copy=False set of local files, uploaded."""
        from squall._proto.squall.v1 import common_pb2

        return [common_pb2.FileMount(digest=await upload_blob(client, files.tarball()), path=files.remote, is_file=files.local.is_file())
                for files in self._mounts]


async def upload_blob(client, data: bytes) -> str:
    """Store `data` in the blob store (unless it is there already); returns its digest."""
    from squall.sdk import _blobs

    return await _blobs.upload(client, data)


def _pickle_function(fn: Callable, args: tuple, kwargs: dict) -> bytes:
    import cloudpickle

    module = sys.modules.get(fn.__module__)
    by_value = module is not None and fn.__module__ not in ("__main__",) and not fn.__module__.startswith(("squall.", "modal."))
    if by_value:
        cloudpickle.register_pickle_by_value(module)  # the build container does not have the app's code
    try:
        return cloudpickle.dumps((fn, args, kwargs))
    finally:
        if by_value:
            cloudpickle.unregister_pickle_by_value(module)


def _in_container() -> bool:
    """Inside a container the image is already built: its definition is evaluated (the app's
    module is imported) but local files are not there to read, and need not be."""
    from squall import config

    return bool(os.environ.get(config.ENV_IS_REMOTE))


def _env_force() -> bool:
    return os.environ.get("SQUALL_FORCE_BUILD", os.environ.get("MODAL_FORCE_BUILD", "")) not in ("", "0")


def _flatten(items, method: str, pattern: re.Pattern | None, what: str) -> list[str]:
    out: list[str] = []
    for item in items:
        for value in item if isinstance(item, (list, tuple)) else [item]:
            if not isinstance(value, str) or not value.strip():
                raise InvalidError(f"Image.{method}({value!r}): each argument must be {what}")
            value = value.strip()
            if pattern is not None and not pattern.match(value):
                raise InvalidError(f"Image.{method}({value!r}): not {what}")
            out.append(value)
    return out


def _drop_empty(step: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in step.items() if v not in (None, "", False) or k in ("op", "packages")}


def _argv(argv, method: str) -> list[str]:
    if not isinstance(argv, (list, tuple)) or not argv or not all(isinstance(a, str) for a in argv):
        raise InvalidError(f"Image.{method}({argv!r}): give a non-empty list of strings, e.g. ['python', '-m', 'app']")
    return list(argv)


def _existing(path, method: str) -> pathlib.Path:
    p = pathlib.Path(path).expanduser()
    if not p.exists():
        raise InvalidError(f"Image.{method}({str(path)!r}): {p.resolve()} does not exist")
    return p.resolve()


def _remote(path: str, method: str) -> str:
    path = str(path)
    if not path.startswith("/"):
        raise InvalidError(f"Image.{method}(..., remote_path={path!r}): give an absolute path inside the container, e.g. '/root/data'")
    return path.rstrip("/") or "/"


def _no_build_secrets(secrets, method: str) -> None:
    if secrets:
        raise InvalidError(f"Image.{method}(secrets=...): secrets in build steps are not supported yet; bake public settings in with .env()")
