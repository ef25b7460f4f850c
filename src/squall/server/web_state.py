"""The tables of web endpoints and schedules (migration 0006_web), and the few queries on them.

Kept beside the Store rather than in it: they share its connection, so writes here are
ordered with the control plane's own.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import sqlalchemy as sa

from squall.server.state.store import Store

metadata = sa.MetaData()

proxy_tokens = sa.Table(
    "proxy_tokens",
    metadata,
    sa.Column("id", sa.String, primary_key=True),  # the Modal-Key header value ("wk-...")
    sa.Column("name", sa.String, nullable=False),
    sa.Column("secret_hash", sa.String, nullable=False),  # sha256 of the Modal-Secret value
    sa.Column("created_at", sa.Float, nullable=False),
)

schedule_state = sa.Table(
    "schedule_state",
    metadata,
    sa.Column("app_id", sa.String, primary_key=True),
    sa.Column("function_name", sa.String, primary_key=True),
    sa.Column("spec", sa.String, nullable=False),  # the schedule it was computed for; a redeploy with another resets it
    sa.Column("next_run_at", sa.Float, nullable=False),
)

schedule_runs = sa.Table(
    "schedule_runs",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("app_id", sa.String, nullable=False, index=True),
    sa.Column("function_name", sa.String, nullable=False),
    sa.Column("call_id", sa.String, nullable=False),
    sa.Column("scheduled_for", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float, nullable=False),
    sa.Column("catch_up", sa.Boolean, nullable=False),
)

PROXY_TOKEN_PREFIX = "wk-"
PROXY_SECRET_PREFIX = "ws-"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class WebState:
    def __init__(self, store: Store):
        self.store = store
        self._tokens: dict[str, str] | None = None  # id -> secret hash, cached: every protected request checks one

    # -- proxy tokens --------------------------------------------------------------------------
    def create_proxy_token(self, name: str) -> tuple[str, str]:
        token_id = PROXY_TOKEN_PREFIX + secrets.token_hex(10)
        secret = PROXY_SECRET_PREFIX + secrets.token_urlsafe(24)
        with self.store.conn.begin():
            self.store.conn.execute(proxy_tokens.insert().values(id=token_id, name=name, secret_hash=_hash(secret), created_at=time.time()))
        self._tokens = None
        return token_id, secret

    def list_proxy_tokens(self) -> list[sa.Row]:
        return self.store._all(sa.select(proxy_tokens).order_by(proxy_tokens.c.created_at))

    def delete_proxy_token(self, token_id: str) -> bool:
        with self.store.conn.begin():
            n = self.store.conn.execute(proxy_tokens.delete().where(proxy_tokens.c.id == token_id)).rowcount
        self._tokens = None
        return bool(n)

    def proxy_token_ok(self, token_id: str, secret: str) -> bool:
        if self._tokens is None:
            self._tokens = {r.id: r.secret_hash for r in self.list_proxy_tokens()}
        expected = self._tokens.get(token_id)
        return expected is not None and hmac.compare_digest(expected, _hash(secret))

    # -- schedules -----------------------------------------------------------------------------
    def schedule_states(self) -> dict[tuple[str, str], sa.Row]:
        return {(r.app_id, r.function_name): r for r in self.store._all(sa.select(schedule_state))}

    def set_next_run(self, app_id: str, function_name: str, spec: str, next_run_at: float, run: dict | None = None) -> None:
        """Move the schedule on and, in the same transaction, record the run that fired."""
        with self.store.conn.begin():
            key = (schedule_state.c.app_id == app_id) & (schedule_state.c.function_name == function_name)
            if self.store.conn.execute(schedule_state.update().where(key).values(spec=spec, next_run_at=next_run_at)).rowcount == 0:
                self.store.conn.execute(schedule_state.insert().values(app_id=app_id, function_name=function_name, spec=spec, next_run_at=next_run_at))
            if run is not None:
                self.store.conn.execute(schedule_runs.insert().values(app_id=app_id, function_name=function_name, **run))

    def schedule_runs(self, app_id: str, function_name: str, limit: int) -> list[sa.Row]:
        q = (sa.select(schedule_runs).where(schedule_runs.c.app_id == app_id, schedule_runs.c.function_name == function_name)
             .order_by(schedule_runs.c.seq.desc()).limit(limit))
        return self.store._all(q)
