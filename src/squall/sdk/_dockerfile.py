"""Dockerfile -> Image steps: a pure-Python parser for `Image.from_dockerfile`, no Docker involved.

`parse_dockerfile` reads a single-stage Dockerfile and returns a `DockerfilePlan`: the base
(`("registry", "python:3.11-slim")` or `("scratch", None)`) and a list of
`(method_name, args, kwargs)` that the Image DSL applies in order:

    RUN cmd / RUN ["a", "b"]     ("run_commands", (cmd,), {})          exec form: shlex.join
    ENV k=v k2="v 2" / ENV k v   ("env", ({"k": "v", ...},), {})
    WORKDIR path                 ("workdir", (abs_path,), {})          relative: against the last WORKDIR
    COPY/ADD src... dest         ("add_local_dir", (abs_local, remote), {"copy": True[, "ignore": [...]]})
                                 ("add_local_file", (abs_local, remote), {"copy": True})
    ENTRYPOINT / CMD             ("entrypoint" | "cmd", ([argv...],), {})   shell form: ["/bin/sh", "-c", s]

FROM and ARG produce no step. Every other instruction (EXPOSE, USER, VOLUME, LABEL, SHELL,
HEALTHCHECK, ONBUILD, STOPSIGNAL, MAINTAINER, a second FROM, ...) is an `InvalidError` naming
the file, line and instruction: silently dropping one would build an image that differs from
what the Dockerfile says.

Docker's rules that are kept, and the choices where squall differs:
- Lexing follows BuildKit: `\\` line continuations (or the `# escape=` directive's char),
  comments and blank lines dropped, instruction names case-insensitive, other parser
  directives (`# syntax=`, `# check=`) ignored. Heredocs (`RUN <<EOF`) are rejected.
- `$VAR`, `${VAR}`, `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`,
  `${VAR:?message}` are expanded, with Docker's quoting rules, in FROM, ARG, ENV, WORKDIR
  and COPY/ADD (paths and --chown/--chmod), never in RUN, CMD or ENTRYPOINT. Lookup order:
  the Dockerfile's ENV, then ARG values, then `base_env` (the base image's Env; when the
  caller does not know it yet, only BuildKit's default PATH). An unset variable is "".
- ARG: `build_args` override defaults; ARGs before FROM are visible to FROM only, unless
  redeclared after it. BuildKit's automatic TARGETOS/TARGETARCH/... args get this machine's
  values when declared. The ARG values in scope reach RUN as they do in Docker (present
  while building, absent from the final image): each RUN is prefixed with
  `export K='V' ...; ` for the ARGs not shadowed by an ENV of the Dockerfile. Proxy build args
  (HTTP_PROXY, ...) reach RUN without being declared. Build args no ARG declares are
  reported in `DockerfilePlan.unused_build_args` (Docker only warns about them).
- COPY/ADD: sources are relative to `context_dir`, Go-style globs (`*`, `?`, `[...]`, which
  match dot files too) are expanded, a directory source copies its contents. A destination
  ending in `/` (or `.`) is a directory; several sources need one. Relative destinations
  resolve against WORKDIR. .dockerignore is honoured: an excluded source is an error (as in
  Docker, it is not in the context), and a directory source gets `"ignore": [paths]` in its
  kwargs, listing the excluded paths relative to that directory (literal paths with glob
  characters backslash-escaped, each matching itself and, for a directory, all below it).
  `--chown`/`--chmod` are honoured with a following `chown -R` / `chmod -R` RUN over exactly
  the copied paths (so the image needs a shell and coreutils, as Docker needs for RUN).
  `--link` is accepted (only a cache optimisation). `--from` is rejected (multi-stage builds
  are not supported), as are ADD of a URL or of a local tar archive (which Docker extracts),
  and any other flag.
- Docker decides a destination without a trailing `/` by looking at the built image (an
  existing directory gets the file inside); we cannot, so such a destination is a file path,
  as the Dockerfile reference documents.
"""

from __future__ import annotations

import json
import os
import platform
import posixpath
import re
import shlex
import tarfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from squall.exception import InvalidError

