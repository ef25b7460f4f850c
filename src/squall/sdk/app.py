"""App: a named group of functions and classes, and the `app.run()` that makes them live."""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import pathlib
import sys

from squall._proto.squall.v1 import api_pb2
from squall._proto.squall.v1 import common_pb2 as pb
from squall.exception import InvalidError
from squall.sdk._sync import run_sync
from squall.sdk.cls import Cls, method_names
from squall.sdk.function import Function, build_options, is_generator_function
from squall.sdk import web
from squall.sdk.image import Image, deterministic_tar, upload_blob
from squall.sdk.schedule import schedule_proto
from squall.sdk.volume import bucket_secrets, check_volumes, mount_spec


@dataclasses.dataclass
class _Running:
    app_id: str
    client: object
    ephemeral: bool = True


@dataclasses.dataclass(frozen=True)
class CodeMount:
    """The user's code as containers see it: one file, or the top package directory."""

    module_name: str
    mount_name: str
    host_path: pathlib.Path

    @staticmethod
    def of(obj) -> CodeMount:
        module = sys.modules.get(obj.__module__)
        path = getattr(module, "__file__", None)
        if not path:
            raise InvalidError(f"{obj.__qualname__} is defined in {obj.__module__!r}, which has no file; define it in a .py file")
        path = pathlib.Path(path).resolve()
        module_name = obj.__module__
        if module_name == "__main__" or module_name.startswith("squall_app_"):
            module_name = getattr(module, "__squall_module_name__", path.stem)
        if (path.parent / "__init__.py").exists():
            top = path.parent
            while (top.parent / "__init__.py").exists():
                top = top.parent
            parts = path.relative_to(top.parent).with_suffix("").parts
            module_name = ".".join(p for p in parts if p != "__init__")
            return CodeMount(module_name, top.name, top)
        return CodeMount(module_name, path.name, path)

    def tarball(self) -> bytes:
        """A deterministic tar (sorted, zeroed times) so unchanged code has the same digest."""
        paths = [self.host_path] if self.host_path.is_file() else sorted(
            p for p in self.host_path.rglob("*") if "__pycache__" not in p.parts and not p.name.endswith(".pyc")
        )
        return deterministic_tar([(p, self.mount_name if p == self.host_path else f"{self.mount_name}/{p.relative_to(self.host_path)}") for p in paths])


