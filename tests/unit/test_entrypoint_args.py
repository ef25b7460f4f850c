import pytest

from squall.cli.run import parse_entrypoint_args
from squall.exception import InvalidError


def main(n: int, name: str = "x", ratio: float = 0.5, verbose: bool = False):
    pass


def test_flags_follow_the_signature():
    assert parse_entrypoint_args(main, ["--n", "3", "--name=bob", "--verbose", "--ratio", "2.5"]) == {"n": 3, "name": "bob", "verbose": True, "ratio": 2.5}


def test_bad_flags_are_named():
    with pytest.raises(InvalidError, match="no parameter --m"):
        parse_entrypoint_args(main, ["--m", "1"])
    with pytest.raises(InvalidError, match=r"--n='x' is not a valid int"):
        parse_entrypoint_args(main, ["--n", "x"])
    with pytest.raises(InvalidError, match="needs --n"):
        parse_entrypoint_args(main, [])
