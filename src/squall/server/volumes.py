"""Volumes in the state store: names, and one row per version holding that version's manifest.

A commit reads the latest version, applies the puts and removes (storage/volume_manifest.py:
last writer wins per path) and inserts the next version in one transaction; two servers
racing on one database both see the primary key (volume, version) and the loser retries on
the newer version. File contents are blobs; a commit is refused unless every chunk it names
is in the blob store.
"""

from __future__ import annotations

import time
import uuid

import sqlalchemy as sa

from squall._proto.squall.v1 import volume_pb2 as vpb
from squall.server.state import models as m
from squall.server.state.store import Store
from squall.storage import volume_manifest as vm


class VolumeConflict(Exception):
    """A commit's preconditions failed (no_overwrite found a path, a remove found nothing)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


class Volumes:
    def __init__(self, store: Store):
        self.store = store
        self.conn = store.conn

    def create(self, name: str | None, ephemeral: bool) -> str:
        volume_id = "vo-" + uuid.uuid4().hex[:20]
        with self.conn.begin():
            self.conn.execute(m.volumes.insert().values(id=volume_id, name=name, ephemeral=ephemeral, created_at=time.time()))
        return volume_id

    def find(self, id_or_name: str) -> sa.Row | None:
        t = m.volumes
        return self.store._first(sa.select(t).where(sa.or_(t.c.id == id_or_name, t.c.name == id_or_name)))

    def list(self) -> list[sa.Row]:
        return self.store._all(sa.select(m.volumes).where(m.volumes.c.ephemeral.is_(False)).order_by(m.volumes.c.created_at))

    def delete(self, volume_id: str) -> None:
        with self.conn.begin():
            self.conn.execute(m.volume_versions.delete().where(m.volume_versions.c.volume_id == volume_id))
            self.conn.execute(m.volumes.delete().where(m.volumes.c.id == volume_id))

    def latest(self, volume_id: str) -> sa.Row | None:
        v = m.volume_versions
        return self.store._first(sa.select(v).where(v.c.volume_id == volume_id).order_by(v.c.version.desc()))

    def version_info(self, volume_id: str) -> sa.Row | None:
        v = m.volume_versions
        q = sa.select(v.c.version, v.c.created_at, v.c.num_files, v.c.size_bytes).where(v.c.volume_id == volume_id).order_by(v.c.version.desc())
        return self.store._first(q)

    def manifest(self, volume_id: str, version: int = 0) -> tuple[int, vm.Manifest]:
        v = m.volume_versions
        if version:
            row = self.store._first(sa.select(v).where(v.c.volume_id == volume_id, v.c.version == version))
            if row is None:
                raise KeyError(version)
        else:
            row = self.latest(volume_id)
        return (0, {}) if row is None else (row.version, vm.from_bytes(row.manifest))

    def commit(self, volume_id: str, puts: list[vpb.VolumeEntry], removes: list[str], no_overwrite: bool = False,
               require_removes_exist: bool = False) -> int:
        v = m.volume_versions
        for _ in range(10):
            version, manifest = self.manifest(volume_id)
            if no_overwrite:
                clash = sorted(e.path for e in puts if e.path in manifest and e.kind != vm.DIRECTORY)
                if clash:
                    raise VolumeConflict("exists", f"{', '.join(clash[:5])} already exist{'s' if len(clash) == 1 else ''} in the volume; pass force=True to replace")
            if require_removes_exist:
                gone = sorted(r for r in removes if r and r not in manifest)
                if gone:
                    raise VolumeConflict("missing", f"{', '.join(gone[:5])}: no such file or directory in the volume")
            new = vm.apply(manifest, puts, removes)
            if len(new) > vm.MAX_FILES:
                raise VolumeConflict("limit", f"the volume would hold {len(new):,} entries; the limit is {vm.MAX_FILES:,}")
            files = [e for e in new.values() if e.kind == vm.FILE]
            try:
                with self.conn.begin():
                    self.conn.execute(v.insert().values(
                        volume_id=volume_id, version=version + 1, created_at=time.time(), manifest=vm.to_bytes(new.values()),
                        num_files=len(files), size_bytes=sum(e.size for e in files),
                    ))
                return version + 1
            except sa.exc.IntegrityError:  # another server committed this version first: apply on top of it
                continue
        raise VolumeConflict("busy", f"volume {volume_id} is being committed to by too many writers at once; try again")