SUPPORTED_INSTRUCTIONS = ("FROM", "ARG", "RUN", "ENV", "WORKDIR", "COPY", "ADD", "ENTRYPOINT", "CMD")
KNOWN_UNSUPPORTED = ("EXPOSE", "USER", "VOLUME", "HEALTHCHECK", "LABEL", "ONBUILD", "SHELL", "STOPSIGNAL", "MAINTAINER")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # BuildKit's, when the image sets none
# Build args Docker passes to RUN without an ARG line.
PROXY_ARGS = frozenset({"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"})
_ARCH = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64", "armv7l": "arm", "ppc64le": "ppc64le", "s390x": "s390x"}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_URL = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]*://|git@)")
_HEREDOC = re.compile(r"(?<!<)<<-?\s*([\"']?)[A-Za-z_][A-Za-z0-9_.-]*\1")
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$")
_FLAG = re.compile(r"""\s*--([A-Za-z][A-Za-z0-9-]*)(?:=("[^"]*"|'[^']*'|\S*))?(?=\s|$)""")

Step = tuple[str, tuple, dict]


@dataclass
class DockerfilePlan:
    """What a Dockerfile asks for, in Image DSL terms."""

    base: tuple[str, str | None]  # ("registry", "python:3.11-slim") or ("scratch", None)
    steps: list[Step] = field(default_factory=list)
    unused_build_args: tuple[str, ...] = ()  # build_args no ARG declared (Docker warns about these)


def _automatic_args() -> dict[str, str]:
    arch = _ARCH.get(platform.machine().lower(), platform.machine().lower())
    plat = f"linux/{arch}"
    return {
        "TARGETPLATFORM": plat, "TARGETOS": "linux", "TARGETARCH": arch, "TARGETVARIANT": "",
        "BUILDPLATFORM": plat, "BUILDOS": "linux", "BUILDARCH": arch, "BUILDVARIANT": "",
    }  # fmt: skip


class _Words:
    """Docker's shell-word processing (quotes, escapes, $ expansion) over one string."""

    def __init__(self, text: str, escape: str, lookup: Callable[[str], str | None], fail: Callable[[str], InvalidError]):
        self.s, self.i, self.esc, self.lookup, self.fail = text, 0, escape, lookup, fail

    def process(self, *, split: bool, stop: str | None = None, expand: bool = True) -> list[str]:
        """Words (split=True) or the one processed string (split=False, returned as [s]); stops at `stop`."""
        s, esc = self.s, self.esc
        words: list[str] = []
        cur: list[str] = []
        in_word = False

        def flush() -> None:
            nonlocal cur, in_word
            if in_word:
                words.append("".join(cur))
            cur, in_word = [], False

        def add_split(text: str) -> None:
            nonlocal in_word
            for ch in text:
                if ch.isspace():
                    flush()
                else:
                    cur.append(ch)
                    in_word = True

        while self.i < len(s):
            ch = s[self.i]
            if stop is not None and ch == stop:
                break
            if ch == "'":
                end = s.find("'", self.i + 1)
                if end < 0:
                    raise self.fail(f"unterminated single quote in {s!r}")
                cur.append(s[self.i + 1 : end])
                in_word, self.i = True, end + 1
            elif ch == '"':
                cur.append(self._double_quoted(expand))
                in_word = True
            elif ch == esc:
                if self.i + 1 < len(s):
                    cur.append(s[self.i + 1])
                    in_word = True
                self.i += 2
            elif ch == "$" and expand:
                text = self._dollar()
                if split:
                    add_split(text)
                else:
                    cur.append(text)
                    in_word = True
            elif ch.isspace() and split:
                flush()
                self.i += 1
            else:
                cur.append(ch)
                in_word = True
                self.i += 1
        if split:
            flush()
            return words
        return ["".join(cur)]

    def _double_quoted(self, expand: bool) -> str:
        s, out = self.s, []
        self.i += 1
        while True:
            if self.i >= len(s):
                raise self.fail(f"unterminated double quote in {s!r}")
            ch = s[self.i]
            if ch == '"':
                self.i += 1
                return "".join(out)
            if ch == "$" and expand:
                out.append(self._dollar())
            elif ch == self.esc and self.i + 1 < len(s) and s[self.i + 1] in ('"', "$", self.esc):
                out.append(s[self.i + 1])
                self.i += 2
            else:
                out.append(ch)
                self.i += 1

    def _dollar(self) -> str:
        s = self.s
        self.i += 1  # the $
        if self.i < len(s) and s[self.i] == "{":
            self.i += 1
            m = re.compile(r"[A-Za-z0-9_]+").match(s, self.i)
            if not m:
                raise self.fail(f"bad substitution in {s!r}: expected a variable name after '${{'")
            name = m.group()
            self.i = m.end()
            if self.i >= len(s):
                raise self.fail(f"missing '}}' in {s!r}")
            if s[self.i] == "}":
                self.i += 1
                return self.lookup(name) or ""
            colon = s[self.i] == ":"
            op = s[self.i + 1 : self.i + 2] if colon else s[self.i]
            if op not in ("-", "+", "?"):
                raise self.fail(
                    f"unsupported substitution in {s!r} after ${{{name}: supported are ${{VAR}}, ${{VAR:-default}}, "
                    "${VAR-default}, ${VAR:+alternative}, ${VAR+alternative} and ${VAR:?message}"
                )
            self.i += 2 if colon else 1
            word = self.process(split=False, stop="}")[0]
            if self.i >= len(s):
                raise self.fail(f"missing '}}' in {s!r}")
            self.i += 1
            value = self.lookup(name)
            present = bool(value) if colon else value is not None
            if op == "-":
                return value if present else word  # type: ignore[return-value]
            if op == "+":
                return word if present else ""
            if not present:
                raise self.fail(f"{name} is not set: {word or 'a value is required'}")
            return value  # type: ignore[return-value]
        m = re.compile(r"[0-9]+|[A-Za-z_][A-Za-z0-9_]*").match(s, self.i)
        if not m:
            return "$"
        self.i = m.end()
        return self.lookup(m.group()) or ""


