"""The framing between a sandbox's supervisor and its worker (worker/sandbox_link.py)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import marshal
from unittest import mock

import pytest
from google.protobuf import json_format

from squall._proto.squall.v1 import sandbox_pb2 as sb_pb
from squall.sandbox import supervisor
from squall.worker import sandbox_link
from squall.worker.sandbox_link import QUIESCED, decode_event, encode_command


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


# -- detaching for a memory snapshot, and coming back with the proof ------------------------------
class _FakeCall:
    """The sandbox's stream to the control plane: commands down from `commands`, events up to `sent`."""

    def __init__(self) -> None:
        self.commands: asyncio.Queue = asyncio.Queue()
        self.sent: list = []

    def __aiter__(self):
        return self

    async def __anext__(self):
        cmd = await self.commands.get()
        if cmd is None:
            raise StopAsyncIteration
        return cmd

    async def write(self, ev) -> None:
        self.sent.append(ev)

    async def done_writing(self) -> None:
        pass

    def cancel(self) -> None:
        pass


class _FakeStub:
    def __init__(self) -> None:
        self.calls: list[_FakeCall] = []

    def SandboxConnect(self, metadata):
        self.calls.append(_FakeCall())
        return self.calls[-1]


def _event(kind: str, fields) -> bytes:
    body = frame(kind, fields)
    return len(body).to_bytes(4, "big") + body


async def _turned_away(reader, writer) -> bool:
    """Whether the link closed this connection (without a word)."""
    try:
        return await asyncio.wait_for(reader.read(1), 5) == b""
    except ConnectionResetError:  # closed with our proof still unread
        return True
    finally:
        writer.close()


async def _read_command(reader) -> dict:
    n = int.from_bytes(await asyncio.wait_for(reader.readexactly(4), 5), "big")
    return marshal.loads(await reader.readexactly(n))


def _new_link(tmp_path, monkeypatch, secret: bytes = b""):
    monkeypatch.setattr(sandbox_link, "LINKS_DIR", tmp_path)
    link = sandbox_link.SupervisorLink(mock.MagicMock(), "sb-test", "token", resume_secret=secret)
    link.stub = _FakeStub()
    return link


def test_a_detached_supervisor_gets_the_held_commands_back_only_with_its_proof(tmp_path, monkeypatch):
    async def go():
        link = _new_link(tmp_path, monkeypatch)
        await link.listen()
        r, w = await asyncio.open_unix_connection(str(link.path))
        await asyncio.wait_for(link.attached.wait(), 5)
        call = link.stub.calls[0]
        # A second client, while the supervisor is attached: turned away.
        assert await _turned_away(*await asyncio.open_unix_connection(str(link.path)))

        secret = b"s" * 32
        quiesce = asyncio.create_task(link.quiesce(secret, 5))
        assert await _read_command(r) == {"kind": "quiesce", "secret": secret}
        w.write(_event("hello", "3.11") + _event("quiesced", True))
        assert _event("quiesced", True)[4:] == QUIESCED  # what the supervisor sends, byte for byte
        w.close()
        await quiesce
        assert [e.hello for e in call.sent] == ["3.11"]
        # Detached: the control plane's commands are held, not dropped, and nobody takes the link.
        call.commands.put_nowait(sb_pb.AgentCommand(kill=sb_pb.AgentKill(exec_id="ex-1")))
        await asyncio.sleep(0.05)
        assert await _turned_away(*await asyncio.open_unix_connection(str(link.path)))

        nonce = link.expect_resume()
        for proof in ["", "0" * 64, hmac.new(b"wrong", nonce.encode(), hashlib.sha256).hexdigest()]:
            r4, w4 = await asyncio.open_unix_connection(str(link.path))
            w4.write(_event("resume", {"proof": proof}))
            assert await _turned_away(r4, w4), proof
        assert not link.attached.is_set()
        r5, w5 = await asyncio.open_unix_connection(str(link.path))
        w5.write(_event("resume", {"proof": hmac.new(secret, nonce.encode(), hashlib.sha256).hexdigest()}))
        assert await _read_command(r5) == {"kind": "resumed"}  # first: the supervisor sends what it queued only then
        assert await _read_command(r5) == {"kind": "kill", "exec_id": "ex-1"}
        assert link.attached.is_set() and len(link.stub.calls) == 1  # the same stream throughout
        # The proof is spent: a replay of it is refused.
        r6, w6 = await asyncio.open_unix_connection(str(link.path))
        w6.write(_event("resume", {"proof": hmac.new(secret, nonce.encode(), hashlib.sha256).hexdigest()}))
        assert await _turned_away(r6, w6)
        w5.write(_event("started", "ex-2"))
        await asyncio.sleep(0.05)
        assert call.sent[-1].started == "ex-2"
        w5.close()
        await link.close()

    asyncio.run(go())


def test_a_restored_sandbox_opens_its_stream_only_for_the_proven_supervisor(tmp_path, monkeypatch):
    async def go():
        secret = b"k" * 32
        link = _new_link(tmp_path, monkeypatch, secret)
        await link.listen()
        nonce = link.expect_resume()
        r, w = await asyncio.open_unix_connection(str(link.path))  # a user process first, posing as a fresh supervisor
        w.write(_event("hello", "3.11"))
        assert await _turned_away(r, w)
        assert link.stub.calls == []
        r, w = await asyncio.open_unix_connection(str(link.path))
        w.write(_event("resume", {"proof": hmac.new(secret, nonce.encode(), hashlib.sha256).hexdigest()}))
        await asyncio.wait_for(link.attached.wait(), 5)
        assert await _read_command(r) == {"kind": "resumed"}
        assert len(link.stub.calls) == 1
        w.close()
        await link.close()

    asyncio.run(go())
