"""The source `partner-edr` (issue 26, "the other direction"): a partner's OGC API – EDR, read as
CoverageJSON, for the sections it shares with us.

A partner (another bureau running envmon, or any server answering the same shapes) gives us an
API key; we keep it in a key file:

    # the partner's key, as `envmon apikeys add` printed it at the partner
    key = "envmon_..."
    organisation = "广东省生态环境监测中心"   # whose data these are: the values' provenance

(TOML; a file holding only the key works too, and the organisation is then taken from the
partner's landing page, else its host name.)

Here: the key file, the HTTP client (httpx, with the retries and back-off of the CNEMC clients,
tenacity; ETag / If-None-Match; `next` links) and the parser of one CoverageJSON page into
canonical observations. pipelines/partner_pull.py pulls and ingests; each page is a payload of
the one path (archived as received, logged, validated, QC'd, merged: a changed value is a
revision, the old one kept in observation_history).

What a value keeps from the partner (envmon's shape, pipelines/api/coverage.py): the value and its
unit (the warehouse's unit for the parameter, or the row is quarantined: no silent conversion), the
partner's QC flag (a flag it set stands; envmon's own QC tests may only add to it) and note, the
value as first printed (`original_value`), censoring ('<', the value then being the detection
limit) and the detection limit. Each row's `detail` names the partner organisation, the source that
delivered the value at the partner and the flag the partner gave it:
{"partner": ORG, "partner_qc_flag": FLAG, "partner_source": SOURCE}.

The partner's times arrive in UTC; they are kept on the bureaus' clock (+08:00) as the other
sources' are. A range key is a parameter code (an instantaneous reading, PT0S, for sections) or
`code@PERIOD` for another averaging period.
"""
from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import httpx
import pandas as pd

from pipelines.observations import BEIJING_OFFSET_MINUTES, BUREAU_TZ
from pipelines.sources.reading import PayloadError, refuse

SOURCE = "partner-edr"
COLLECTION = "water-observations"   # the shared sections: surface water
BASE_PERIOD = "PT0S"                # a bare range key of a section: an instantaneous reading
WHOLE_EARTH = "POLYGON((-180 -90, 180 -90, 180 90, -180 90, -180 -90))"  # the key's scope decides what comes
PAGE_ROWS = 5000                    # observation rows asked per page
QC_FLAGS = ("good", "not_evaluated", "suspect", "fail", "missing")
EXTRA_SUFFIXES = ("qc_flag", "qc_note", "original_value", "censoring", "detection_limit")
COVJSON = "application/prs.coverage+json"


class PartnerError(RuntimeError):
    """A pull that cannot go on: one line naming the partner and why."""


# --- the key file ------------------------------------------------------------------------------
@dataclass(frozen=True)
class PartnerKey:
    key: str
    organisation: str | None


def read_key_file(path: Path) -> PartnerKey:
    """The key (and the partner organisation, if the file names it); PartnerError in one line."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise PartnerError(f"no key file {path}") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PartnerError(f"key file {path} cannot be read: {getattr(error, 'strerror', None) or error}") from None
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        lines = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
        if len(lines) == 1 and " " not in lines[0] and "=" not in lines[0]:
            return PartnerKey(lines[0], None)  # the key alone, as `envmon apikeys add` prints it
        raise PartnerError(f"key file {path}: write key = \"...\" (and organisation = \"...\"), or the key alone") from None
    key = document.get("key")
    if not isinstance(key, str) or not key.strip():
        raise PartnerError(f"key file {path} has no key = \"...\"")
    organisation = document.get("organisation")
    if organisation is not None and (not isinstance(organisation, str) or not organisation.strip()):
        raise PartnerError(f"key file {path}: organisation must be the partner's name in quotes")
    return PartnerKey(key.strip(), organisation.strip() if organisation else None)


def api_root(url: str) -> str:
    """The partner's API root as given, without a trailing slash; PartnerError for what is not an
    http(s) URL."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PartnerError(f"--url {url!r} is not an http(s) URL of a partner's API (e.g. https://host/api)")
    return url


