"""The partners whose shared sections the collection DAG pulls (source partner-edr, issue 26):
ENVMON_PARTNERS names a TOML file, one [[partner]] table each:

    [[partner]]
    url = "https://partner.example/api"        # the partner's OGC API root
    key_file = "/run/secrets/partner-gd.key"   # its key for us (pipelines/sources/partner_edr.py)

Unset: no partner, no DAG. Light on purpose (stdlib only): the DAG file reads it when Airflow
parses it."""
from __future__ import annotations

import os
import tomllib
from pathlib import Path

ENV_VARS = ("ENVMON_PARTNERS",)


def partners_file(environ: dict[str, str] | None = None) -> Path | None:
    env = os.environ if environ is None else environ
    return Path(env["ENVMON_PARTNERS"]) if env.get("ENVMON_PARTNERS") else None


def partners(path: Path | None = None, environ: dict[str, str] | None = None) -> list[dict]:
    """[{url, key_file}] of the partners file (ENVMON_PARTNERS unless `path`); ValueError in one
    line for a file that cannot be read or an entry without its url or key_file."""
    path = path or partners_file(environ)
    if path is None:
        return []
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise ValueError(f"ENVMON_PARTNERS: {path} cannot be read: {error}") from None
    found = []
    for number, entry in enumerate(document.get("partner") or [], start=1):
        if not isinstance(entry, dict) or not entry.get("url") or not entry.get("key_file"):
            raise ValueError(f"ENVMON_PARTNERS: {path}: partner {number} needs url and key_file")
        key_file = Path(entry["key_file"])
        found.append({"url": str(entry["url"]), "key_file": key_file if key_file.is_absolute() else Path(path).parent / key_file})
    return found
