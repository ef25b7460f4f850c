"""The image DSL and its plan: bad input fails at definition time, layer ids follow the rules."""

from __future__ import annotations

import json
import pathlib

import pytest

from squall import Image
from squall.exception import InvalidError
from squall.images import recipe, steps
from squall.images.builder import _remove_mount_points, detect_python


def plan_of(image: Image, files: dict[str, str] | None = None) -> recipe.Plan:
    """The plan the server makes of `image`, with copy steps' contexts faked by their source path."""
    out = []
    for step in image._steps:
        step = {k: v for k, v in step.items() if k not in ("_files", "_callable")}
        if step["op"] == "copy":
            step["context"] = (files or {}).get(step["source"], "digest-of-" + step["source"])
        out.append(step)
    return recipe.plan(json.loads(json.dumps({"base": image._base, "steps": out})))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Image.debian_slim(python_version="3.9"), r"provides Python 3.11"),
        (lambda: Image.debian_slim().pip_install(42), r"pip_install\(42\): each argument must be a requirement"),
        (lambda: Image.debian_slim().pip_install("numpy; rm -rf /  `x`"), r"not a requirement"),
        (lambda: Image.debian_slim().apt_install("Bad Name"), r"apt_install\('Bad Name'\): not a Debian package name"),
        (lambda: Image.debian_slim().run_commands(""), r"run_commands\(''\)"),
        (lambda: Image.debian_slim().add_local_dir("/no/such/dir", "/data"), r"/no/such/dir does not exist"),
        (lambda: Image.debian_slim().add_local_file("/no/such/file", "/f"), r"/no/such/file does not exist"),
        (lambda: Image.debian_slim().add_local_dir(".", "relative"), r"absolute path inside the container"),
        (lambda: Image.debian_slim().add_local_python_source("no_such_module_zz"), r"no such module"),
        (lambda: Image.debian_slim().pip_install_from_requirements("/no/requirements.txt"), r"does not exist"),
        (lambda: Image.debian_slim().env({"A": 1}), r"values must be strings"),
        (lambda: Image.debian_slim().workdir("rel"), r"absolute path"),
        (lambda: Image.debian_slim().entrypoint("python"), r"non-empty list of strings"),
        (lambda: Image.from_registry("Not A Tag"), r"image reference like"),
        (lambda: Image.from_registry("python:3.12", add_python="three"), r"version like '3.11'"),
        (lambda: Image.debian_slim().pip_install("six", secrets=["x"]), r"secrets in build steps are not supported yet"),
        (lambda: Image.debian_slim().add_local_dir(".", "/src").pip_install("six"), r"after add_local_\* with copy=False"),
    ],
)
def test_bad_input_fails_at_definition_time(make, message):
    with pytest.raises(InvalidError, match=message):
        make()


def test_unsupported_dockerfile_instruction_fails_at_definition_time(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM python:3.12-slim\nEXPOSE 8080\n")
    with pytest.raises(InvalidError, match=r"Dockerfile:2.*EXPOSE"):
        Image.from_dockerfile(tmp_path / "Dockerfile")


def test_dockerfile_compiles_to_the_dsl(tmp_path):
    (tmp_path / "app.py").write_text("print(1)\n")
    (tmp_path / "Dockerfile").write_text("FROM python:3.12-slim\nENV A=1\nWORKDIR /app\nCOPY app.py .\nRUN pip install six\nCMD [\"python\", \"app.py\"]\n")
    image = Image.from_dockerfile(tmp_path / "Dockerfile")
    assert image._base["kind"] == "registry" and image._base["ref"] == "python:3.12-slim"
    assert [s["op"] for s in image._steps] == ["env", "workdir", "copy", "run_commands", "cmd"]
    assert image._steps[2]["dest"] == "/app/app.py"


def test_each_method_returns_a_new_image():
    base = Image.debian_slim()
    one = base.pip_install("six")
    assert base._steps == () and len(one._steps) == 1
    assert base.pip_install() is base  # nothing to install: the same image


def test_shared_prefixes_share_layers_and_a_change_rebuilds_only_what_follows():
    a = Image.debian_slim().apt_install("git").pip_install("six").run_commands("echo a")
    b = Image.debian_slim().apt_install("git").pip_install("six").run_commands("echo b")
    c = Image.debian_slim().apt_install("curl").pip_install("six").run_commands("echo a")
    pa, pb, pc = plan_of(a), plan_of(b), plan_of(c)
    assert pa.layer_ids[:3] == pb.layer_ids[:3] and pa.layer_ids[3] != pb.layer_ids[3]
    assert pa.layer_ids[0] == pc.layer_ids[0]
    assert all(x != y for x, y in zip(pa.layer_ids[1:], pc.layer_ids[1:], strict=True))  # everything above the change
    assert plan_of(a).image_id == pa.image_id  # stable


def test_settings_change_the_config_and_the_steps_after_them():
    plain = plan_of(Image.debian_slim().run_commands("echo x"))
    env_after = plan_of(Image.debian_slim().run_commands("echo x").env({"A": "1"}))
    env_before = plan_of(Image.debian_slim().env({"A": "1"}).run_commands("echo x"))
    assert env_after.layer_ids == plain.layer_ids and env_after.image_id != plain.image_id
    assert env_before.layer_ids[1] != plain.layer_ids[1]  # the RUN sees A=1
    assert env_after.config["env"] == {"A": "1"}


def test_copied_files_are_part_of_the_layer_hash(tmp_path):
    (tmp_path / "f.txt").write_text("1")
    image = Image.debian_slim().add_local_file(tmp_path / "f.txt", "/f.txt", copy=True)
    one = plan_of(image, {str(tmp_path / "f.txt"): "digest-1"})
    two = plan_of(image, {str(tmp_path / "f.txt"): "digest-2"})
    assert one.layer_ids[1] != two.layer_ids[1]


def test_attached_files_never_change_a_layer(tmp_path):
    (tmp_path / "d").mkdir()
    image = Image.debian_slim().run_commands("echo x")
    attached = image.add_local_dir(tmp_path / "d", "/d")
    assert plan_of(attached).layer_ids == plan_of(image).layer_ids and plan_of(attached).image_id == plan_of(image).image_id
    assert len(attached._mounts) == 1


def test_local_file_tarballs_are_deterministic_and_honour_ignore(tmp_path):
    from squall.sdk.image import LocalFiles

    (tmp_path / "a.txt").write_text("a")
    (tmp_path / "b.log").write_text("b")
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "out.bin").write_text("o")
    (tmp_path / "odd*name").write_text("literal star")
    files = LocalFiles(tmp_path, "/x", ignore=["*.log", "build", "odd\\*name"])
    assert [arc for _, arc in files.paths()] == ["a.txt"]  # a whole directory, and an escaped literal
    assert files.tarball() == files.tarball()


