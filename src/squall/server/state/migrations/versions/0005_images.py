"""Images and the layers they are built from.

Revision ID: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"


def upgrade() -> None:
    op.create_table(
        "images",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("layers", sa.JSON, nullable=False),
        sa.Column("config", sa.JSON, nullable=False),
        sa.Column("error", sa.Text, nullable=False, server_default=""),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("built_at", sa.Float, nullable=False, server_default="0"),
        sa.Column("build_s", sa.Float, nullable=False, server_default="0"),
    )
    op.create_table(
        "image_layers",
        sa.Column("layer_id", sa.String, primary_key=True),
        sa.Column("blob_digest", sa.String, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("image_layers")
    op.drop_table("images")
