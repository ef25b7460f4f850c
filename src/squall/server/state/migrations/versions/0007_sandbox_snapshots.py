"""Memory snapshots of sandboxes: each one's packed checkpoint image (a blob) and what restoring it
needs. Kept until deleted (`squall sandbox snapshots rm`); nothing expires them.

Revision ID: 0007_sandbox_snapshots
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_sandbox_snapshots"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "sandbox_snapshots",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("sandbox_id", sa.String, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("blob_digest", sa.String, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("runtime_version", sa.String, nullable=False),  # `runsc --version`: restored only under the same build
        sa.Column("platform", sa.String, nullable=False, server_default=""),  # gVisor's platform (ptrace, systrap): and the same platform
        sa.Column("cpu_features", sa.JSON, nullable=False),
        sa.Column("image_id", sa.String),
        sa.Column("request", sa.LargeBinary, nullable=False),  # the SandboxCreateRequest, without env and Secrets
        # A restored supervisor proves itself to its worker with HMAC(secret, nonce). Sensitive like
        # the snapshot's memory (which holds it too); no credential to the control plane.
        sa.Column("resume_secret", sa.LargeBinary, nullable=False),
        sa.Column("checkpoint_s", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sandbox_snapshots")
