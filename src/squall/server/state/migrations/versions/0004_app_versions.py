"""Deployed app versions: each `squall deploy` (or rollback) records which functions are current.

Revision ID: 0004
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "app_versions",
        sa.Column("app_id", sa.String, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("function_ids", sa.JSON, nullable=False),
        sa.Column("rollback_of", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("app_versions")
