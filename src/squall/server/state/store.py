"""Durable state: every write the control plane acknowledges goes through here first.

SQLite (WAL) by default; the same code runs on PostgreSQL through SQLAlchemy Core.
Calls are synchronous and short; the dispatcher batches them so one transaction
covers a whole chunk of inputs or outputs.
"""

from __future__ import annotations

import pathlib
import time
from collections.abc import Sequence

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
    # "heads": features may add migrations on separate branches from a common parent
    # (e.g. 0006_volumes and 0006_web both after 0005); each runs once, in dependency order.
    command.upgrade(cfg, "heads")


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

    def find_deployed_app(self, name: str) -> sa.Row | None:
        return self._first(sa.select(m.apps).where(m.apps.c.name == name, m.apps.c.ephemeral == sa.false()).order_by(m.apps.c.created_at.desc()))

    def resume_app(self, app_id: str) -> None:
        with self.conn.begin():
            self.conn.execute(m.apps.update().where(m.apps.c.id == app_id).values(state="running", stopped_at=None))

    # -- deployed versions ---------------------------------------------------------------------
    def add_app_version(self, app_id: str, function_ids: dict[str, str], rollback_of: int = 0) -> int:
        with self.conn.begin():
            last = self.conn.execute(sa.select(sa.func.max(m.app_versions.c.version)).where(m.app_versions.c.app_id == app_id)).scalar()
            version = (last or 0) + 1
            self.conn.execute(
                m.app_versions.insert().values(app_id=app_id, version=version, created_at=time.time(), function_ids=function_ids, rollback_of=rollback_of)
            )
        return version

    def app_versions(self, app_id: str) -> list[sa.Row]:
        return self._all(sa.select(m.app_versions).where(m.app_versions.c.app_id == app_id).order_by(m.app_versions.c.version))

    def current_app_version(self, app_id: str) -> sa.Row | None:
        return self._first(sa.select(m.app_versions).where(m.app_versions.c.app_id == app_id).order_by(m.app_versions.c.version.desc()))

    def current_versions(self) -> dict[str, int]:
        q = sa.select(m.app_versions.c.app_id, sa.func.max(m.app_versions.c.version)).group_by(m.app_versions.c.app_id)
        return {app_id: version for app_id, version in self._all(q)}

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

    def count_inputs(self, call_id: str) -> int:
        return self._all(sa.select(sa.func.count()).select_from(m.inputs).where(m.inputs.c.call_id == call_id))[0][0]

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

    # -- dicts and queues ----------------------------------------------------------------------
    # `table` is m.dicts or m.queues: both kinds share naming, listing and lookup.
    def create_storage_object(self, table: sa.Table, object_id: str, name: str | None, ephemeral: bool) -> None:
        with self.conn.begin():
            self.conn.execute(table.insert().values(id=object_id, name=name, ephemeral=ephemeral, created_at=time.time()))

    def find_storage_object(self, table: sa.Table, id_or_name: str) -> sa.Row | None:
        return self._first(sa.select(table).where(sa.or_(table.c.id == id_or_name, table.c.name == id_or_name)))

    def list_storage_objects(self, table: sa.Table) -> list[sa.Row]:
        return self._all(sa.select(table).where(table.c.ephemeral.is_(False)).order_by(table.c.created_at))

    def delete_dict(self, dict_id: str) -> None:
        with self.conn.begin():
            self.conn.execute(m.dict_entries.delete().where(m.dict_entries.c.dict_id == dict_id))
            self.conn.execute(m.dicts.delete().where(m.dicts.c.id == dict_id))

    def delete_queue(self, queue_id: str) -> None:
        with self.conn.begin():
            self.conn.execute(m.queue_items.delete().where(m.queue_items.c.queue_id == queue_id))
            self.conn.execute(m.queues.delete().where(m.queues.c.id == queue_id))

    def dict_get(self, dict_id: str, key: bytes) -> bytes | None:
        e = m.dict_entries
        row = self._first(sa.select(e.c.value).where(e.c.dict_id == dict_id, e.c.key == key))
        return None if row is None else row.value

    def dict_put(self, dict_id: str, entries: Sequence[tuple[bytes, bytes]], skip_if_exists: bool = False, max_keys: int | None = None) -> bool | None:
        """Upsert entries in one transaction. False: skip_if_exists found the key; None: the
        new keys would take the dict past `max_keys`, and nothing was written."""
        e = m.dict_entries
        entries = list(dict(entries).items())  # the last value of a repeated key wins
        with self.conn.begin():
            keys = [k for k, _ in entries]
            existing: set[bytes] = set()
            for i in range(0, len(keys), 500):
                existing.update(r.key for r in self.conn.execute(sa.select(e.c.key).where(e.c.dict_id == dict_id, e.c.key.in_(keys[i : i + 500]))))
            if skip_if_exists and existing:
                return False
            new = [(k, v) for k, v in entries if k not in existing]
            if new and max_keys is not None:
                count = self.conn.execute(sa.select(sa.func.count()).select_from(e).where(e.c.dict_id == dict_id)).scalar_one()
                if count + len(new) > max_keys:
                    return None
            if new:
                self.conn.execute(e.insert(), [{"dict_id": dict_id, "key": k, "value": v} for k, v in new])
            updated = [(k, v) for k, v in entries if k in existing]
            if updated:
                self.conn.execute(
                    e.update().where(e.c.dict_id == dict_id, e.c.key == sa.bindparam("b_key")).values(value=sa.bindparam("b_value")),
                    [{"b_key": k, "b_value": v} for k, v in updated],
                )
        return True

    def dict_pop(self, dict_id: str, key: bytes) -> bytes | None:
        e = m.dict_entries
        with self.conn.begin():
            row = self.conn.execute(sa.select(e.c.seq, e.c.value).where(e.c.dict_id == dict_id, e.c.key == key)).first()
            if row is not None:
                self.conn.execute(e.delete().where(e.c.seq == row.seq))
        return None if row is None else row.value

    def dict_len(self, dict_id: str) -> int:
        e = m.dict_entries
        return self._all(sa.select(sa.func.count()).select_from(e).where(e.c.dict_id == dict_id))[0][0]

    def dict_clear(self, dict_id: str) -> None:
        with self.conn.begin():
            self.conn.execute(m.dict_entries.delete().where(m.dict_entries.c.dict_id == dict_id))

    def dict_contents(self, dict_id: str, after_seq: int, limit: int) -> list[sa.Row]:
        e = m.dict_entries
        return self._all(sa.select(e).where(e.c.dict_id == dict_id, e.c.seq > after_seq).order_by(e.c.seq).limit(limit))

    def queue_put(self, queue_id: str, partition: str, values: Sequence[bytes]) -> None:
        with self.conn.begin():
            self.conn.execute(m.queue_items.insert(), [{"queue_id": queue_id, "partition": partition, "value": v} for v in values])

    def queue_pop(self, queue_id: str, partition: str, n: int) -> list[bytes]:
        """Remove and return up to n of the oldest items, in one transaction."""
        q = m.queue_items
        with self.conn.begin():
            rows = list(self.conn.execute(sa.select(q.c.seq, q.c.value).where(q.c.queue_id == queue_id, q.c.partition == partition).order_by(q.c.seq).limit(n)))
            if rows:
                self.conn.execute(q.delete().where(q.c.seq.in_([r.seq for r in rows])))
        return [r.value for r in rows]

    def queue_peek(self, queue_id: str, partition: str, n: int) -> list[bytes]:
        q = m.queue_items
        return [r.value for r in self._all(sa.select(q.c.value).where(q.c.queue_id == queue_id, q.c.partition == partition).order_by(q.c.seq).limit(n))]

    def queue_len(self, queue_id: str, partition: str | None) -> int:
        """Items in one partition, or in all of them when partition is None."""
        q = m.queue_items
        query = sa.select(sa.func.count()).select_from(q).where(q.c.queue_id == queue_id)
        if partition is not None:
            query = query.where(q.c.partition == partition)
        return self._all(query)[0][0]

    def queue_num_partitions(self, queue_id: str) -> int:
        q = m.queue_items
        return self._all(sa.select(sa.func.count(sa.distinct(q.c.partition))).where(q.c.queue_id == queue_id))[0][0]

    def queue_clear(self, queue_id: str, partition: str | None) -> None:
        q = m.queue_items
        with self.conn.begin():
            query = q.delete().where(q.c.queue_id == queue_id)
            if partition is not None:
                query = query.where(q.c.partition == partition)
            self.conn.execute(query)

    # -- secrets (the data is already encrypted; see server/secret_box.py) ---------------------
    def create_secret(self, secret_id: str, name: str | None, ephemeral: bool, data: bytes) -> None:
        with self.conn.begin():
            self.conn.execute(m.secrets.insert().values(id=secret_id, name=name, ephemeral=ephemeral, created_at=time.time(), data=data))

    def replace_secret(self, secret_id: str, data: bytes) -> None:
        with self.conn.begin():
            self.conn.execute(m.secrets.update().where(m.secrets.c.id == secret_id).values(data=data))

    def find_secret(self, id_or_name: str) -> sa.Row | None:
        return self.find_storage_object(m.secrets, id_or_name)

    def secrets_by_id(self, secret_ids: Sequence[str]) -> list[sa.Row]:
        return self._all(sa.select(m.secrets).where(m.secrets.c.id.in_(list(secret_ids))))

    def list_secrets(self) -> list[sa.Row]:
        return self.list_storage_objects(m.secrets)

    def delete_secret(self, secret_id: str) -> None:
        with self.conn.begin():
            self.conn.execute(m.secrets.delete().where(m.secrets.c.id == secret_id))

    # -- images --------------------------------------------------------------------------------
    def get_image(self, image_id: str) -> sa.Row | None:
        return self._first(sa.select(m.images).where(m.images.c.id == image_id))

    def list_images(self) -> list[sa.Row]:
        return self._all(sa.select(m.images).order_by(m.images.c.created_at))

    def save_image(self, image_id: str, **values) -> None:
        """Insert the image, or update the columns given."""
        with self.conn.begin():
            if self.conn.execute(sa.select(m.images.c.id).where(m.images.c.id == image_id)).first() is None:
                self.conn.execute(m.images.insert().values(id=image_id, created_at=time.time(), **values))
            else:
                self.conn.execute(m.images.update().where(m.images.c.id == image_id).values(**values))

    def delete_images(self, image_ids: Sequence[str]) -> None:
        with self.conn.begin():
            self.conn.execute(m.images.delete().where(m.images.c.id.in_(list(image_ids))))

    def layer_digests(self, layer_ids: Sequence[str]) -> dict[str, str]:
        rows = self._all(sa.select(m.image_layers).where(m.image_layers.c.layer_id.in_(list(layer_ids))))
        return {r.layer_id: r.blob_digest for r in rows}

    def save_layers(self, layers: Sequence[tuple[str, str, int]]) -> None:
        """(layer id, blob digest, size) of built layers; a rebuilt layer replaces its row."""
        t = m.image_layers
        with self.conn.begin():
            for layer_id, digest, size in layers:
                self.conn.execute(t.delete().where(t.c.layer_id == layer_id))
                self.conn.execute(t.insert().values(layer_id=layer_id, blob_digest=digest, size_bytes=size, created_at=time.time()))

    def list_layers(self) -> list[sa.Row]:
        return self._all(sa.select(m.image_layers))

    def delete_layers(self, layer_ids: Sequence[str]) -> None:
        with self.conn.begin():
            self.conn.execute(m.image_layers.delete().where(m.image_layers.c.layer_id.in_(list(layer_ids))))

    def image_ids_in_use(self) -> set[str]:
        """Images of the functions of apps that are running or deployed."""
        live = sa.select(m.apps.c.id).where(m.apps.c.state.in_(["running", "deployed"]))
        rows = self._all(sa.select(m.functions.c.definition).where(m.functions.c.app_id.in_(live)))
        from squall._proto.squall.v1 import common_pb2

        ids = set()
        for r in rows:
            d = common_pb2.FunctionDefinition.FromString(r.definition)
            if d.image_id:
                ids.add(d.image_id)
        return ids
