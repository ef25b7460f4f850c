"""The sandbox tables (migrations 0006, 0007) and their reads and writes, beside the Store."""

from __future__ import annotations

import time

import sqlalchemy as sa

from squall.server.state import models as m
from squall.server.state.store import Store

sandboxes = sa.Table(
    "sandboxes",
    m.metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("app_id", sa.String, nullable=False, index=True),
    sa.Column("name", sa.String),
    sa.Column("state", sa.String, nullable=False),
    sa.Column("runtime", sa.String, nullable=False),
    sa.Column("worker_id", sa.String),
    sa.Column("command", sa.JSON, nullable=False),
    sa.Column("tags", sa.JSON, nullable=False),
    sa.Column("memory_limit_mb", sa.Integer, nullable=False),
    sa.Column("pids_limit", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("stopped_at", sa.Float),
    sa.Column("returncode", sa.Integer),
    sa.Column("reason", sa.String),
    sa.Column("timed_out", sa.Boolean, nullable=False, default=False),
)

sandbox_execs = sa.Table(
    "sandbox_execs",
    m.metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("sandbox_id", sa.String, nullable=False, index=True),
    sa.Column("argv", sa.JSON, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("returncode", sa.Integer),
    sa.Column("reason", sa.String),
)

sandbox_snapshots = sa.Table(
    "sandbox_snapshots",
    m.metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("sandbox_id", sa.String, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("blob_digest", sa.String, nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
    sa.Column("runtime_version", sa.String, nullable=False),
    sa.Column("platform", sa.String, nullable=False, server_default=""),
    sa.Column("cpu_features", sa.JSON, nullable=False),
    sa.Column("image_id", sa.String),
    sa.Column("request", sa.LargeBinary, nullable=False),
    sa.Column("resume_secret", sa.LargeBinary, nullable=False),
    sa.Column("checkpoint_s", sa.Float, nullable=False),
)


def snapshot_image_ids(store: Store) -> set[str]:
    """Images memory snapshots are rooted in: kept by `squall image gc` while a snapshot needs them."""
    return {r.image_id for r in store._all(sa.select(sandbox_snapshots.c.image_id)) if r.image_id}


class SandboxStore:
    def __init__(self, store: Store):
        self.store = store

    def _write(self, stmt) -> None:
        with self.store.conn.begin():
            self.store.conn.execute(stmt)

    def create(self, **values) -> None:
        self._write(sandboxes.insert().values(**values))

    def update(self, sandbox_id: str, **values) -> None:
        self._write(sandboxes.update().where(sandboxes.c.id == sandbox_id).values(**values))

    def get(self, sandbox_id: str) -> sa.Row | None:
        return self.store._first(sa.select(sandboxes).where(sandboxes.c.id == sandbox_id))

    def list(self, app_id: str | None, include_stopped: bool) -> list[sa.Row]:
        q = sa.select(sandboxes).order_by(sandboxes.c.created_at)
        if app_id:
            q = q.where(sandboxes.c.app_id == app_id)
        if not include_stopped:
            q = q.where(sandboxes.c.state != "stopped")
        return self.store._all(q)

    def stop_stale(self) -> None:
        """After a control-plane restart no supervisor stream survives: those sandboxes are gone."""
        self._write(sandboxes.update().where(sandboxes.c.state != "stopped").values(
            state="stopped", stopped_at=time.time(), returncode=-9, reason="the control plane restarted"))
        self._write(sandbox_execs.update().where(sandbox_execs.c.finished_at.is_(None)).values(
            finished_at=time.time(), returncode=-9, reason="the control plane restarted"))

    def exec_started(self, exec_id: str, sandbox_id: str, argv: list[str], started_at: float) -> None:
        self._write(sandbox_execs.insert().values(id=exec_id, sandbox_id=sandbox_id, argv=argv, started_at=started_at))

    def exec_finished(self, exec_id: str, returncode: int, reason: str) -> None:
        self._write(sandbox_execs.update().where(sandbox_execs.c.id == exec_id).values(finished_at=time.time(), returncode=returncode, reason=reason))

    def execs(self, sandbox_id: str) -> list[sa.Row]:
        return self.store._all(sa.select(sandbox_execs).where(sandbox_execs.c.sandbox_id == sandbox_id).order_by(sandbox_execs.c.started_at))

    # -- memory snapshots ------------------------------------------------------------------------
    def snapshot_create(self, **values) -> None:
        self._write(sandbox_snapshots.insert().values(**values))

    def snapshot_get(self, snapshot_id: str) -> sa.Row | None:
        return self.store._first(sa.select(sandbox_snapshots).where(sandbox_snapshots.c.id == snapshot_id))

    def snapshot_list(self) -> list[sa.Row]:
        return self.store._all(sa.select(sandbox_snapshots).order_by(sandbox_snapshots.c.created_at))

    def snapshot_delete(self, snapshot_id: str) -> None:
        self._write(sandbox_snapshots.delete().where(sandbox_snapshots.c.id == snapshot_id))

    def snapshot_blob_users(self, blob_digest: str) -> int:
        return len(self.store._all(sa.select(sandbox_snapshots.c.id).where(sandbox_snapshots.c.blob_digest == blob_digest)))