def test_force_build_rebuilds_the_step_and_everything_after():
    image = Image.debian_slim().run_commands("echo 1").run_commands("echo 2", force_build=True).run_commands("echo 3")
    plan = plan_of(image)
    assert [layer.force for layer in plan.layers] == [False, False, True, True]
    assert plan.layer_ids == plan_of(Image.debian_slim().run_commands("echo 1").run_commands("echo 2").run_commands("echo 3")).layer_ids


def test_step_commands():
    assert steps.commands({"op": "pip_install", "packages": ["six"], "index_url": "http://i"}) == [
        ["python3", "-m", "pip", "install", "--no-cache-dir", "--index-url", "http://i", "six"]
    ]
    assert steps.commands({"op": "run_commands", "commands": ["a", "b"]}) == [["/bin/sh", "-c", "a"], ["/bin/sh", "-c", "b"]]
    apt = steps.commands({"op": "apt_install", "packages": ["git", "curl"]})[0][2]
    assert "apt-get install -y -q --no-install-recommends git curl" in apt
    assert steps.commands({"op": "copy"}) == []


def test_unknown_recipe_ops_are_refused():
    with pytest.raises(recipe.RecipeError, match="unknown op 'bogus'"):
        recipe.plan({"base": {"kind": "debian_slim"}, "steps": [{"op": "bogus"}]})
    with pytest.raises(recipe.RecipeError, match="kind must be one of"):
        recipe.plan({"base": {"kind": "alpine"}})


def test_detect_python_reads_the_symlink(tmp_path):
    top, base = tmp_path / "top", tmp_path / "base"
    (base / "usr" / "local" / "bin").mkdir(parents=True)
    (base / "usr" / "local" / "bin" / "python3").symlink_to("python3.12")
    top.mkdir()
    assert detect_python([top, base]) == "3.12"
    assert detect_python([top]) == ""


def test_mount_points_the_runtime_made_are_removed_from_the_layer(tmp_path):
    upper, lower = tmp_path / "upper", tmp_path / "lower"
    (upper / "opt" / "wheels").mkdir(parents=True)
    (upper / "etc").mkdir()
    (upper / "etc" / "resolv.conf").write_text("")
    (upper / "opt" / "kept.txt").write_text("a file the step wrote")
    (lower / "etc").mkdir(parents=True)
    _remove_mount_points(upper, [lower], ["/opt/wheels", "/etc/resolv.conf", "/tmp/.squall-build/step"])
    assert not (upper / "opt" / "wheels").exists() and not (upper / "etc" / "resolv.conf").exists()
    assert (upper / "opt" / "kept.txt").exists() and (upper / "etc").is_dir()


def test_imports_suppresses_missing_modules_only_locally(monkeypatch):
    image = Image.debian_slim()
    with image.imports():
        import squall_no_such_module_zz  # noqa: F401
    monkeypatch.setenv("SQUALL_IS_REMOTE", "1")
    with pytest.raises(ImportError), image.imports():
        import squall_no_such_module_zz  # noqa: F401,F811


def test_pyproject_dependencies(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\ndependencies = ["six"]\n[project.optional-dependencies]\ndev = ["pytest"]\n')
    image = Image.debian_slim().pip_install_from_pyproject(tmp_path / "pyproject.toml", optional_dependencies=["dev"])
    assert image._steps[-1]["packages"] == ["six", "pytest"]
    with pytest.raises(InvalidError, match="no optional-dependencies group 'docs'"):
        Image.debian_slim().pip_install_from_pyproject(tmp_path / "pyproject.toml", optional_dependencies=["docs"])


def test_paths_are_resolved(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "req.txt").write_text("six\n")
    image = Image.debian_slim().pip_install_from_requirements("req.txt")
    assert image._steps[-1]["requirements"] == "six\n"
    assert pathlib.Path(Image.debian_slim().add_local_file("req.txt", "/r.txt", copy=True)._steps[-1]["source"]).is_absolute()
