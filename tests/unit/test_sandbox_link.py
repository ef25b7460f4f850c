"""The framing between a sandbox's supervisor and its worker (worker/sandbox_link.py)."""

from __future__ import annotations

import json
import marshal

import pytest
from google.protobuf import json_format

from squall._proto.squall.v1 import sandbox_pb2 as sb_pb
from squall.sandbox import supervisor
from squall.worker.sandbox_link import decode_event, encode_command


def frame(kind: str, fields, payload: bytes = b"") -> bytes:
    """What the supervisor's _send() puts on the link, less the outer length."""
    header = supervisor._json({kind: fields}).encode()
    return len(header).to_bytes(4, "big") + header + payload


def test_commands_reach_the_supervisor_as_plain_values():
    cmd = sb_pb.AgentCommand(exec=sb_pb.AgentExec(exec_id="ex-1", argv=["sh", "-c", "echo hi"], env={"A": "1"}, timeout_s=2.5,
                                                  pty=sb_pb.TerminalSize(rows=30, cols=100)))
    data = encode_command(cmd)
    assert int.from_bytes(data[:4], "big") == len(data) - 4
    assert marshal.loads(data[4:]) == {"kind": "exec", "exec_id": "ex-1", "argv": ["sh", "-c", "echo hi"], "env": {"A": "1"}, "timeout_s": 2.5,
                                       "pty": {"rows": 30, "cols": 100}}
    stdin = marshal.loads(encode_command(sb_pb.AgentCommand(stdin=sb_pb.AgentStdin(exec_id="ex-1", data=b"\x00\xff", eof=True, req=7)))[4:])
    assert stdin == {"kind": "stdin", "exec_id": "ex-1", "data": b"\x00\xff", "eof": True, "req": 7}


def test_events_from_the_supervisor_become_agent_events():
    ev = decode_event(frame("output", {"exec_id": "ex-1", "fd": 2}, b"\x00binary\xff"))
    assert ev.output == sb_pb.AgentOutput(exec_id="ex-1", fd=2, data=b"\x00binary\xff")
    ev = decode_event(frame("exited", {"exec_id": "", "returncode": -9, "reason": 'killed: "quoted"\nand \\ escaped \x01'}))
    assert ev.exited.returncode == -9 and ev.exited.reason == 'killed: "quoted"\nand \\ escaped \x01'
    entry = {"path": "/tmp/ü", "is_dir": False, "size": 3, "mtime": 1732400000.25, "mode": 0o644}
    ev = decode_event(frame("file", {"req": 4, "entries": [entry]}))
    assert ev.file.req == 4 and ev.file.entries[0] == sb_pb.FileEntry(**entry)
    assert decode_event(frame("hello", "3.11.2")).hello == "3.11.2"


@pytest.mark.parametrize("body", [
    b"\x00\x00",  # shorter than its header length
    (100).to_bytes(4, "big") + b"{}",  # a header past the frame's end
    (2).to_bytes(4, "big") + b"{}",  # no event
    frame("nonsense", {"x": 1}),  # no such event
    frame("exited", {"returncode": "nine"}),  # a field of the wrong type
    frame("hello", "3.11", b"payload"),  # a payload on an event that has none
    (3).to_bytes(4, "big") + b"\xff\xfe{",  # not JSON
])
def test_a_bad_frame_is_refused(body):
    with pytest.raises((ValueError, json_format.ParseError, json.JSONDecodeError)):
        decode_event(body)


def test_undecodable_file_names_are_sent_as_valid_text():
    name = b"/tmp/bad-\xff-name".decode("utf-8", "surrogateescape")
    ev = decode_event(frame("file", {"req": 1, "stat": supervisor._entry(name, __import__("os").stat("/"))}))
    assert ev.file.stat.path == "/tmp/bad-\ufffd-name"