# --- the client ----------------------------------------------------------------------------------
@dataclass
class Page:
    url: str
    status: int                  # 200, or 304 (not modified: nothing new since the ETag given)
    body: bytes = b""
    etag: str | None = None
    last_modified: datetime | None = None
    next_url: str | None = None


@dataclass
class PartnerClient:
    """GETs of the partner's API with its key, retried with back-off on time-outs, broken
    connections, 5xx and bodies that are not the JSON asked for (RetryPolicy of the CNEMC clients)."""
    root: str
    key: str
    timeout_seconds: float = 60.0
    retry: object = None                   # pipelines.sources.live.RetryPolicy
    transport: httpx.BaseTransport | None = None  # tests may inject one
    _client: httpx.Client | None = field(default=None, repr=False)

    def __post_init__(self):
        from pipelines.sources.live import RetryPolicy

        self.retry = self.retry or RetryPolicy()

    def __enter__(self):
        self._client = httpx.Client(timeout=self.timeout_seconds, transport=self.transport,
                                    headers={"X-API-Key": self.key, "Accept": f"{COVJSON}, application/json"})
        return self

    def __exit__(self, *exc):
        self._client.close()
        self._client = None

    def area_url(self, changed_since: datetime | None, limit: int = PAGE_ROWS) -> str:
        query = [("coords", WHOLE_EARTH), ("limit", str(limit))]
        if changed_since is not None:
            stamp = changed_since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            query.append(("changed-since", stamp))
        return f"{self.root}/collections/{COLLECTION}/area?{urlencode(query)}"

    def landing(self) -> dict:
        page = self.get(self.root)
        try:
            return json.loads(page.body)
        except ValueError:
            return {}

    def get(self, url: str, etag: str | None = None) -> Page:
        from pipelines.sources.live import RETRYABLE, TransientFetchError

        headers = {"If-None-Match": etag} if etag else {}

        def once() -> Page:
            response = self._client.get(url, headers=headers)
            if response.status_code == 304:
                return Page(url, 304, etag=response.headers.get("etag") or etag,
                            last_modified=_http_time(response.headers.get("last-modified")))
            if response.status_code >= 500 or response.status_code == 429:
                raise TransientFetchError(f"{_shown(url)} answered {response.status_code}")
            if response.status_code in (401, 403):
                raise PartnerError(f"{_shown(url)} refused our key ({response.status_code}): "
                                   f"{_description(response)}; ask the partner for a key in force with our scope")
            if response.status_code >= 400:
                raise PartnerError(f"{_shown(url)} answered {response.status_code}: {_description(response)}")
            body = response.content
            if body.lstrip()[:1] not in (b"{", b"["):
                raise TransientFetchError(f"{_shown(url)} answered something other than JSON")
            try:
                document = json.loads(body)
            except ValueError as error:
                raise TransientFetchError(f"{_shown(url)} answered a truncated or invalid JSON body ({error})") from error
            return Page(url, 200, body, response.headers.get("etag"),
                        _http_time(response.headers.get("last-modified")), _next_link(document, response))

        try:
            for attempt in self.retry.retrying():
                with attempt:
                    return once()
        except RETRYABLE as error:
            raise PartnerError(f"{_shown(url)}: gave up after {self.retry.attempts} attempts: "
                               f"{type(error).__name__}: {error}") from error
        raise AssertionError("unreachable")


def _http_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return parsedate_to_datetime(text).astimezone(timezone.utc)
    except (TypeError, ValueError):
        return None


def _next_link(document, response) -> str | None:
    for link in (document.get("links") or []) if isinstance(document, dict) else []:
        if isinstance(link, dict) and link.get("rel") == "next" and link.get("href"):
            return link["href"]
    following = response.links.get("next") if response.links else None
    return following.get("url") if following else None


def _description(response) -> str:
    try:
        return str(response.json().get("description") or response.text[:200])
    except ValueError:
        return response.text[:200].strip() or "no reason given"


