"""The Dockerfile parser: what each instruction becomes in Image DSL steps, and the errors users get."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from squall.exception import InvalidError
from squall.sdk._dockerfile import DEFAULT_PATH, SUPPORTED_INSTRUCTIONS, parse_dockerfile


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    """A build context: files, a directory with a nested dir, a dot file and a tar archive."""
    (tmp_path / "req.txt").write_text("requests\n")
    (tmp_path / "a.py").write_text("a")
    (tmp_path / "b.py").write_text("b")
    (tmp_path / ".env.py").write_text("hidden")
    (tmp_path / "app" / "pkg").mkdir(parents=True)
    (tmp_path / "app" / "main.py").write_text("main")
    (tmp_path / "app" / "pkg" / "mod.py").write_text("mod")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("x.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    (tmp_path / "bundle.tar.gz").write_bytes(buf.getvalue())
    return tmp_path


def steps(text: str, ctx: Path, **kw) -> list:
    return parse_dockerfile(text, context_dir=ctx, **kw).steps


def one(text: str, ctx: Path, **kw):
    (step,) = steps("FROM debian:bookworm\n" + text, ctx, **kw)
    return step


# ---------------------------------------------------------------- FROM


@pytest.mark.parametrize(
    "text, base",
    [
        ("FROM python:3.11-slim", ("registry", "python:3.11-slim")),
        ("from python:3.11-slim AS build", ("registry", "python:3.11-slim")),
        ("FROM scratch", ("scratch", None)),
        ("FROM localhost:5000/team/app@sha256:" + "a" * 64, ("registry", "localhost:5000/team/app@sha256:" + "a" * 64)),
        ("ARG V=3.12\nFROM python:${V}-slim", ("registry", "python:3.12-slim")),
        ("ARG V\nFROM python:${V:-3.10}", ("registry", "python:3.10")),
        ("# syntax=docker/dockerfile:1\n# escape=\\\n\n# a comment\n\nFROM alpine", ("registry", "alpine")),
    ],
)
def test_base(ctx, text, base):
    assert parse_dockerfile(text, context_dir=ctx).base == base


def test_build_arg_overrides_default_before_from(ctx):
    plan = parse_dockerfile("ARG V=3.12\nFROM python:$V", context_dir=ctx, build_args={"V": "3.13"})
    assert plan.base == ("registry", "python:3.13")


# ---------------------------------------------------------------- RUN


@pytest.mark.parametrize(
    "text, cmd",
    [
        ("RUN apt-get update", "apt-get update"),
        ("run echo $HOME ${X:-y}", "echo $HOME ${X:-y}"),  # the shell expands these, not the parser
        ("RUN apt-get update && \\\n    apt-get install -y curl", "apt-get update &&     apt-get install -y curl".replace("    ", "")),
        ("RUN a \\\n# a comment inside\n\n  b", "a b"),
        ('RUN ["echo", "hello world", "$HOME"]', "echo 'hello world' '$HOME'"),
        ('RUN ["python3", "-c", "print(1)"]', "python3 -c 'print(1)'"),
        ("RUN [not json", "[not json"),  # Docker: invalid JSON is the shell form
        ("RUN echo $((1<<2))", "echo $((1<<2))"),
    ],
)
def test_run(ctx, text, cmd):
    assert one(text, ctx) == ("run_commands", (cmd,), {})


def test_escape_directive_backtick(ctx):
    plan = parse_dockerfile("# escape=`\nFROM alpine\nRUN echo a `\n  b\nWORKDIR C:\\x", context_dir=ctx)
    assert plan.steps[0] == ("run_commands", ("echo a b",), {})
    assert plan.steps[1] == ("workdir", ("/C:\\x",), {})


def test_arg_values_reach_run_but_env_wins(ctx):
    got = steps(
        "ARG GLOBAL=g\nFROM alpine\nARG V=1\nARG SPACED='a b'\nARG UNSET\nRUN echo $V\nENV V=from-env\nRUN echo $V",
        ctx,
        build_args={"SPACED": "x y"},
    )
    assert got[0] == ("run_commands", ("export V=1 SPACED='x y'; echo $V",), {})
    assert got[1] == ("env", ({"V": "from-env"},), {})
    assert got[2] == ("run_commands", ("export SPACED='x y'; echo $V",), {})


def test_global_arg_needs_redeclaring_after_from(ctx):
    got = steps("ARG G=1\nFROM alpine\nRUN a\nARG G\nRUN b\nENV X=$G", ctx)
    assert got == [("run_commands", ("a",), {}), ("run_commands", ("export G=1; b",), {}), ("env", ({"X": "1"},), {})]


def test_proxy_build_args_reach_run_undeclared_and_others_are_reported(ctx):
    plan = parse_dockerfile("FROM alpine\nRUN curl x", context_dir=ctx, build_args={"HTTP_PROXY": "http://p:3128", "TYPO": "1"})
    assert plan.steps == [("run_commands", ("export HTTP_PROXY=http://p:3128; curl x",), {})]
    assert plan.unused_build_args == ("TYPO",)


def test_automatic_platform_args(ctx):
    (step,) = steps("FROM alpine\nARG TARGETOS\nARG TARGETARCH\nENV P=$TARGETOS/$TARGETARCH", ctx)
    os_, arch = step[1][0]["P"].split("/")
    assert os_ == "linux" and arch in {"amd64", "arm64", "arm", "ppc64le", "s390x", os.uname().machine}


# ---------------------------------------------------------------- ENV and substitution


@pytest.mark.parametrize(
    "text, env",
    [
        ("ENV A=1", {"A": "1"}),
        ('ENV A=1 B="two words" C=three\\ words', {"A": "1", "B": "two words", "C": "three words"}),
        ("ENV LEGACY a value  with spaces", {"LEGACY": "a value  with spaces"}),
        ('ENV LEGACY "quoted value"', {"LEGACY": "quoted value"}),
        ("ENV A='$NOPE' B=\"$NOPE\"x", {"A": "$NOPE", "B": "x"}),
        ("ENV A=\\$HOME", {"A": "$HOME"}),
        ("ENV P=/opt/bin:$PATH", {"P": "/opt/bin:" + DEFAULT_PATH}),
        ("ENV A=${NOPE:-dflt} B=${NOPE-dflt} C=${PATH:+set} D=${NOPE:+set}", {"A": "dflt", "B": "dflt", "C": "set", "D": ""}),
        ('ENV A="x \\"q\\" \\\\ y"', {"A": 'x "q" \\ y'}),
        ("ENV A=", {"A": ""}),
    ],
)
def test_env(ctx, text, env):
    assert one(text, ctx) == ("env", (env,), {})


def test_env_substitutes_earlier_values_only(ctx):
    got = steps("FROM alpine\nARG V=arg\nENV A=1\nENV A=2 B=$A C=$V\nENV V=env D=$V\nENV E=$V", ctx)
    assert got[1] == ("env", ({"A": "2", "B": "1", "C": "arg"},), {})
    assert got[2] == ("env", ({"V": "env", "D": "arg"},), {})
    assert got[3] == ("env", ({"E": "env"},), {})


def test_base_env_and_empty_vs_unset(ctx):
    got = steps("FROM x\nENV P=$PATH:/x H=${HOME} E=${EMPTY-unset} F=${EMPTY:-empty}", ctx, base_env={"PATH": "/bin", "HOME": "/root", "EMPTY": ""})
    assert got == [("env", ({"P": "/bin:/x", "H": "/root", "E": "", "F": "empty"},), {})]


# ---------------------------------------------------------------- WORKDIR


@pytest.mark.parametrize(
    "lines, workdirs",
    [
        (["WORKDIR /app"], ["/app"]),
        (["WORKDIR /app", "WORKDIR src", "WORKDIR ../lib/"], ["/app", "/app/src", "/app/lib"]),
        (["WORKDIR rel"], ["/rel"]),
        (["ARG D=/data", "WORKDIR $D/x", "WORKDIR ${D}2"], ["/data/x", "/data2"]),
        (['WORKDIR "/with space"'], ["/with space"]),
    ],
)
def test_workdir(ctx, lines, workdirs):
    got = steps("FROM alpine\n" + "\n".join(lines), ctx)
    assert got == [("workdir", (w,), {}) for w in workdirs]


def test_workdir_relative_to_base_image(ctx):
    assert steps("FROM x\nWORKDIR sub", ctx, base_workdir="/home/app") == [("workdir", ("/home/app/sub",), {})]


# ---------------------------------------------------------------- COPY / ADD


def test_copy_forms(ctx):
    c = str(ctx)
    cases = [
        ("COPY req.txt /app/req.txt", [("add_local_file", (f"{c}/req.txt", "/app/req.txt"), {"copy": True})]),
        ("COPY req.txt /app/", [("add_local_file", (f"{c}/req.txt", "/app/req.txt"), {"copy": True})]),
        ("WORKDIR /srv\nCOPY req.txt .", [("workdir", ("/srv",), {}), ("add_local_file", (f"{c}/req.txt", "/srv/req.txt"), {"copy": True})]),
        ("WORKDIR /srv\nCOPY req.txt conf/r.txt", [("workdir", ("/srv",), {}), ("add_local_file", (f"{c}/req.txt", "/srv/conf/r.txt"), {"copy": True})]),
        ("COPY app /code", [("add_local_dir", (f"{c}/app", "/code"), {"copy": True})]),
        ("COPY ./app/ /code/", [("add_local_dir", (f"{c}/app", "/code"), {"copy": True})]),
        ("COPY . /ctx", [("add_local_dir", (c, "/ctx"), {"copy": True})]),
        ("COPY /req.txt /r", [("add_local_file", (f"{c}/req.txt", "/r"), {"copy": True})]),  # / is the context root
        (
            'COPY ["req.txt", "app", "/dest dir/"]',
            [("add_local_file", (f"{c}/req.txt", "/dest dir/req.txt"), {"copy": True}), ("add_local_dir", (f"{c}/app", "/dest dir"), {"copy": True})],
        ),
        (
            "COPY *.py /py/",
            [("add_local_file", (f"{c}/{n}", f"/py/{n}"), {"copy": True}) for n in (".env.py", "a.py", "b.py")],
        ),
        ("COPY app/*/mod.py /m.py", [("add_local_file", (f"{c}/app/pkg/mod.py", "/m.py"), {"copy": True})]),
        ("COPY [ab].py /x/", [("add_local_file", (f"{c}/{n}", f"/x/{n}"), {"copy": True}) for n in ("a.py", "b.py")]),
        ("ARG F=req.txt\nARG D=/etc\nCOPY $F ${D}/", [("add_local_file", (f"{c}/req.txt", "/etc/req.txt"), {"copy": True})]),
        ("ADD req.txt /r.txt", [("add_local_file", (f"{c}/req.txt", "/r.txt"), {"copy": True})]),
        ("ADD app /code", [("add_local_dir", (f"{c}/app", "/code"), {"copy": True})]),
        ("COPY --link req.txt /r.txt", [("add_local_file", (f"{c}/req.txt", "/r.txt"), {"copy": True})]),
    ]
    for text, expected in cases:
        assert steps("FROM alpine\n" + text, ctx) == expected, text


def test_copy_chown_chmod_apply_to_exactly_the_copied_paths(ctx):
    got = steps("FROM alpine\nARG U=app\nCOPY --chown=$U:$U --chmod=0755 req.txt app /srv/", ctx)
    assert got[:2] == [
        ("add_local_file", (f"{ctx}/req.txt", "/srv/req.txt"), {"copy": True}),
        ("add_local_dir", (f"{ctx}/app", "/srv"), {"copy": True}),
    ]
    copied = ["/srv/req.txt", "/srv/main.py", "/srv/pkg"]
    assert got[2:] == [
        ("run_commands", ("chown -R app:app -- " + " ".join(copied),), {}),
        ("run_commands", ("chmod -R 0755 -- " + " ".join(copied),), {}),
    ]


def test_dockerignore(ctx):
    (ctx / ".dockerignore").write_text("# comment\n**/__pycache__\n*.log\napp/pkg\n!app/pkg/keep.py\nsecret.txt\n")
    (ctx / "app" / "__pycache__").mkdir()
    (ctx / "app" / "__pycache__" / "m.pyc").write_text("")
    (ctx / "app" / "pkg" / "keep.py").write_text("")
    (ctx / "app" / "x.log").write_text("")  # *.log is anchored at the root: not excluded
    (ctx / "top.log").write_text("")
    (ctx / "secret.txt").write_text("s")
    (ctx / "odd[1].txt").write_text("")
    (ctx / ".dockerignore").write_text((ctx / ".dockerignore").read_text() + "odd*\n")
    got = steps("FROM alpine\nCOPY app /app\nCOPY . /ctx", ctx)
    assert got[0] == ("add_local_dir", (f"{ctx}/app", "/app"), {"copy": True, "ignore": ["__pycache__", "pkg/mod.py"]})
    assert got[1][2]["ignore"] == ["app/__pycache__", "app/pkg/mod.py", "odd\\[1].txt", "secret.txt", "top.log"]
    with pytest.raises(InvalidError, match=r"Dockerfile:2: COPY: source '\*\.log' matches no file"):
        steps("FROM alpine\nCOPY *.log /logs/", ctx)
    with pytest.raises(InvalidError, match=r"source 'secret.txt' is excluded by .*\.dockerignore"):
        steps("FROM alpine\nCOPY secret.txt /s", ctx)


# ---------------------------------------------------------------- ENTRYPOINT / CMD


@pytest.mark.parametrize(
    "text, step",
    [
        ('CMD ["python", "-m", "app"]', ("cmd", (["python", "-m", "app"],), {})),
        ("CMD python -m app $PORT", ("cmd", (["/bin/sh", "-c", "python -m app $PORT"],), {})),
        ('ENTRYPOINT ["/tini", "--"]', ("entrypoint", (["/tini", "--"],), {})),
        ("entrypoint exec server", ("entrypoint", (["/bin/sh", "-c", "exec server"],), {})),
        ("CMD []", ("cmd", ([],), {})),
        ('CMD ["a", 1]', ("cmd", (["/bin/sh", "-c", '["a", 1]'],), {})),  # not a list of strings: shell form, as Docker
    ],
)
def test_entrypoint_cmd(ctx, text, step):
    assert one(text, ctx) == step


def test_whole_file_in_order(ctx):
    text = (
        "# syntax=docker/dockerfile:1.4\n"
        "ARG PY=3.11\n"
        "FROM python:${PY}-slim\n"
        "ENV PIP_NO_CACHE_DIR=1\n"
        "WORKDIR /app\n"
        "COPY req.txt .\n"
        "RUN pip install -r req.txt\n"
        "COPY app/ ./\n"
        'CMD ["python", "main.py"]\n'
    )
    plan = parse_dockerfile(text, context_dir=ctx, build_args={"PY": "3.12"})
    assert plan.base == ("registry", "python:3.12-slim")
    assert [s[0] for s in plan.steps] == ["env", "workdir", "add_local_file", "run_commands", "add_local_dir", "cmd"]
    assert plan.steps[3] == ("run_commands", ("pip install -r req.txt",), {})  # PY is a global ARG, not redeclared
    assert plan.steps[4] == ("add_local_dir", (f"{ctx}/app", "/app"), {"copy": True})


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    "instruction",
    [
        "EXPOSE 80",
        "USER app",
        "VOLUME /data",
        "HEALTHCHECK CMD true",
        "LABEL a=b",
        "ONBUILD RUN x",
        'SHELL ["/bin/bash", "-c"]',
        "STOPSIGNAL SIGTERM",
        "MAINTAINER me",
        "FROBNICATE x",
    ],
)
def test_unsupported_instruction_names_file_line_and_supported(ctx, instruction):
    with pytest.raises(InvalidError) as e:
        parse_dockerfile(f"FROM alpine\nRUN true\n\n{instruction}\n", context_dir=ctx, path_for_errors="sub/Dockerfile.dev")
    msg = str(e.value)
    assert msg.startswith("sub/Dockerfile.dev:4: ")
    assert instruction.split()[0] in msg
    assert ", ".join(SUPPORTED_INSTRUCTIONS) in msg


@pytest.mark.parametrize(
    "text, pattern",
    [
        ("FROM a\nFROM b", r"Dockerfile:2: .*second FROM: multi-stage builds are not supported"),
        ("FROM a AS x\nCOPY --from=x /a /b", r"Dockerfile:2: COPY: --from=x: multi-stage builds are not supported"),
        ("RUN x", r"Dockerfile:1: RUN before FROM"),
        ("ARG A=1", r"Dockerfile: no FROM instruction"),
        ("", r"no FROM instruction"),
        ("FROM --platform=linux/arm64 a", r"--platform are not supported"),
        ("FROM a\nRUN <<EOF\necho hi\nEOF", r"Dockerfile:2: RUN: heredocs .* not supported"),
        ("FROM a\nCOPY <<EOF /x\nhi\nEOF", r"Dockerfile:2: COPY: heredocs"),
        ("FROM a\nRUN --mount=type=cache,target=/root/.cache pip install x", r"RUN: flag --mount is not supported"),
        ("FROM a\nRUN", r"RUN: needs a command"),
        ("FROM a\nADD https://example.com/x.tgz /x", r"ADD of a URL \(https://example.com/x.tgz\) is not supported.*RUN \(curl/wget\)"),
        ("FROM a\nADD bundle.tar.gz /opt/", r"ADD would extract the tar archive 'bundle.tar.gz'.*COPY it"),
        ("FROM a\nCOPY git@github.com:x/y /y", r"is a URL"),
        ("FROM a\nCOPY missing.txt /x", r"Dockerfile:2: COPY: source 'missing.txt' does not exist in the build context"),
        ("FROM a\nCOPY ../outside /x", r"source '../outside' is outside the build context"),
        ("FROM a\nCOPY app/../../x /x", r"outside the build context"),
        ("FROM a\nCOPY nomatch*.py /x/", r"source 'nomatch\*.py' matches no file"),
        ("FROM a\nCOPY a.py b.py /x", r"several sources \(a.py, b.py\) the destination '/x' must be a directory ending in '/'"),
        ("FROM a\nCOPY *.py /x", r"must be a directory ending in '/'"),
        ("FROM a\nCOPY req.txt", r"needs at least one source and a destination"),
        ("FROM a\nCOPY --exclude=*.md . /x", r"flag --exclude is not supported; supported flags: --chown, --chmod, --link"),
        ("FROM a\nCOPY --chmod=u+x a.py /x", r"--chmod='u\+x' is not supported: give an octal mode"),
        ("FROM a\nENV", r"ENV: needs a name and a value"),
        ("FROM a\nENV LONELY", r"LONELY has no value"),
        ("FROM a\nENV A=1 B", r"'B' is not of the form NAME=value"),
        ('FROM a\nENV A="unterminated', r"unterminated double quote"),
        ("FROM a\nENV A=${B", r"missing '}'"),
        ("FROM a\nENV A=${B#x}", r"unsupported substitution .* supported are \$\{VAR\}"),
        ("FROM a\nENV A=${REQUIRED:?must-be-set}", r"REQUIRED is not set: must-be-set"),
        ("FROM a\nARG 1BAD=x", r"'1BAD' is not a valid ARG name"),
        ("FROM a\nWORKDIR", r"WORKDIR: needs a path"),
        ("FROM a\nCMD", r"CMD: needs a command"),
        ("# escape=x\nFROM a", r"Dockerfile:1: escape directive 'x' is not allowed"),
    ],
)
def test_errors(ctx, text, pattern):
    with pytest.raises(InvalidError, match=pattern):
        parse_dockerfile(text, context_dir=ctx)


def test_symlink_out_of_context_is_rejected(ctx, tmp_path_factory):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "secret").write_text("s")
    (ctx / "link").symlink_to(outside / "secret")
    with pytest.raises(InvalidError, match=r"source 'link' resolves to .*outside the build context"):
        parse_dockerfile("FROM a\nCOPY link /x", context_dir=ctx)


def test_missing_context_dir(tmp_path):
    with pytest.raises(InvalidError, match=r"build context .*nope.* is not a directory"):
        parse_dockerfile("FROM a", context_dir=tmp_path / "nope")
