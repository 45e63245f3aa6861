"""What the issued documents ask of the warehouse beyond their reads (pipelines/reports/publish.py):
which months were loaded or revised since the last look, so that the monthly refresh builds again
only the issues whose months changed, and an issue years old costs nothing on a quiet night."""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Engine, func, select

from pipelines.clock import BUREAU_TZ
from warehouse import schema


def months_changed_since(engine: Engine, state: dict | None) -> tuple[set[str] | None, dict]:
    """(months 'YYYY-MM' with a partition loaded or a value revised or withdrawn since `state`,
    the state to keep for next time). No state: None, every month may have changed."""
    log, history = schema.partition_log, schema.observation_history
    with engine.connect() as connection:
        newest_load = connection.execute(select(func.max(log.c.loaded_at))).scalar()
        newest_history = connection.execute(select(func.max(history.c.history_id))).scalar()
        seen = {"loaded_at": newest_load.isoformat() if newest_load else None, "history_id": newest_history or 0}
        if state is None:
            return None, seen
        months = set()
        since = datetime.fromisoformat(state["loaded_at"]) if state.get("loaded_at") else None
        query = select(log.c.partition_day).distinct()
        if since is not None:
            query = query.where(log.c.loaded_at > since)
        months |= {f"{day:%Y-%m}" for day in connection.execute(query).scalars()}
        revised = select(history.c.observed_at).where(history.c.history_id > int(state.get("history_id") or 0))
        for observed_at in connection.execute(revised).scalars():
            local = observed_at.astimezone(BUREAU_TZ)
            # an hour's value carries the end of its hour: 00:00 belongs to the day before
            months |= {f"{local:%Y-%m}", f"{local - timedelta(hours=1):%Y-%m}"}
    return months, seen
