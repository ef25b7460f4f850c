"""Web endpoints and schedules: proxy-auth tokens, each schedule's next due time, and its runs.

Revision ID: 0006_web
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_web"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "proxy_tokens",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("name", sa.String, nullable=False),
        sa.Column("secret_hash", sa.String, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "schedule_state",
        sa.Column("app_id", sa.String, primary_key=True),
        sa.Column("function_name", sa.String, primary_key=True),
        sa.Column("spec", sa.String, nullable=False),
        sa.Column("next_run_at", sa.Float, nullable=False),
    )
    op.create_table(
        "schedule_runs",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("app_id", sa.String, nullable=False, index=True),
        sa.Column("function_name", sa.String, nullable=False),
        sa.Column("call_id", sa.String, nullable=False),
        sa.Column("scheduled_for", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("catch_up", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    op.drop_table("schedule_runs")
    op.drop_table("schedule_state")
    op.drop_table("proxy_tokens")
