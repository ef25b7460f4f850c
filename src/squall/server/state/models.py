"""The control plane's tables. Alembic migrations (migrations/) create and change them."""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

apps = sa.Table(
    "apps",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("state", sa.String, nullable=False),  # running | stopped
    sa.Column("ephemeral", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("stopped_at", sa.Float),
)

functions = sa.Table(
    "functions",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("app_id", sa.String, nullable=False, index=True),
    sa.Column("name", sa.String, nullable=False),
    sa.Column("definition", sa.LargeBinary, nullable=False),  # FunctionDefinition proto
    sa.Column("parent_id", sa.String),  # set for a parameterised class instance
    sa.Column("created_at", sa.Float, nullable=False),
)

function_calls = sa.Table(
    "function_calls",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("function_id", sa.String, nullable=False, index=True),
    sa.Column("kind", sa.Integer, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("cancelled", sa.Boolean, nullable=False, default=False),
)

inputs = sa.Table(
    "inputs",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("call_id", sa.String, nullable=False, index=True),
    sa.Column("function_id", sa.String, nullable=False),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("method", sa.String, nullable=False, default=""),
    sa.Column("args", sa.LargeBinary, nullable=False),
    sa.Column("status", sa.String, nullable=False),  # pending | running | done
    sa.Column("attempt", sa.Integer, nullable=False, default=0),
    sa.Column("available_at", sa.Float, nullable=False, default=0.0),
    sa.Column("container_id", sa.String),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Index("ix_inputs_status", "status"),
)

outputs = sa.Table(
    "outputs",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("call_id", sa.String, nullable=False),
    sa.Column("input_id", sa.String, nullable=False),
    sa.Column("idx", sa.Integer, nullable=False),
    sa.Column("gen_index", sa.Integer, nullable=False, default=0),
    sa.Column("attempt", sa.Integer, nullable=False, default=0),
    sa.Column("result", sa.LargeBinary, nullable=False),  # Result proto
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_outputs_call_seq", "call_id", "seq"),
)

workers = sa.Table(
    "workers",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("hostname", sa.String, nullable=False),
    sa.Column("cpu", sa.Float, nullable=False),
    sa.Column("memory_mb", sa.Integer, nullable=False),
    sa.Column("state", sa.String, nullable=False),  # connected | lost
    sa.Column("connected_at", sa.Float, nullable=False),
    sa.Column("last_seen_at", sa.Float, nullable=False),
)

containers = sa.Table(
    "containers",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("function_id", sa.String, nullable=False, index=True),
    sa.Column("app_id", sa.String, nullable=False, index=True),
    sa.Column("worker_id", sa.String, nullable=False),
    sa.Column("runtime", sa.String, nullable=False),
    sa.Column("state", sa.String, nullable=False),  # scheduled | running | stopped
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("stopped_at", sa.Float),
    sa.Column("exit_reason", sa.String),
    sa.Column("timings", sa.JSON),
)

logs = sa.Table(
    "logs",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("app_id", sa.String, nullable=False),
    sa.Column("container_id", sa.String, nullable=False),
    sa.Column("function_name", sa.String, nullable=False),
    sa.Column("stream", sa.String, nullable=False),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("ts", sa.Float, nullable=False),
    sa.Index("ix_logs_app_seq", "app_id", "seq"),
)

# -- Dicts and Queues (migration 0002) ----------------------------------------------------------
dicts = sa.Table(
    "dicts",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("name", sa.String, unique=True),  # NULL for an ephemeral dict
    sa.Column("ephemeral", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

dict_entries = sa.Table(
    "dict_entries",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),  # insertion order, for paging
    sa.Column("dict_id", sa.String, nullable=False),
    sa.Column("key", sa.LargeBinary, nullable=False),  # pickled: keys compare by these bytes
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("dict_id", "key", name="uq_dict_entries_dict_key"),
)

queues = sa.Table(
    "queues",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("name", sa.String, unique=True),  # NULL for an ephemeral queue
    sa.Column("ephemeral", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

queue_items = sa.Table(
    "queue_items",
    metadata,
    sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),  # FIFO order
    sa.Column("queue_id", sa.String, nullable=False),
    sa.Column("partition", sa.String, nullable=False),  # "" is the default partition
    sa.Column("value", sa.LargeBinary, nullable=False),
    sa.Index("ix_queue_items_queue_partition_seq", "queue_id", "partition", "seq"),
)

# -- Secrets (migration 0003) -------------------------------------------------------------------
secrets = sa.Table(
    "secrets",
    metadata,
    sa.Column("id", sa.String, primary_key=True),
    sa.Column("name", sa.String, unique=True),  # NULL for an ephemeral secret (Secret.from_dict)
    sa.Column("ephemeral", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),  # Fernet token of the JSON {key: value}; never plaintext
)

# -- Deployed app versions (migration 0004) -----------------------------------------------------
app_versions = sa.Table(
    "app_versions",
    metadata,
    sa.Column("app_id", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),  # 1, 2, ... per app
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("function_ids", sa.JSON, nullable=False),  # {function name: function id}
    sa.Column("rollback_of", sa.Integer, nullable=False, server_default="0"),  # the version a rollback restored
)

# -- Images (migration 0005) --------------------------------------------------------------------
images = sa.Table(
    "images",
    metadata,
    sa.Column("id", sa.String, primary_key=True),  # im-<hash of the top layer and the config>
    sa.Column("description", sa.Text, nullable=False),  # debian_slim().pip_install(six)
    sa.Column("status", sa.String, nullable=False),  # building | ready | failed
    sa.Column("layers", sa.JSON, nullable=False),  # [{"layer_id", "step"}], the base first
    sa.Column("config", sa.JSON, nullable=False),  # env, workdir, entrypoint, cmd, python_version
    sa.Column("error", sa.Text, nullable=False, server_default=""),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("built_at", sa.Float, nullable=False, server_default="0"),
    sa.Column("build_s", sa.Float, nullable=False, server_default="0"),
)

image_layers = sa.Table(
    "image_layers",
    metadata,
    sa.Column("layer_id", sa.String, primary_key=True),
    sa.Column("blob_digest", sa.String, nullable=False),  # tar.zst of the layer in the blob store
    sa.Column("size_bytes", sa.BigInteger, nullable=False),  # of that blob
    sa.Column("created_at", sa.Float, nullable=False),
)

# -- Volumes (migration 0006_volumes) -----------------------------------------------------------
volumes = sa.Table(
    "volumes",
    metadata,
    sa.Column("id", sa.String, primary_key=True),  # vo-...
    sa.Column("name", sa.String, unique=True),  # NULL for an ephemeral volume
    sa.Column("ephemeral", sa.Boolean, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
)

volume_versions = sa.Table(
    "volume_versions",
    metadata,
    sa.Column("volume_id", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),  # 1, 2, ... per volume
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("manifest", sa.LargeBinary, nullable=False),  # zlib'd VolumeManifest proto (storage/volume_manifest.py)
    sa.Column("num_files", sa.Integer, nullable=False),
    sa.Column("size_bytes", sa.BigInteger, nullable=False),
)
