"""Shared storage (issue 25): the payload log names each archived payload by its storage key,
relative to ENVMON_STORAGE_URL (`archive/<source>/<YYYY>/<MM>/<sha16>-<name>`), no longer by the
absolute path of the worker that received it. Rows logged before are rewritten to the key their
path ends with (…/archive/<source>/YYYY/MM/<file>): with the default storage (ENVMON_HOME) it names
the same file; a bureau moving to an object store copies ENVMON_HOME/archive/ into it (README
"Shared storage"). Those older files stay uncompressed; pipelines/storage.py reads both, and checks
the sha256 of either. A path that does not look like an archive path is left as it was (read from
the local disk, as before). The downgrade cannot know the old homes: it leaves the keys.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-07
"""
import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from pipelines.storage import legacy_key

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
