"""The ingest side of envmon: real payloads in (one, a folder, an archive, each collection), the
simulated history backfilled in chunks, and stored days assessed again. Every module here imports
only modules listed above it, never one below (tests/test_import_layers.py fails on any circle):

- archive.py: each payload kept as received, under its sha256 (no warehouse).
- batches.py: payloads ingested many at a time: logged, parsed, validated and QC'd as one frame,
  stored in one transaction per batch, their days assessed once (assess_days). Also the pieces
  every path shares: prepare (migrate the warehouse once per process), record_fault.
- payloads.py: one payload (a batch of one), files, `envmon ingest --resume` and --payload-id,
  built on batches.py.
- collect.py: collection on each feed's own cadence (the collection DAGs), built on payloads.py
  and batches.py.
- reassess.py: `envmon reassess`, stored days assessed again (batches.assess_days).
- history.py: the simulated history backfilled in month chunks (`envmon backfill`, the benches);
  independent of the payload path.

Below this package: pipelines.nightly, config, observations, sources, quality, assessment,
alerts and warehouse. Nothing in them imports this package at module level (warehouse/registry_store
calls reassess from inside a function)."""