def _shown(url: str) -> str:
    """The URL without its query: what a line about the partner needs."""
    return url.split("?")[0]


def organisation_of(landing: dict, root: str) -> str:
    """The partner's name from its landing page, where it states one, else its host."""
    for name in ("envmon:organisation", "organisation", "provider"):
        value = landing.get(name)
        if isinstance(value, dict):
            value = value.get("name")
        if isinstance(value, str) and value.strip():
            return value.strip()
    contact = landing.get("contact")
    if isinstance(contact, dict) and isinstance(contact.get("name"), str) and contact["name"].strip():
        return contact["name"].strip()
    return urlsplit(root).hostname or root


# --- the parser ------------------------------------------------------------------------------------
def payload_name(organisation: str, number: int) -> str:
    """A page's payload name: the partner organisation (the parser reads it back: the values'
    provenance survives a re-ingest from the archive) and the page's number in its pull."""
    return f"{organisation.replace('/', '-')}.page{number:04d}.covjson"


def organisation_from_name(name: str) -> str:
    shown = Path(name).name
    return shown.rsplit(".page", 1)[0] if ".page" in shown else ""


def parse(payload: bytes, fetched_at: datetime, name: str = "", fetched_basis: str = "the fetch time"):
    """One CoverageJSON page as canonical observations: files.Parsed. Stations outside the registry's
    sections are out of scope (counted, not errors); a value whose unit is not the warehouse's, or
    whose time or number cannot be read, is quarantined with its reason."""
    from pipelines.reference import registry, standards
    from pipelines.sources import reading
    from pipelines.sources.files import Parsed, Rejections, _finish

    text = reading.decode(payload)
    try:
        document = json.loads(text.text)
    except ValueError:
        raise refuse("truncated" if not text.text.rstrip().endswith("}") else "format",
                     "not a CoverageJSON document (not JSON)") from None
    if not isinstance(document, dict) or document.get("type") not in ("CoverageCollection", "Coverage"):
        raise refuse("format", "not a CoverageJSON document: no CoverageCollection or Coverage")
    coverages = document.get("coverages", []) if document["type"] == "CoverageCollection" else [document]
    if not isinstance(coverages, list):
        raise refuse("format", "not a CoverageJSON document: coverages is not a list")
    parameters = document.get("parameters") or {}
    organisation = organisation_from_name(name) or "the partner"
    sections = set(registry.water_sections().index)
    units = standards.parameters()["unit"]
    rejected = Rejections(SOURCE)
    rows, out_of_scope, read = [], 0, 0
    for number, coverage in enumerate(coverages):
        station_id, layer, origin, times, cells = _coverage_cells(coverage, number)
        for key, index, value, extra in cells:
            read += 1
            described = parameters.get(key) or (coverage.get("parameters") or {}).get(key)
            parameter, period = _range_key(key, described)
            unit = _unit(described)
            printed = extra.get("original_value")
            printed = printed if isinstance(printed, str) else ("" if value is None else f"{value:g}")
            if station_id not in sections:
                out_of_scope += 1
                continue
            when = times[index] if index < len(times) else None
            problem, rule = _problem(parameter, when, value, unit, units, extra)
            if problem:
                rejected.value(rule, f"coverage {coverage.get('id') or number + 1}: {problem}", station_id, parameter,
                               when, period, printed, unit)
                continue
            flag = extra.get("qc_flag") if extra.get("qc_flag") else "not_evaluated"
            limit = extra.get("detection_limit")
            rows.append({
                "station_id": station_id, "parameter": parameter, "observed_at": when,
                "utc_offset_minutes": BEIJING_OFFSET_MINUTES, "averaging_period": period,
                "value": math.nan if value is None else float(value), "unit": unit,
                "qc_flag": flag if value is not None or flag != "not_evaluated" else "missing",
                "qc_note": extra.get("qc_note") or "", "source": SOURCE, "original_value": printed,
                "layer": layer, "detection_limit": limit if isinstance(limit, (int, float)) else math.nan,
                "censoring": extra.get("censoring") or "", "original_unit": unit,
                "detail": json.dumps({"partner": organisation, "partner_qc_flag": flag, "partner_source": origin},
                                     ensure_ascii=False, sort_keys=True)})
    day = min(r["observed_at"] for r in rows).astimezone(BUREAU_TZ).date() if rows else None
    observations, held = _finish(rows, rejected, SOURCE, fetched_at, day=day)
    parsed = Parsed(observations, out_of_scope, SOURCE, rejected=held, read=read, encoding=text.encoding)
    parsed.notes.append(f"from {organisation}: {len(coverages)} coverages, {read} values")
    return parsed