def _split_raw(text: str, escape: str) -> list[str]:
    """Whitespace-separated words, quotes and escapes kept (Docker's parseWords, for ENV and ARG)."""
    words, cur, quote, i = [], [], "", 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == escape and quote == '"' and i + 1 < len(text):
                cur.append(text[i : i + 2])
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch == escape and i + 1 < len(text):
            cur.append(text[i : i + 2])
            i += 2
            continue
        elif ch in "'\"":
            quote = ch
        elif ch.isspace():
            if cur:
                words.append("".join(cur))
                cur = []
            i += 1
            continue
        cur.append(ch)
        i += 1
    if cur:
        words.append("".join(cur))
    return words


# --- .dockerignore -----------------------------------------------------------------------


def _ignore_regex(pattern: str) -> re.Pattern[str]:
    out, i = [], 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                out.append("(?:.*/)?")
                i += 1
            else:
                out.append(".*")
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1 : end]
                out.append("[" + ("^" + body[1:] if body.startswith("^") else body).replace("\\", "\\\\") + "]")
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + r"\Z")


class _DockerIgnore:
    """Docker's .dockerignore rules: patterns anchored at the context root, `**`, `!` exceptions, last match wins."""

    def __init__(self, context_dir: Path):
        self.rules: list[tuple[bool, re.Pattern[str]]] = []
        path = context_dir / ".dockerignore"
        if not path.is_file():
            return
        for line in path.read_text(errors="replace").splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            pat = posixpath.normpath(line[1:].strip() if negate else line).lstrip("/")
            if pat and pat != ".":
                self.rules.append((negate, _ignore_regex(pat)))
        self.has_exceptions = any(neg for neg, _ in self.rules)

    def excluded(self, rel: str) -> bool:
        """Whether context-relative POSIX path `rel` is excluded (itself or through a parent dir)."""
        if not self.rules:
            return False
        parts = rel.split("/")
        prefixes = ["/".join(parts[: k + 1]) for k in range(len(parts))]
        result = False
        for negate, rx in self.rules:
            if any(rx.match(p) for p in prefixes):
                result = not negate
        return result

    def ignored_below(self, context_dir: Path, rel_dir: str) -> list[str]:
        """The excluded paths under context dir `rel_dir`, relative to it; a fully excluded dir is one entry."""
        if not self.rules:
            return []
        out: list[str] = []

        def walk(rel: str, local: str) -> bool:  # returns whether everything under rel is excluded
            full = context_dir / rel if rel else context_dir
            entries = sorted(os.scandir(full), key=lambda e: e.name)
            all_excluded, found = True, []
            for e in entries:
                child_rel = f"{rel}/{e.name}" if rel else e.name
                child_local = f"{local}/{e.name}" if local else e.name
                ex = self.excluded(child_rel)
                if e.is_dir(follow_symlinks=False) and (not ex or self.has_exceptions):
                    mark = len(out)
                    whole = walk(child_rel, child_local)
                    if whole and ex:
                        del out[mark:]
                        found.append(child_local)
                    else:
                        all_excluded = False
                elif ex:
                    found.append(child_local)
                else:
                    all_excluded = False
            out.extend(found)
            return all_excluded

        walk("" if rel_dir == "." else rel_dir, "")
        return sorted(re.sub(r"([*?\[\\])", r"\\\1", p) for p in out)


