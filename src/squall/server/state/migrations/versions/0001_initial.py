"""The first tables: apps, functions, calls, inputs, outputs, workers, containers, logs.

Revision ID: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None


def upgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("ephemeral", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("stopped_at", sa.Float),
    )
    op.create_table(
        "functions",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("app_id", sa.String, nullable=False, index=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("definition", sa.LargeBinary, nullable=False),
        sa.Column("parent_id", sa.String),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "function_calls",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("function_id", sa.String, nullable=False, index=True),
        sa.Column("kind", sa.Integer, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("cancelled", sa.Boolean, nullable=False),
    )
    op.create_table(
        "inputs",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("call_id", sa.String, nullable=False, index=True),
        sa.Column("function_id", sa.String, nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("method", sa.String, nullable=False),
        sa.Column("args", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("available_at", sa.Float, nullable=False),
        sa.Column("container_id", sa.String),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
    )
    op.create_index("ix_inputs_status", "inputs", ["status"])
    op.create_table(
        "outputs",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("call_id", sa.String, nullable=False),
        sa.Column("input_id", sa.String, nullable=False),
        sa.Column("idx", sa.Integer, nullable=False),
        sa.Column("gen_index", sa.Integer, nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("result", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_index("ix_outputs_call_seq", "outputs", ["call_id", "seq"])
    op.create_table(
        "workers",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("hostname", sa.String, nullable=False),
        sa.Column("cpu", sa.Float, nullable=False),
        sa.Column("memory_mb", sa.Integer, nullable=False),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("connected_at", sa.Float, nullable=False),
        sa.Column("last_seen_at", sa.Float, nullable=False),
    )
    op.create_table(
        "containers",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("function_id", sa.String, nullable=False, index=True),
        sa.Column("app_id", sa.String, nullable=False, index=True),
        sa.Column("worker_id", sa.String, nullable=False),
        sa.Column("runtime", sa.String, nullable=False),
        sa.Column("state", sa.String, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("stopped_at", sa.Float),
        sa.Column("exit_reason", sa.String),
        sa.Column("timings", sa.JSON),
    )
    op.create_table(
        "logs",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("app_id", sa.String, nullable=False),
        sa.Column("container_id", sa.String, nullable=False),
        sa.Column("function_name", sa.String, nullable=False),
        sa.Column("stream", sa.String, nullable=False),
        sa.Column("text", sa.Text, nullable=False),
        sa.Column("ts", sa.Float, nullable=False),
    )
    op.create_index("ix_logs_app_seq", "logs", ["app_id", "seq"])


def downgrade() -> None:
    for table in ("logs", "containers", "workers", "outputs", "inputs", "function_calls", "functions", "apps"):
        op.drop_table(table)
