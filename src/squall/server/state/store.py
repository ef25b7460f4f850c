"""Durable state: every write the control plane acknowledges goes through here first.

SQLite (WAL) by default; the same code runs on PostgreSQL through SQLAlchemy Core.
Calls are synchronous and short; the dispatcher batches them so one transaction
covers a whole chunk of inputs or outputs.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Iterable, Sequence

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from squall.server.state import models as m


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")  # durable across process crashes, which is what we promise
    cur.execute("PRAGMA busy_timeout=5000")
    cur.close()


def migrate(conn: sa.Connection) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(pathlib.Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "head")


class Store:
    def __init__(self, url: str):
        self.engine = sa.create_engine(url)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        self.conn = self.engine.connect()
        with self.conn.begin():
            migrate(self.conn)

    def _all(self, query) -> list[sa.Row]:
        with self.conn.begin():  # reads end their transaction too, so writes can begin()
            return list(self.conn.execute(query))

    def _first(self, query) -> sa.Row | None:
        rows = self._all(query.limit(1))
        return rows[0] if rows else None

    def close(self) -> None:
        self.conn.close()
        self.engine.dispose()

    # -- apps ----------------------------------------------------------------------------------
    def create_app(self, app_id: str, name: str, ephemeral: bool) -> None:
        with self.conn.begin():
            self.conn.execute(m.apps.insert().values(id=app_id, name=name, state="running", ephemeral=ephemeral, created_at=time.time()))

    def stop_app(self, app_id: str) -> None:
        with self.conn.begin():
            self.conn.execute(m.apps.update().where(m.apps.c.id == app_id).values(state="stopped", stopped_at=time.time()))

    def list_apps(self) -> list[sa.Row]:
        return self._all(sa.select(m.apps).order_by(m.apps.c.created_at))

    def find_app(self, id_or_name: str) -> sa.Row | None:
        row = self._first(sa.select(m.apps).where(m.apps.c.id == id_or_name))
        if row is None:  # the newest app of that name
            row = self._first(sa.select(m.apps).where(m.apps.c.name == id_or_name).order_by(m.apps.c.created_at.desc()))
        return row

    def running_apps(self) -> list[sa.Row]:
        return self._all(sa.select(m.apps).where(m.apps.c.state == "running"))

    # -- functions -----------------------------------------------------------------------------
    def create_function(self, function_id: str, app_id: str, name: str, definition: bytes, parent_id: str | None = None) -> None:
        with self.conn.begin():
            self.conn.execute(
                m.functions.insert().values(id=function_id, app_id=app_id, name=name, definition=definition, parent_id=parent_id, created_at=time.time())
            )

    def get_function(self, function_id: str) -> sa.Row | None:
        return self._first(sa.select(m.functions).where(m.functions.c.id == function_id))

    def functions_of_apps(self, app_ids: Sequence[str]) -> list[sa.Row]:
        return self._all(sa.select(m.functions).where(m.functions.c.app_id.in_(app_ids)))

    # -- calls, inputs, outputs ----------------------------------------------------------------
    def create_call(self, call_id: str, function_id: str, kind: int, input_rows: list[dict]) -> None:
        """Persist a call and its first inputs in one transaction (acknowledged only after this)."""
        now = time.time()
        with self.conn.begin():
            self.conn.execute(m.function_calls.insert().values(id=call_id, function_id=function_id, kind=kind, created_at=now, cancelled=False))
            if input_rows:
                self.conn.execute(m.inputs.insert(), input_rows)

    def get_call(self, call_id: str) -> sa.Row | None:
        return self._first(sa.select(m.function_calls).where(m.function_calls.c.id == call_id))

    def add_inputs(self, input_rows: list[dict]) -> None:
        with self.conn.begin():
            self.conn.execute(m.inputs.insert(), input_rows)

    def requeue(self, rows: list[tuple[str, int, float]]) -> None:
        """(input_id, attempt, available_at) back to pending."""
        if not rows:
            return
        with self.conn.begin():
            self._requeue(rows)

    def _requeue(self, rows) -> None:
        self.conn.execute(
            m.inputs.update()
            .where(m.inputs.c.id == sa.bindparam("b_id"))
            .values(status="pending", container_id=None, attempt=sa.bindparam("b_attempt"), available_at=sa.bindparam("b_at")),
            [{"b_id": i, "b_attempt": a, "b_at": t} for i, a, t in rows],
        )

    def add_outputs(self, output_rows: list[dict], finished_input_ids: list[str], requeued: list[tuple[str, int, float]] = ()) -> None:
        """Record outputs (final or generator items) and finish inputs in one transaction."""
        now = time.time()
        with self.conn.begin():
            if output_rows:
                self.conn.execute(m.outputs.insert(), [{**row, "created_at": now} for row in output_rows])
            if finished_input_ids:
                self.conn.execute(
                    m.inputs.update().where(m.inputs.c.id == sa.bindparam("b_id")).values(status="done", finished_at=now),
                    [{"b_id": i} for i in finished_input_ids],
                )
            if requeued:
                self._requeue(requeued)

    def outputs_after(self, call_id: str, after_seq: int, limit: int) -> list[sa.Row]:
        q = sa.select(m.outputs).where(m.outputs.c.call_id == call_id, m.outputs.c.seq > after_seq).order_by(m.outputs.c.seq).limit(limit)
        return self._all(q)

    def unfinished_inputs(self) -> list[sa.Row]:
        return self._all(sa.select(m.inputs).where(m.inputs.c.status != "done").order_by(m.inputs.c.created_at, m.inputs.c.idx))

    def cancel_call(self, call_id: str) -> None:
        with self.conn.begin():
            self.conn.execute(m.function_calls.update().where(m.function_calls.c.id == call_id).values(cancelled=True))

    # -- workers and containers ----------------------------------------------------------------
    def upsert_worker(self, worker_id: str, hostname: str, cpu: float, memory_mb: int) -> None:
        now = time.time()
        with self.conn.begin():
            self.conn.execute(m.workers.delete().where(m.workers.c.id == worker_id))
            self.conn.execute(
                m.workers.insert().values(id=worker_id, hostname=hostname, cpu=cpu, memory_mb=memory_mb, state="connected", connected_at=now, last_seen_at=now)
            )

    def set_worker_state(self, worker_id: str, state: str) -> None:
        with self.conn.begin():
            self.conn.execute(m.workers.update().where(m.workers.c.id == worker_id).values(state=state, last_seen_at=time.time()))

    def create_container(self, container_id: str, function_id: str, app_id: str, worker_id: str, runtime: str) -> None:
        with self.conn.begin():
            self.conn.execute(
                m.containers.insert().values(
                    id=container_id, function_id=function_id, app_id=app_id, worker_id=worker_id, runtime=runtime, state="scheduled", created_at=time.time(), timings={}
                )
            )

    def update_container(self, container_id: str, **values) -> None:
        with self.conn.begin():
            self.conn.execute(m.containers.update().where(m.containers.c.id == container_id).values(**values))

    def list_containers(self, app_id: str | None = None) -> list[sa.Row]:
        q = sa.select(m.containers).order_by(m.containers.c.created_at)
        if app_id:
            q = q.where(m.containers.c.app_id == app_id)
        return self._all(q)

    def stop_stale_containers(self) -> None:
        """After a control-plane restart every earlier container is gone from our view."""
        with self.conn.begin():
            self.conn.execute(
                m.containers.update().where(m.containers.c.state != "stopped").values(state="stopped", stopped_at=time.time(), exit_reason="control plane restarted")
            )

    # -- logs ----------------------------------------------------------------------------------
    def add_logs(self, rows: list[dict]) -> None:
        if rows:
            with self.conn.begin():
                self.conn.execute(m.logs.insert(), rows)

    def logs_after(self, app_id: str, after_seq: int, container_id: str = "", limit: int = 1000) -> list[sa.Row]:
        q = sa.select(m.logs).where(m.logs.c.app_id == app_id, m.logs.c.seq > after_seq)
        if container_id:
            q = q.where(m.logs.c.container_id == container_id)
        return self._all(q.order_by(m.logs.c.seq).limit(limit))
