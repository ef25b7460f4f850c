"""Secrets without a server: encryption at rest, the key file, the local sources, and that
values stay out of reprs and error messages."""

from __future__ import annotations

import stat

import pytest

from squall import Secret
from squall._redact import redact
from squall.exception import InvalidError, NotFoundError
from squall.sdk.app import App
from squall.sdk.secret import parse_dotenv
from squall.server import secret_box
from squall.server.secret_box import SecretBox, load_or_create_key


@pytest.fixture(autouse=True)
def _no_env_key(monkeypatch):
    monkeypatch.delenv(secret_box.ENV_SECRET_KEY, raising=False)


def test_encryption_round_trip_keeps_no_plaintext(tmp_path):
    box = SecretBox.for_home(tmp_path)
    data = box.encrypt({"TOKEN": "s3cr3t-value", "OTHER": "x"})
    assert b"s3cr3t-value" not in data and b"TOKEN" not in data
    assert SecretBox.for_home(tmp_path).decrypt(data) == {"TOKEN": "s3cr3t-value", "OTHER": "x"}  # same key file, new box


def test_key_file_is_created_0600_once(tmp_path):
    path = tmp_path / "server" / "secret.key"
    key = load_or_create_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key


def test_key_from_environment_wins_and_a_wrong_key_cannot_decrypt(tmp_path, monkeypatch):
    from cryptography.fernet import Fernet

    data = SecretBox.for_home(tmp_path).encrypt({"A": "b"})
    monkeypatch.setenv(secret_box.ENV_SECRET_KEY, Fernet.generate_key().decode())
    other = SecretBox.for_home(tmp_path / "fresh")
    assert not (tmp_path / "fresh" / "secret.key").exists()  # the environment's key, no file made
    with pytest.raises(ValueError, match="cannot be decrypted"):
        other.decrypt(data)


def test_from_dotenv_parses_the_usual_forms(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text(
        "# a comment\n\nA=1\nexport B = two words \nC='single # not a comment'\nD=\"line\\nbreak\"\nE=bare # comment\nF=\n"
    )
    monkeypatch.chdir(tmp_path)
    s = Secret.from_dotenv()
    assert s._env == {"A": "1", "B": "two words", "C": "single # not a comment", "D": "line\nbreak", "E": "bare", "F": ""}
    assert Secret.from_dotenv(tmp_path / ".env")._env == s._env
    assert Secret.from_dotenv(tmp_path)._env == s._env


def test_from_dotenv_errors_name_the_line_not_the_value(tmp_path):
    with pytest.raises(InvalidError, match="line 2") as exc:
        parse_dotenv("A=1\nthis-is-hunter2\n")
    assert "hunter2" not in str(exc.value)
    with pytest.raises(InvalidError, match="line 1 \\(K\\)") as exc:
        parse_dotenv("K='hunter2\n")
    assert "hunter2" not in str(exc.value)
    with pytest.raises(NotFoundError, match="nope"):
        Secret.from_dotenv(tmp_path / "nope")


def test_from_local_environ_names_the_missing_variables(monkeypatch):
    monkeypatch.setenv("SQUALL_T_SET", "hunter2")
    monkeypatch.delenv("SQUALL_T_MISSING", raising=False)
    with pytest.raises(InvalidError, match="SQUALL_T_MISSING is not set") as exc:
        Secret.from_local_environ(["SQUALL_T_SET", "SQUALL_T_MISSING"])
    assert "hunter2" not in str(exc.value)
    assert Secret.from_local_environ(["SQUALL_T_SET"])._env == {"SQUALL_T_SET": "hunter2"}


def test_repr_and_pickle_show_no_values():
    import cloudpickle

    s = Secret.from_dict({"TOKEN": "hunter2", "DROPPED": None})
    assert repr(s) == "Secret.from_dict(keys=['TOKEN'])"
    assert b"hunter2" not in cloudpickle.dumps(s)
    assert repr(Secret.from_name("api", required_keys=["TOKEN"])) == "Secret.from_name('api', required_keys=['TOKEN'])"
    with pytest.raises(InvalidError, match="'TOKEN' must be a str") as exc:
        Secret.from_dict({"TOKEN": 12345})
    assert "12345" not in str(exc.value)


def test_names_and_keys_are_checked():
    with pytest.raises(InvalidError, match="may contain only"):
        Secret.from_name("bad name")
    with pytest.raises(InvalidError, match="not a valid environment variable name"):
        Secret.from_dict({"1BAD": "x"})


def test_secrets_are_checked_at_decoration_time():
    app = App("t")
    with pytest.raises(InvalidError, match="not a squall.Secret"):
        app.function(secrets=[{"A": "b"}])
    with pytest.raises(InvalidError, match="takes a list"):
        app.function(secrets=Secret.from_name("x"))
    with pytest.raises(InvalidError, match="not a squall.Secret"):
        App("u", secrets=["x"])


def test_redact_hides_the_longest_value_first():
    assert redact("token=abcdef and abc", ["abc", "abcdef", ""]) == "token=*** and ***"
