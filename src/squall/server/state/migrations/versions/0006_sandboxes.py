"""Sandboxes, and the audit trail of every command run in them.

Revision ID: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "sandboxes",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("app_id", sa.String, nullable=False, index=True),
        sa.Column("name", sa.String),
        sa.Column("state", sa.String, nullable=False),  # starting | running | stopped
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
        sa.Column("timed_out", sa.Boolean, nullable=False, server_default=sa.false()),
    )
    op.create_table(
        "sandbox_execs",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("sandbox_id", sa.String, nullable=False, index=True),
        sa.Column("argv", sa.JSON, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("returncode", sa.Integer),
        sa.Column("reason", sa.String),
    )


def downgrade() -> None:
    op.drop_table("sandbox_execs")
    op.drop_table("sandboxes")
