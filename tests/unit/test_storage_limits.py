"""Dict and Queue limits and argument checks that need no server."""

from __future__ import annotations

import pickle

import pytest

import squall
from squall import _limits as lim
from squall.exception import InvalidError


@pytest.mark.parametrize("name", ["", "a b", "x/y", "é", "a" * 65])
def test_bad_names_are_refused_before_any_io(name):
    with pytest.raises(InvalidError, match="name"):
        squall.Dict.from_name(name)
    with pytest.raises(InvalidError, match="name"):
        squall.Queue.from_name(name)


def test_good_names_make_lazy_handles():
    d = squall.Dict.from_name("a.b_c-1" + "x" * 57, create_if_missing=True)  # 64 characters
    assert d.object_id is None  # nothing was resolved


def test_handles_pickle_without_client_state():
    d = pickle.loads(pickle.dumps(squall.Dict.from_name("progress")))
    assert d.name == "progress" and d.object_id is None


def test_oversized_values_name_the_limit(monkeypatch):
    q = squall.Queue.from_name("q")
    with pytest.raises(InvalidError, match="limit is 1.00 MiB"):
        q.put(b"x" * (lim.MAX_QUEUE_ITEM_BYTES + 1))
    d = squall.Dict.from_name("d")
    with pytest.raises(InvalidError, match="limit is 16.00 MiB"):
        d.put("k", b"x" * (lim.MAX_DICT_VALUE_BYTES + 1))
    with pytest.raises(InvalidError, match="limit is 64.0 KiB"):
        d.get("k" * (lim.MAX_DICT_KEY_BYTES + 1))


def test_partition_keys_and_arguments_are_checked():
    q = squall.Queue.from_name("q")
    with pytest.raises(InvalidError, match="partition key"):
        q.put(1, partition="p" * 65)
    with pytest.raises(InvalidError, match="timeout"):
        q.get(timeout=-1)
    with pytest.raises(InvalidError, match="n_values"):
        q.get_many(0)
    with pytest.raises(InvalidError, match="not both"):
        q.len(partition="a", total=True)