def _coverage_cells(coverage, number: int):
    """(station, layer, source at the partner, times, [(range key, time index, value, extras)])."""
    if not isinstance(coverage, dict):
        raise refuse("format", f"coverage {number + 1} is not an object")
    station_id = coverage.get("envmon:station_id") or str(coverage.get("id") or "").split("/")[0]
    layer = str(coverage.get("envmon:layer") or "")
    origin = str(coverage.get("envmon:source") or "")
    axes = ((coverage.get("domain") or {}).get("axes") or {})
    times = [_instant(t) for t in ((axes.get("t") or {}).get("values") or [])]
    ranges = coverage.get("ranges") or {}
    if not isinstance(ranges, dict):
        raise refuse("format", f"coverage {coverage.get('id') or number + 1}: ranges is not an object")
    cells = []
    for key, array in ranges.items():
        if "." in key and key.rsplit(".", 1)[1] in EXTRA_SUFFIXES:
            continue
        values = _values(array)
        extras = {suffix: _values(ranges.get(f"{key}.{suffix}")) for suffix in EXTRA_SUFFIXES}
        for index, value in enumerate(values):
            extra = {suffix: (column[index] if index < len(column) else None) for suffix, column in extras.items()}
            if value is None and extra["qc_flag"] is None:
                continue  # no observation of this quantity at this time
            cells.append((key, index, value, extra))
    return station_id, layer, origin, times, cells


def _values(array) -> list:
    if not isinstance(array, dict):
        return []
    values = array.get("values")
    return values if isinstance(values, list) else []


def _range_key(key: str, described: dict | None) -> tuple[str, str]:
    """(parameter, averaging period) of a range key: `code@PERIOD`, else the period its Parameter
    states (envmon:averaging_period), else an instantaneous reading, as a section's are."""
    parameter, _, period = key.partition("@")
    stated = (described or {}).get("envmon:averaging_period")
    return parameter, period or (stated if isinstance(stated, str) and stated else BASE_PERIOD)


def _unit(parameter: dict | None) -> str:
    unit = (parameter or {}).get("unit") or {}
    symbol = unit.get("symbol")
    if isinstance(symbol, dict):
        symbol = symbol.get("value")
    if not symbol:
        label = unit.get("label") or {}
        symbol = label.get("en") if isinstance(label, dict) else label
    return str(symbol or "")


def _instant(text) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else None


def _problem(parameter: str, when, value, unit: str, units: pd.Series, extra: dict) -> tuple[str, str]:
    """Why a value cannot be stored as the partner gave it ('' if it can), and the rule."""
    if when is None:
        return "no time, or a time without its UTC offset", "partner_time"
    if parameter not in units.index:
        return f"parameter {parameter!r} is not one envmon knows", "partner_parameter"
    if unit != units[parameter]:
        return f"unit {unit or 'none'!r} where the warehouse keeps {parameter} in {units[parameter]}", "partner_unit"
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)):
        return f"value {str(value)[:40]!r} is not a finite number", "partner_value"
    flag = extra.get("qc_flag")
    if flag is not None and flag not in QC_FLAGS:
        return f"the partner's QC flag {str(flag)[:20]!r} (withdrawn or unknown there)", "partner_qc_flag"
    censoring = extra.get("censoring")
    if censoring not in (None, "", "<"):
        return f"censoring {str(censoring)[:10]!r} is not '<'", "partner_censoring"
    return "", ""
