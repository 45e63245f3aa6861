"""Imported once by each long-lived Airflow worker process before it forks task processes, so a
task pays for none of it: pandas, SQLAlchemy and the pipeline (~3 s), Great Expectations (~7 s of
imports on these 2-core machines) and its context and suites (built once, then inherited).

- LocalExecutor: AIRFLOW__SCHEDULER__MP_START_METHOD=forkserver and
  AIRFLOW__SCHEDULER__MP_FORKSERVER_PRELOAD=airflow.executors.local_executor,
  airflow.sdk.execution_time.supervisor,airflow.sdk.execution_time.task_runner,pipelines.worker_preload
  (the executor's workers are forked from the forkserver, and each task process from a worker).
- CeleryExecutor: AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=pipelines.celery_config.CELERY_CONFIG,
  whose `imports` make the Celery worker import this module before it forks its pool.

Nothing here is needed for correctness: without it each task imports what it uses itself.
"""
from __future__ import annotations

import logging

from pipelines import nightly  # noqa: F401  (imported for the processes forked later)
from pipelines.quality import validation

logging.getLogger("great_expectations").setLevel(logging.WARNING)
for _dataset in ("water", "air", "coastal"):
    validation._batch_definition_and_suite(_dataset, None)  # the call validate() makes (same cache key)


def _compile_data_docs_templates() -> None:
    """Render the suites' Data Docs once into a throw-away folder: the compiled page templates stay
    in pipelines.quality.data_docs_views' cache, which every forked task inherits."""
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="envmon-data-docs-warmup-")
    try:
        validation.build_data_docs(folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_compile_data_docs_templates()
