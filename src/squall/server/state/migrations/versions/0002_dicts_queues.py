"""Dicts and Queues: their names and their contents.

Revision ID: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    for table in ("dicts", "queues"):
        op.create_table(
            table,
            sa.Column("id", sa.String, primary_key=True),
            sa.Column("name", sa.String, unique=True),
            sa.Column("ephemeral", sa.Boolean, nullable=False),
            sa.Column("created_at", sa.Float, nullable=False),
        )
    op.create_table(
        "dict_entries",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("dict_id", sa.String, nullable=False),
        sa.Column("key", sa.LargeBinary, nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
        sa.UniqueConstraint("dict_id", "key", name="uq_dict_entries_dict_key"),
    )
    op.create_table(
        "queue_items",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("queue_id", sa.String, nullable=False),
        sa.Column("partition", sa.String, nullable=False),
        sa.Column("value", sa.LargeBinary, nullable=False),
    )
    op.create_index("ix_queue_items_queue_partition_seq", "queue_items", ["queue_id", "partition", "seq"])


def downgrade() -> None:
    for table in ("queue_items", "dict_entries", "queues", "dicts"):
        op.drop_table(table)