# --- the parser -------------------------------------------------------------------------------


@dataclass
class _Line:
    lineno: int
    instruction: str  # upper case
    args: str


def _logical_lines(text: str, fail_at: Callable[[int, str], InvalidError]) -> tuple[list[_Line], str]:
    """The instructions of `text` with their first line numbers, and the escape character."""
    escape = "\\"
    raw = text.splitlines()
    i = 0
    # Parser directives: only at the very top, before any comment, blank line or instruction.
    seen: set[str] = set()
    while i < len(raw):
        m = _DIRECTIVE.match(raw[i])
        if not m:
            break
        key, value = m.group(1).lower(), m.group(2)
        if key in seen:
            raise fail_at(i + 1, f"parser directive {key!r} given twice")
        seen.add(key)
        if key == "escape":
            if value not in ("\\", "`"):
                raise fail_at(i + 1, f"escape directive {value!r} is not allowed: use '\\' or '`'")
            escape = value
        i += 1  # syntax=, check= and unknown directives are ignored, as BuildKit does
    continuation = re.compile(re.escape(escape) + r"[ \t]*$")
    lines: list[_Line] = []
    while i < len(raw):
        stripped = raw[i].strip()
        start = i + 1
        i += 1
        if not stripped or stripped.startswith("#"):
            continue
        parts = []
        current = stripped
        while continuation.search(current):
            parts.append(continuation.sub("", current))
            # Comment and blank lines inside a continued instruction are dropped, as Docker does.
            while i < len(raw) and (not raw[i].strip() or raw[i].strip().startswith("#")):
                i += 1
            if i >= len(raw):
                current = ""
                break
            current = raw[i].strip()
            i += 1
        parts.append(current)
        full = "".join(parts).strip()
        word, _, rest = full.partition(" ")
        if "\t" in word:
            word, _, more = word.partition("\t")
            rest = more + " " + rest
        lines.append(_Line(start, word.upper(), rest.strip()))
    return lines, escape


