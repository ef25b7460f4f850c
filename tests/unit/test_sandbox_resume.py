"""A real supervisor (on the host) and the worker's real link: detaching for a memory snapshot,
and coming back when the resume file holds the nonce the link expects; a reconnection the
link turns away is retried, a bounded number of times."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from unittest import mock

from squall._proto.squall.v1 import sandbox_pb2 as sb_pb
from squall.sandbox import supervisor
from squall.worker import sandbox_link
from tests.unit.test_sandbox_link import _FakeStub

SECRET = b"r" * 32


async def _start(tmp_path, monkeypatch):
    """The link listening, and a supervisor process attached to it; its resume file holds no nonce."""
    monkeypatch.setattr(sandbox_link, "LINKS_DIR", tmp_path)
    link = sandbox_link.SupervisorLink(mock.MagicMock(), "sb-resume", "token")
    link.stub = _FakeStub()
    await link.listen()
    nonce_file = tmp_path / "nonce"
    nonce_file.write_text("\n")
    code = textwrap.dedent(f"""
        from squall.sandbox import supervisor
        supervisor.LINK, supervisor.RESUME_NONCE = {str(link.path)!r}, {str(nonce_file)!r}
        supervisor.main()
    """)
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code, stderr=asyncio.subprocess.PIPE)
    await asyncio.wait_for(link.attached.wait(), 10)
    await link.quiesce(SECRET, 10)
    return link, nonce_file, proc


def _write_nonce(path, nonce: str) -> None:
    tmp = path.with_name(".nonce.tmp")
    tmp.write_text(nonce + "\n")
    tmp.rename(path)


def test_a_turned_away_supervisor_reads_its_nonce_again_and_comes_back(tmp_path, monkeypatch):
    async def go():
        link, nonce_file, proc = await _start(tmp_path, monkeypatch)
        try:
            expected = link.expect_resume()
            _write_nonce(nonce_file, "0" * 32)  # not the one the link expects: its proof is refused
            await asyncio.sleep(3 * supervisor.RESUME_RETRY_S)
            assert not link.attached.is_set()
            call = link.stub.calls[0]  # commands sent meanwhile are held for the supervisor that proves itself
            call.commands.put_nowait(sb_pb.AgentCommand(init=sb_pb.AgentInit(workdir=str(tmp_path))))
            call.commands.put_nowait(sb_pb.AgentCommand(exec=sb_pb.AgentExec(exec_id="ex-1", argv=["echo", "back"])))
            _write_nonce(nonce_file, expected)
            await asyncio.wait_for(link.attached.wait(), 10)
            for _ in range(500):
                if any(e.HasField("exited") for e in call.sent):
                    break
                await asyncio.sleep(0.01)
            assert [e.output.data for e in call.sent if e.HasField("output")] == [b"back\n"]
            assert [(e.exited.exec_id, e.exited.returncode) for e in call.sent if e.HasField("exited")] == [("ex-1", 0)]
            assert proc.returncode is None and len(link.stub.calls) == 1  # the same stream throughout
        finally:
            proc.kill()
            _, err = await proc.communicate()
            await link.close()
        assert b"turned away reconnection 1 of" in err, err

    asyncio.run(go())


def test_a_supervisor_that_cannot_prove_itself_gives_up(tmp_path, monkeypatch):
    async def go():
        link, nonce_file, proc = await _start(tmp_path, monkeypatch)
        try:
            link.expect_resume()
            _write_nonce(nonce_file, "0" * 32)
            code = await asyncio.wait_for(proc.wait(), 10 + supervisor.RESUME_TRIES * supervisor.RESUME_RETRY_S)
            _, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
            await link.close()
        assert code == 1
        assert f"turned away reconnection {supervisor.RESUME_TRIES} of {supervisor.RESUME_TRIES}".encode() in err, err
        assert b"lost the link" in err
        assert not link.attached.is_set()

    asyncio.run(go())
