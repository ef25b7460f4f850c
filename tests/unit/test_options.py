"""Bad decorator options fail at decoration time with a message naming the value and the range."""

import pytest

import squall
from squall.exception import InvalidError

app = squall.App("options")


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(cpu=0), r"cpu=0 is not allowed: give a number from 0.001 to 64"),
        (dict(cpu=-1), r"cpu=-1"),
        (dict(memory=4), r"memory=4 is not allowed: give a number from 32 to"),
        (dict(timeout=0), r"timeout=0 is not allowed: give a number from 1 to 86400 seconds \(1 s to 24 h\)"),
        (dict(timeout=90000), r"timeout=90000"),
        (dict(retries=11), r"max_retries=11"),
        (dict(retries="x"), r"retries='x'"),
        (dict(min_containers=3, max_containers=2), r"min_containers=3 is more than max_containers=2"),
        (dict(max_containers=0), r"max_containers=0"),
        (dict(gpu="H100"), r"gpu='H100'"),
    ],
)
def test_bad_options_fail_at_decoration(options, message):
    with pytest.raises(InvalidError, match=message):

        @app.function(**options)
        def f():
            pass


good = squall.App("good")


@good.function(cpu=(0.5, 2), memory=256, timeout=30, retries=squall.Retries(max_retries=2), min_containers=1, max_containers=3)
def g():
    return 1


def test_good_options_are_kept():
    o = g._definition.options
    assert (o.cpu, o.cpu_limit, o.memory_mb, o.memory_limit_mb, o.timeout_s, o.max_retries) == (0.5, 2, 256, 256, 30, 2)
    assert g.local() == 1


def test_remote_outside_a_running_app_says_what_to_do():
    with pytest.raises(InvalidError, match="squall run"):
        g.remote()


def test_local_functions_are_refused():
    def outer():
        @app.function()
        def inner():
            pass

    with pytest.raises(InvalidError, match="define it at module level"):
        outer()


def test_concurrent_and_batched_validate():
    with pytest.raises(InvalidError, match="max_inputs"):
        squall.concurrent(max_inputs=0)
    with pytest.raises(InvalidError, match="max_batch_size"):
        squall.batched(max_batch_size=0, wait_ms=10)


def test_unserializable_argument_is_named():
    import threading

    from squall._serialization import serialize_args

    with pytest.raises(InvalidError, match="cannot serialize argument 0 of type lock"):
        serialize_args((threading.Lock(),), {})
