"""Volumes and their versions (each a manifest of paths to content blobs).

Revision ID: 0006_volumes
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_volumes"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "volumes",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("name", sa.String, unique=True),
        sa.Column("ephemeral", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )
    op.create_table(
        "volume_versions",
        sa.Column("volume_id", sa.String, primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("manifest", sa.LargeBinary, nullable=False),
        sa.Column("num_files", sa.Integer, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("volume_versions")
    op.drop_table("volumes")
