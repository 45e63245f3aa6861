"""archive ingest (issue 15): no change of the schema

`envmon ingest` of many payloads at once (pipelines/ingest/batches.py, warehouse/bulk.store_batch)
writes the tables as they are: the payload log already holds what each payload needs (status,
days, counts, sha256 with its index on (source, sha256) for the content already loaded), and the
merge, the quarantine, the partition log and the published results keep their keys and indexes.
The revision number was reserved for it; it stays in the chain so that the revisions after it
(0013) follow one line.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02
"""

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
