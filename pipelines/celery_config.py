"""Airflow's Celery configuration plus envmon's worker preload (pipelines/worker_preload.py):
set AIRFLOW__CELERY__CELERY_CONFIG_OPTIONS=pipelines.celery_config.CELERY_CONFIG. Only the Celery
worker imports the `imports`; the scheduler reads this dict without them."""
from __future__ import annotations

from airflow.providers.celery.executors.default_celery import DEFAULT_CELERY_CONFIG

CELERY_CONFIG = {**DEFAULT_CELERY_CONFIG, "imports": ("pipelines.worker_preload",)}
