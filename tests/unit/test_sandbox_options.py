"""Sandbox.create and exec check their arguments before any I/O, naming the bad value."""

from __future__ import annotations

import pytest

import squall
from squall.exception import InvalidError
from squall.sdk.sandbox import _check_create

DEFAULTS = dict(cmd=(), name=None, image=None, env=None, secrets=(), volumes=None, timeout=300, idle_timeout=None, workdir=None, cpu=None, memory=None,
                gpu=None, block_network=False, outbound_cidr_allowlist=None, encrypted_ports=(), unencrypted_ports=(), runtime="gvisor", tags=None)


def check(**overrides):
    return _check_create(**{**DEFAULTS, **overrides})


@pytest.mark.parametrize("option, value", [("gpu", "T4")])
def test_not_yet_supported_options_say_so(option, value):
    with pytest.raises(InvalidError, match=f"{option}=.*not supported yet"):
        check(**{option: value})


def test_ports_reach_the_request():
    req = check(encrypted_ports=[8000, 8443], unencrypted_ports=(22,))
    assert list(req.encrypted_ports) == [8000, 8443] and list(req.unencrypted_ports) == [22]
    assert list(check(encrypted_ports=[80], block_network=True).encrypted_ports) == [80]  # inbound only: allowed


@pytest.mark.parametrize("overrides, message", [
    (dict(encrypted_ports=[0]), r"encrypted_ports=\[\.\.\. 0 \.\.\.\]\): a port is an integer from 1 to 65535"),
    (dict(unencrypted_ports=[65536]), r"unencrypted_ports=\[\.\.\. 65536 .*1 to 65535"),
    (dict(encrypted_ports=["8000"]), r"'8000'.*integer"),
    (dict(encrypted_ports=[True]), r"True.*integer"),
    (dict(encrypted_ports=[8.0]), r"8\.0.*integer"),
    (dict(encrypted_ports=8000), r"encrypted_ports=8000\): give a list"),
    (dict(encrypted_ports=[8000, 8000]), r"port 8000 is listed twice \(in encrypted_ports\)"),
    (dict(encrypted_ports=[8000], unencrypted_ports=[8000]), r"unencrypted_ports=.*port 8000 is listed twice.*either encrypted or unencrypted"),
])
def test_bad_ports_are_named(overrides, message):
    with pytest.raises(InvalidError, match=message):
        check(**overrides)


def test_volumes_must_be_volumes():
    with pytest.raises(InvalidError, match="must be a squall.Volume"):
        check(volumes={"/data": object()})


@pytest.mark.parametrize("overrides, message", [
    (dict(runtime="process"), "runtime='process'.*gvisor, runc"),
    (dict(timeout=0), "timeout=0"),
    (dict(timeout=10**9), "timeout=1000000000"),
    (dict(idle_timeout=-1), "idle_timeout=-1"),
    (dict(workdir="relative"), "workdir='relative'.*absolute"),
    (dict(memory=8), "memory=8.*at least 32"),
    (dict(cpu=-1), "cpu=-1"),
    (dict(cpu=(2, 1)), "limit must be at least the request"),
    (dict(name="bad name!"), "name='bad name!'"),
    (dict(cmd=("ls", 3)), "got 3"),
    (dict(env={"A": 1}), "dict of strings"),
    (dict(outbound_cidr_allowlist=["not-a-cidr"]), "'not-a-cidr'.*CIDR"),
    (dict(outbound_cidr_allowlist=["10.0.0.0/8"], block_network=True), "block_network=True"),
    (dict(secrets=["KEY=value"]), "list of squall.Secret"),
    (dict(image="debian"), "give a squall.Image"),
])
def test_bad_values_are_named(overrides, message):
    with pytest.raises(InvalidError, match=message):
        check(**overrides)


def test_a_good_request():
    req = check(cmd=("python3", "-c", "print(1)"), name="box-1", env={"A": "b"}, timeout=60, idle_timeout=5, workdir="/tmp", cpu=2, memory=(256, 512),
                outbound_cidr_allowlist=["10.1.2.3/8"], runtime="runc", tags={"team": "x"})
    assert list(req.command) == ["python3", "-c", "print(1)"]
    assert (req.name, req.timeout_s, req.idle_timeout_s, req.workdir, req.cpu, req.memory_mb, req.runtime) == ("box-1", 60, 5, "/tmp", 2, 512, "runc")
    assert list(req.outbound_cidr_allowlist) == ["10.0.0.0/8"]
    assert dict(req.tags) == {"team": "x"} and dict(req.env) == {"A": "b"}


def test_images_with_attached_local_files_are_refused(tmp_path):
    check(image=squall.Image.debian_slim())
    check(image=squall.Image.debian_slim().pip_install("numpy"))
    with pytest.raises(InvalidError, match="copy=False are not attached to sandboxes"):
        check(image=squall.Image.debian_slim().add_local_dir(tmp_path, "/data"))
    with pytest.raises(InvalidError, match="give a squall.Image"):
        check(image="debian")