class App:
    def __init__(self, name: str | None = None, *, image: Image | None = None, secrets=(), volumes=None, tags=None, include_source=None):
        if name is not None and (not isinstance(name, str) or not name or len(name) > 64):
            raise InvalidError(f"App name {name!r}: give a string of 1 to 64 characters")
        self.name = name
        self.image = image
        self._secrets = _check_secrets(secrets, "App")
        self._volumes = check_volumes(volumes, "App")
        self._function_volumes: dict[str, dict] = {}  # function name -> {mount path: Volume}, the app's first
        self._function_secrets: dict[str, list] = {}  # function name -> its Secrets, the app's first
        self._functions: dict[str, Function] = {}
        self._classes: dict[str, Cls] = {}
        self._local_entrypoints: dict[str, object] = {}
        self._running: _Running | None = None
        self._images: dict[str, Image] = {}  # function name -> the image its containers run
        self.app_id: str | None = None

    def __repr__(self) -> str:
        return f"App({self.name!r})"

    @property
    def registered_functions(self) -> dict[str, Function]:
        return dict(self._functions)

    @property
    def registered_classes(self) -> dict[str, Cls]:
        return dict(self._classes)

    @property
    def registered_entrypoints(self) -> dict[str, object]:
        return dict(self._local_entrypoints)

    # -- decorators ----------------------------------------------------------------------------
    def function(self, _warn_parentheses=None, *, image: Image | None = None, name: str | None = None, serialized: bool = False, **options):
        if _warn_parentheses is not None:
            raise InvalidError("use @app.function() with parentheses")
        if serialized:
            raise InvalidError("serialized=True is not supported yet: define the function at module level in a file")
        function_secrets = _check_secrets(options.pop("secrets", ()), "@app.function")
        function_volumes = check_volumes(options.pop("volumes", None), "@app.function")
        for bad in ("region", "cloud", "enable_memory_snapshot", "ephemeral_disk"):
            if options.get(bad):
                raise InvalidError(f"@app.function({bad}=...) is not supported yet in this squall build")
            options.pop(bad, None)
        schedule = schedule_proto(options.pop("schedule", None))
        base_options = dict(options)

        def deco(raw_f):
            if isinstance(raw_f, Function):
                raise InvalidError(f"{raw_f._name} is already a squall Function; apply @app.function() once")
            if not callable(raw_f) or inspect.isclass(raw_f):
                raise InvalidError(f"@app.function() decorates a function, not {raw_f!r}; use @app.cls() for classes")
            opts = build_options(
                is_generator=is_generator_function(raw_f), concurrent=getattr(raw_f, "__squall_concurrent__", None),
                batched=getattr(raw_f, "__squall_batched__", None), **base_options,
            )
            if "<locals>" in raw_f.__qualname__:
                raise InvalidError(f"{raw_f.__qualname__} is defined inside another function; define it at module level so containers can import it")
            fname = name or raw_f.__name__
            definition = self._definition(raw_f, raw_f.__qualname__, fname, image, opts, is_class=False)
            web.attach(self, fname, raw_f, definition)
            if schedule is not None:
                definition.schedule.CopyFrom(schedule)
            fn = Function(self, raw_f, fname, definition)
            self._register(fname, fn)
            self._function_volumes[fname] = {**self._volumes, **function_volumes}
            self._function_secrets[fname] = [*self._secrets, *function_secrets, *bucket_secrets(self._function_volumes[fname])]
            return fn

        return deco

    def cls(self, _warn_parentheses=None, *, image: Image | None = None, serialized: bool = False, **options):
        if _warn_parentheses is not None:
            raise InvalidError("use @app.cls() with parentheses")
        class_secrets = _check_secrets(options.pop("secrets", ()), "@app.cls")
        class_volumes = check_volumes(options.pop("volumes", None), "@app.cls")
        for bad in ("region", "cloud", "enable_memory_snapshot", "ephemeral_disk"):
            if options.get(bad):
                raise InvalidError(f"@app.cls({bad}=...) is not supported yet in this squall build")
            options.pop(bad, None)

        def deco(user_cls):
            if not inspect.isclass(user_cls):
                raise InvalidError(f"@app.cls() decorates a class, not {user_cls!r}")
            if not method_names(user_cls):
                raise InvalidError(f"class {user_cls.__name__} has no @squall.method(); mark the methods callers may call")
            opts = build_options(
                concurrent=getattr(user_cls, "__squall_concurrent__", None), batched=getattr(user_cls, "__squall_batched__", None), **options
            )
            definition = self._definition(user_cls, user_cls.__qualname__, f"{user_cls.__name__}.*", image, opts, is_class=True)
            methods = method_names(user_cls)
            definition.methods.extend(methods)
            definition.generator_methods.extend(m for m, raw in methods.items() if _is_generator_method(raw))
            class_fn = Function(self, None, user_cls.__name__, definition)
            c = Cls(self, user_cls, class_fn)
            self._register(user_cls.__name__, class_fn)
            self._function_volumes[user_cls.__name__] = {**self._volumes, **class_volumes}
            self._function_secrets[user_cls.__name__] = [*self._secrets, *class_secrets, *bucket_secrets(self._function_volumes[user_cls.__name__])]
            self._classes[user_cls.__name__] = c
            return c

        return deco

    def local_entrypoint(self, _warn_parentheses=None, *, name: str | None = None):
        if _warn_parentheses is not None:
            raise InvalidError("use @app.local_entrypoint() with parentheses")

        def deco(fn):
            self._local_entrypoints[name or fn.__name__] = fn
            return fn

        return deco

    def _definition(self, obj, qualname: str, function_name: str, image: Image | None, opts: pb.FunctionOptions, is_class: bool) -> pb.FunctionDefinition:
        if image is not None and not isinstance(image, Image):
            raise InvalidError(f"{qualname}: image={image!r} is not a squall.Image; use e.g. Image.debian_slim().pip_install(...)")
        self._images[function_name.removesuffix(".*")] = image or self.image or Image.debian_slim()
        mount = CodeMount.of(obj)
        return pb.FunctionDefinition(
            module_name=mount.module_name, qualname=qualname, is_class=is_class, mount_name=mount.mount_name,
            options=opts, app_name=self.name or "", function_name=function_name,
        )

    def _register(self, name: str, fn: Function) -> None:
        if name in self._functions:
            raise InvalidError(f"app {self.name!r} already has a function named {name!r}; pass name= to one of them")
        self._functions[name] = fn

    # -- running -------------------------------------------------------------------------------
    @contextlib.contextmanager
    def run(self, *, detach: bool = False):
        """Create an ephemeral app on the server, register the functions; stop it on exit."""
        if self._running is not None:
            raise InvalidError(f"app {self.name!r} is already running")
        run_sync(self._start(ephemeral=True))
        try:
            yield self
        finally:
            if not detach:
                run_sync(self._stop())

    def deploy(self, *, name: str | None = None) -> int:
        """Create or update the persistent app `name` (default: the App's name) on the configured
        server, as its next version; returns the version. A rolling update: calls already running
        on the previous version finish there, new ones go to this one."""
        return run_sync(self._deploy(name))

    async def _deploy(self, name: str | None) -> int:
        name = name or self.name
        if not name:
            raise InvalidError("a deployed app needs a name: App(\"name\") or deploy(name=...)")
        if self._running is not None and self._running.ephemeral:
            raise InvalidError(f"app {self.name!r} is running (app.run()); deploy it outside the `with app.run():` block")
        if name != self.name:
            for fn in self._functions.values():
                fn._definition.app_name = name
        self.name = name
        function_ids = await self._start(ephemeral=False)
        resp = await self._running.client.call("AppPublish", api_pb2.AppPublishRequest(app_id=self.app_id, function_ids=function_ids))
        return resp.version

    async def _start(self, ephemeral: bool) -> dict[str, str]:
        from squall.client.client import get_client

        client = await get_client()
        secret_ids = await self._resolve_secrets()  # required_keys are checked here, before any container can start
        resp = await client.call("AppCreate", api_pb2.AppCreateRequest(name=self.name or "app", ephemeral=ephemeral))
        self.app_id = resp.app_id
        function_ids = {}
        digests: dict[CodeMount, str] = {}
        await self._build_images(client)
        for fname, fn in self._functions.items():
            mount = CodeMount.of(fn._squall_raw or self._classes[fname]._squall_raw)
            if mount not in digests:
                digests[mount] = await upload_blob(client, mount.tarball())
            fn._definition.mount_digest = digests[mount]
            image = self._images[fname]
            fn._definition.image_id = (await image._build(client))[0]
            del fn._definition.file_mounts[:]
            fn._definition.file_mounts.extend(await image._file_mounts(client))
            del fn._definition.secret_ids[:]
            fn._definition.secret_ids.extend(secret_ids[fname])
            del fn._definition.volumes[:]
            for path, vol in self._function_volumes.get(fname, {}).items():  # named volumes are created here when create_if_missing
                fn._definition.volumes.append(await mount_spec(path, vol))
            created = await client.call("FunctionCreate", api_pb2.FunctionCreateRequest(app_id=self.app_id, name=fname, definition=fn._definition))
            fn._function_id = function_ids[fname] = created.function_id
        self._running = _Running(self.app_id, client, ephemeral)
        return function_ids

    async def _build_images(self, client) -> None:
        """Build every image the app's functions use (each once) before any container starts."""
        from squall.sdk.function import progress

        for image in {id(im): im for im in self._images.values()}.values():
            await image._build(client, on_log=lambda line, image=image: progress.image_log(_short(image), line))

    async def _stop(self) -> None:
        running, self._running = self._running, None
        if running is not None:
            await running.client.call("AppStop", api_pb2.AppStopRequest(app_id=running.app_id))
        for fn in self._functions.values():
            fn._function_id = None
        await self._release_secrets()

    def _all_secrets(self) -> list:
        unique = {}
        for secrets in self._function_secrets.values():
            for s in secrets:
                unique[id(s)] = s
        return list(unique.values())

    async def _resolve_secrets(self) -> dict[str, list[str]]:
        """Each function's secret ids; named secrets must exist with their required keys. On an
        error, the ephemeral secrets made so far are deleted again."""
        try:
            for s in self._all_secrets():
                await s._resolve()
        except BaseException:
            await self._release_secrets()
            raise
        return {fname: list(dict.fromkeys(s.object_id for s in secrets)) for fname, secrets in self._function_secrets.items()}

    async def _release_secrets(self) -> None:
        for s in self._all_secrets():
            with contextlib.suppress(Exception):
                await s._release()


def _check_secrets(secrets, where: str) -> list:
    from squall.sdk.secret import Secret

    if secrets is None:
        return []
    if isinstance(secrets, Secret) or not isinstance(secrets, (list, tuple)):
        raise InvalidError(f"{where}(secrets=...) takes a list of squall.Secret, got {secrets!r}")
    for s in secrets:
        if not isinstance(s, Secret):
            raise InvalidError(f"{where}(secrets=[...]): {s!r} is not a squall.Secret; use Secret.from_name, from_dict, from_dotenv or from_local_environ")
    return list(secrets)


def _short(image: Image) -> str:
    text = repr(image).removeprefix("Image(").removesuffix(")")
    return text if len(text) <= 40 else text[:37] + "..."


def _is_generator_method(raw) -> bool:
    flag = getattr(raw, "__squall_method__", {}).get("is_generator")
    return is_generator_function(raw) if flag is None else bool(flag)