def _json_list(args: str) -> list[str] | None:
    """The exec form `["a", "b"]` as a list, or None for the shell form (Docker's rule: not valid JSON -> shell form)."""
    if not args.startswith("["):
        return None
    try:
        value = json.loads(args)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def parse_dockerfile(
    text: str,
    *,
    context_dir: Path,
    build_args: dict[str, str] | None = None,
    path_for_errors: str = "Dockerfile",
    base_env: Mapping[str, str] | None = None,
    base_workdir: str = "/",
) -> DockerfilePlan:
    """Parse a single-stage Dockerfile into a `DockerfilePlan` of Image DSL steps.

    `context_dir` is the build context COPY/ADD read from. `base_env` / `base_workdir` are
    the base image's Env and WorkingDir when known (for `$PATH`-style expansion and a relative
    first WORKDIR); without them, `$PATH` is BuildKit's default and WORKDIR starts at `/`.
    Raises InvalidError naming the file, line and what is allowed.
    """
    context_dir = Path(context_dir)
    build_args = dict(build_args or {})

    def fail_at(lineno: int, msg: str) -> InvalidError:
        return InvalidError(f"{path_for_errors}:{lineno}: {msg}")

    lines, escape = _logical_lines(text, fail_at)
    if not context_dir.is_dir():
        raise InvalidError(f"{path_for_errors}: build context {str(context_dir)!r} is not a directory")
    context_real = context_dir.resolve()
    ignore = _DockerIgnore(context_dir)
    automatic = _automatic_args()

    global_args: dict[str, str | None] = {}  # ARGs before FROM
    args: dict[str, str | None] = {}  # ARGs of the stage, in declaration order
    envs: dict[str, str] = {}  # the Dockerfile's ENVs
    image_env = dict(base_env) if base_env is not None else {}
    image_env.setdefault("PATH", DEFAULT_PATH)
    declared: set[str] = set()
    workdir = base_workdir or "/"
    base: tuple[str, str | None] | None = None
    steps: list[Step] = []

    for line in lines:
        ins, rest, n = line.instruction, line.args, line.lineno

        def fail(msg: str, n: int = n, ins: str = ins) -> InvalidError:
            return fail_at(n, f"{ins}: {msg}")

        def lookup(name: str, base: object = base) -> str | None:
            if base is None:
                return global_args.get(name)
            if name in envs:
                return envs[name]
            if args.get(name) is not None:
                return args[name]
            return image_env.get(name)

        def words(s: str, *, split: bool) -> list[str]:
            return _Words(s, escape, lookup, fail).process(split=split)

        if ins in KNOWN_UNSUPPORTED or ins not in SUPPORTED_INSTRUCTIONS:
            what = f"{ins} is not supported" if ins in KNOWN_UNSUPPORTED else f"unknown instruction {ins}"
            raise fail_at(n, f"{what} by squall's Dockerfile support; supported instructions: {', '.join(SUPPORTED_INSTRUCTIONS)}")
        if base is None and ins not in ("FROM", "ARG"):
            raise fail_at(n, f"{ins} before FROM: a Dockerfile starts with FROM (only ARG may come before it)")

        if ins == "FROM":
            if base is not None:
                raise fail_at(n, "a second FROM: multi-stage builds are not supported; build one image per Dockerfile")
            if rest.startswith("--"):
                raise fail("flags such as --platform are not supported: squall pulls the image for this machine's platform")
            parts = words(rest, split=True)
            if len(parts) == 3 and parts[1].lower() == "as":
                parts = parts[:1]
            if len(parts) != 1 or not parts[0]:
                raise fail(f"expected `FROM IMAGE[:TAG] [AS NAME]`, got {rest!r}")
            base = ("scratch", None) if parts[0].lower() == "scratch" else ("registry", parts[0])
            continue

        if ins == "ARG":
            raw = _split_raw(rest, escape)
            if not raw:
                raise fail("needs a name: `ARG NAME` or `ARG NAME=default`")
            for word in raw:
                name, eq, default = word.partition("=")
                if not _NAME.match(name):
                    raise fail(f"{name!r} is not a valid ARG name (letters, digits and _, not starting with a digit)")
                declared.add(name)
                if name in build_args:
                    value: str | None = build_args[name]
                elif eq:
                    value = words(default, split=False)[0]
                elif base is not None and name in global_args:
                    value = global_args[name]
                else:
                    value = automatic.get(name)
                (global_args if base is None else args)[name] = value
            continue

        if ins == "RUN":
            if rest.startswith("--"):
                flag = _FLAG.match(rest)
                raise fail(f"flag --{flag.group(1) if flag else rest.split()[0]} is not supported (RUN --mount, --network, --security are BuildKit extensions)")
            if _HEREDOC.search(rest):
                raise fail("heredocs (<<EOF) are not supported: put the commands on one line joined with && or in a script you COPY in")
            argv = _json_list(rest)
            cmd = shlex.join(argv) if argv is not None else rest
            if not cmd.strip():
                raise fail("needs a command")
            exported = {k: v for k, v in args.items() if v is not None and k not in envs}
            exported.update({k: v for k, v in build_args.items() if k in PROXY_ARGS and k not in declared})
            if exported:
                cmd = "export " + " ".join(f"{k}={shlex.quote(v)}" for k, v in exported.items()) + "; " + cmd
            steps.append(("run_commands", (cmd,), {}))
            continue

        if ins == "ENV":
            raw = _split_raw(rest, escape)
            if not raw:
                raise fail("needs a name and a value: `ENV NAME=value ...` or `ENV NAME value`")
            pairs: list[tuple[str, str]] = []
            if "=" not in raw[0]:
                name = raw[0]  # legacy `ENV NAME value`: the value is the rest of the line
                value_text = rest[len(raw[0]) :].strip()
                if not value_text:
                    raise fail(f"{name} has no value: write `ENV {name}=value` or `ENV {name} value`")
                pairs.append((name, value_text))
            else:
                for word in raw:
                    name, eq, value_text = word.partition("=")
                    if not eq:
                        raise fail(f"{word!r} is not of the form NAME=value (mixing `ENV NAME value` and NAME=value is not allowed)")
                    pairs.append((name, value_text))
            values: dict[str, str] = {}
            for name, value_text in pairs:
                name = words(name, split=False)[0]
                if not name:
                    raise fail("an ENV name is empty")
                values[name] = words(value_text, split=False)[0]  # all expanded against the env before this line
            envs.update(values)
            steps.append(("env", (values,), {}))
            continue

        if ins == "WORKDIR":
            path = words(rest, split=False)[0].strip()
            if not path:
                raise fail("needs a path")
            workdir = posixpath.normpath(posixpath.join(workdir, path))
            if workdir.startswith("//"):
                workdir = "/" + workdir.lstrip("/")
            steps.append(("workdir", (workdir,), {}))
            continue

        if ins in ("ENTRYPOINT", "CMD"):
            argv = _json_list(rest)
            if argv is None:
                if not rest:
                    raise fail('needs a command: `CMD ["prog", "arg"]` or `CMD prog arg`')
                argv = ["/bin/sh", "-c", rest]
            steps.append((ins.lower(), (argv,), {}))
            continue

        # COPY / ADD
        flags: dict[str, str] = {}
        while True:
            m = _FLAG.match(rest)
            if not m or not rest.lstrip().startswith("--"):
                break
            fname, fvalue = m.group(1).lower(), m.group(2)
            if fvalue and fvalue[0] in "\"'" and fvalue[-1] == fvalue[0]:
                fvalue = fvalue[1:-1]
            rest = rest[m.end() :].lstrip()
            if fname == "from":
                raise fail(f"--from={fvalue}: multi-stage builds are not supported; COPY from the build context instead")
            if fname not in ("chown", "chmod", "link"):
                raise fail(f"flag --{fname} is not supported; supported flags: --chown, --chmod, --link")
            flags[fname] = words(fvalue or "", split=False)[0]
        if _HEREDOC.search(rest):
            raise fail("heredocs (<<EOF) are not supported: put the content in a file in the build context")
        listed = _json_list(rest)
        items = [words(x, split=False)[0] for x in listed] if listed is not None else words(rest, split=True)
        if len(items) < 2:
            raise fail(f"needs at least one source and a destination: `{ins} SRC... DEST`, got {rest!r}")
        *srcs, dest = items
        if "chmod" in flags and not re.fullmatch(r"[0-7]{3,4}", flags["chmod"]):
            raise fail(f"--chmod={flags['chmod']!r} is not supported: give an octal mode such as 755 or 0644")
        if "chown" in flags and not re.fullmatch(r"[A-Za-z0-9_.$-]+(:[A-Za-z0-9_.$-]+)?", flags["chown"]):
            raise fail(f"--chown={flags['chown']!r} is not valid: give USER, USER:GROUP, UID or UID:GID")

        dest_is_dir = dest.endswith(("/", "/.", "/..")) or dest in (".", "..")
        dest_path = posixpath.normpath(posixpath.join(workdir, dest))
        if dest_path.startswith("//"):
            dest_path = "/" + dest_path.lstrip("/")

        sources: list[tuple[str, Path]] = []  # (context-relative path, local path)
        for src in srcs:
            if _URL.match(src):
                if ins == "ADD":
                    raise fail(f"ADD of a URL ({src}) is not supported: download it in a RUN (curl/wget), or fetch it next to the Dockerfile and COPY it")
                raise fail(f"COPY source {src!r} is a URL: COPY takes paths in the build context")
            rel = posixpath.normpath(src.lstrip("/") or ".")
            if rel == ".." or rel.startswith("../"):
                raise fail(f"source {src!r} is outside the build context {str(context_dir)!r}")
            matches = _glob(context_dir, rel) if any(c in rel for c in "*?[") else [rel]
            if any(c in rel for c in "*?["):
                matches = [p for p in matches if not ignore.excluded(p)]
                if not matches:
                    raise fail(f"source {src!r} matches no file in the build context {str(context_dir)!r}")
            for r in matches:
                local = context_dir / r if r != "." else context_dir
                if not os.path.lexists(local):
                    raise fail(f"source {src!r} does not exist in the build context {str(context_dir)!r}")
                if r != "." and ignore.excluded(r):
                    raise fail(f"source {src!r} is excluded by {str(context_dir / '.dockerignore')!r}, so it is not in the build context")
                real = local.resolve()
                if real != context_real and context_real not in real.parents:
                    raise fail(f"source {src!r} resolves to {str(real)!r}, outside the build context {str(context_dir)!r}")
                sources.append((r, local))
        if len(sources) > 1 and not dest_is_dir:
            raise fail(f"with several sources ({', '.join(r for r, _ in sources)}) the destination {dest!r} must be a directory ending in '/'")

        copied: list[str] = []  # remote paths written, for --chown/--chmod
        for rel, local in sources:
            local_abs = os.path.abspath(local)
            if local.is_dir():
                kwargs: dict = {"copy": True}
                ignored = ignore.ignored_below(context_dir, rel)
                if ignored:
                    kwargs["ignore"] = ignored
                steps.append(("add_local_dir", (local_abs, dest_path), kwargs))
                skip = set(ignored)
                copied += [posixpath.join(dest_path, e.name) for e in sorted(os.scandir(local), key=lambda e: e.name) if e.name not in skip]
            else:
                if ins == "ADD" and _is_tar(local):
                    raise fail(
                        f"ADD would extract the tar archive {rel!r}, which squall does not do: COPY it and extract it in a RUN "
                        "(`RUN tar -xf ...`); ADD is supported for plain local files and directories"
                    )
                target = posixpath.join(dest_path, posixpath.basename(rel)) if dest_is_dir else dest_path
                steps.append(("add_local_file", (local_abs, target), {"copy": True}))
                copied.append(target)
        for flag, tool in (("chown", "chown"), ("chmod", "chmod")):
            if flag in flags and copied:
                steps.append(("run_commands", (shlex.join([tool, "-R", flags[flag], "--", *copied]),), {}))

    if base is None:
        raise InvalidError(f"{path_for_errors}: no FROM instruction: a Dockerfile starts with FROM IMAGE (or FROM scratch)")
    unused = tuple(sorted(k for k in build_args if k not in declared and k not in PROXY_ARGS))
    return DockerfilePlan(base=base, steps=steps, unused_build_args=unused)


def _glob(context_dir: Path, pattern: str) -> list[str]:
    """Go filepath.Match semantics per path component: `*` and `?` never cross `/`, and match dot files."""
    found = [""]
    for part in pattern.split("/"):
        nxt = []
        for prefix in found:
            base = context_dir / prefix if prefix else context_dir
            if any(c in part for c in "*?["):
                if not base.is_dir():
                    continue
                pat = re.sub(r"\[\^", "[!", part)
                nxt += [f"{prefix}/{n}" if prefix else n for n in sorted(os.listdir(base)) if fnmatchcase(n, pat)]
            else:
                candidate = f"{prefix}/{part}" if prefix else part
                if os.path.lexists(context_dir / candidate):
                    nxt.append(candidate)
        found = nxt
    return found


def _is_tar(path: Path) -> bool:
    try:
        return tarfile.is_tarfile(path)
    except OSError:
        return False
