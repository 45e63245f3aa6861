"""Shared storage (issue 25): the payload log names each archived payload by its storage key,
relative to ENVMON_STORAGE_URL (`archive/<source>/<YYYY>/<MM>/<sha16>-<name>`), no longer by the
absolute path of the worker that received it. Rows logged before are rewritten to the key their
path ends with (…/archive/<source>/YYYY/MM/<file>): with the default storage (ENVMON_HOME) it names
the same file; on an object store the init job has copied ENVMON_HOME/archive/ into it just before
(deploy/airflow-init.sh, pipelines/storage.adopt_local_home; README "Operating: shared storage"). Those older files stay uncompressed; pipelines/storage.py reads both, and checks
the sha256 of either. A path that does not look like an archive path is left as it was (read from
the local disk, as before). The downgrade cannot know the old homes: it leaves the keys.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""
from pathlib import PurePosixPath

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def legacy_key(archive_path: str) -> str | None:
    """The storage key of an old row's absolute archive path (…/archive/<source>/YYYY/MM/<file>), or
    None when it does not look like one. A copy of pipelines/storage.legacy_key as it was when this
    migration was written: a migration does not change when the live code does."""
    parts = PurePosixPath(str(archive_path)).parts
    for index in range(len(parts) - 5, -1, -1):
        if parts[index] == "archive" and len(parts) - index == 5 and parts[index + 2].isdigit() \
                and parts[index + 3].isdigit():
            return "/".join(parts[index:])
    return None


def upgrade() -> None:
    connection = op.get_bind()
    payloads = sa.table("payloads", sa.column("payload_id", sa.BigInteger), sa.column("archive_path", sa.Text))
    rows = connection.execute(sa.select(payloads.c.payload_id, payloads.c.archive_path)
                              .where(payloads.c.archive_path.like("/%"))).all()
    keys = [{"id": payload_id, "key": legacy_key(path)} for payload_id, path in rows]
    keys = [k for k in keys if k["key"] is not None]
    if keys:
        connection.execute(payloads.update().where(payloads.c.payload_id == sa.bindparam("id"))
                           .values(archive_path=sa.bindparam("key")), keys)


def downgrade() -> None:
    pass
