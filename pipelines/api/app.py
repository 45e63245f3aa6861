"""`envmon api`: the warehouse as OGC API – Features and OGC API – EDR (issue 26), on FastAPI.

Under /api: the landing page, /conformance, /openapi (the OpenAPI document), /collections and
- Features (GeoJSON): `sections`, `air-stations`, `coastal-points` (ids, names, river, city, kind,
  the target in force today and its status, geometry) and `assessments` (daily and monthly
  classes, AQI, primary pollutants, cross-boundary verdicts and compliance, rule version, target
  status), at /collections/{id}/items[/{featureId}], with bbox, datetime, limit and offset;
- EDR (CoverageJSON): `water-observations`, `air-observations`, `coastal-observations`, at
  /collections/{id}/locations (the stations), /locations/{stationId} and /area?coords=POLYGON(...),
  with datetime, parameter-name and limit (and offset).
Who sees what: pipelines/api/access.py. Every answer carries an ETag (of its body) and a
Last-Modified (the newest load); If-None-Match or If-Modified-Since give 304. Pages: `limit`, and a
`next` link (in the body's links and the Link header) while more rows remain: for features it
carries `offset`, for observations `after`, the key of the page's last row, so that reading a
year page by page costs each page's rows once (see _observations).

Why not pygeoapi (0.21, the last for Python 3.11): its EDR query hands the provider no request
(no key, no address: a per-key scope could only pass through a side channel), no offset or next
link (an EDR answer is one unpaged document), and it has no keys, rate limits, ETag or access log;
all of that would have been middleware around it, and the OGC shapes its own code.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import math
from datetime import date, datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import urlencode

import pandas as pd
from fastapi import Request  # at module level: the routes' annotations are resolved here

from pipelines.api import access, coverage

log = logging.getLogger(__name__)

BASE = "/api"
GEOJSON = "application/geo+json"
COVJSON = "application/prs.coverage+json"
OPENAPI_TYPE = "application/vnd.oai.openapi+json;version=3.1"
DEFAULT_ITEMS_LIMIT = 100
DEFAULT_OBSERVATIONS_LIMIT = 1000
KEY_HEADERS = ("x-api-key",)

FEATURE_COLLECTIONS = {  # id: (station types, title)
    "sections": (("river", "lake-reservoir"), "Surface-water sections (断面)"),
    "air-stations": (("air",), "Air quality stations (空气质量监测站)"),
    "coastal-points": (("sea",), "Coastal seawater points (近岸海域监测点位)"),
}
EDR_COLLECTIONS = {  # id: (station types, title)
    "water-observations": (("river", "lake-reservoir"), "Surface-water observations"),
    "air-observations": (("air",), "Air observations (the public: the 1-hour concentrations)"),
    "coastal-observations": (("sea",), "Coastal seawater observations"),
}
PUBLIC_OBSERVATIONS = ("air-observations",)  # the only raw series CNEMC publishes: the hourly air values
ASSESSMENTS = "assessments"
PUBLIC_ASSESSMENT_FIELDS = ("station_id", "name_zh", "domain", "period", "period_start", "water_class", "aqi",
                            "primary_pollutants", "status", "rule_version", "target_status")
PARTNER_ASSESSMENT_FIELDS = ("standard", "target_class", "is_compliant", "grade", "indicators_assessed",
                             "failing_parameters", "values_used", "is_cross_boundary")
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-common-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-common-2/1.0/conf/collections",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
    "http://www.opengis.net/spec/ogcapi-edr-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-edr-1/1.0/conf/covjson",
    "http://www.opengis.net/spec/ogcapi-edr-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-edr-1/1.0/conf/oas30",
]


class ApiError(Exception):
    def __init__(self, status: int, code: str, description: str):
        super().__init__(description)
        self.status, self.code, self.description = status, code, description


def create_app(warehouse_url: str, environ=None):
    """The ASGI app over the warehouse at `warehouse_url` (migrated to 0018 at least)."""
    from fastapi import FastAPI
    from fastapi.responses import JSONResponse

    from dashboards.app import security
    from warehouse import db

    settings = access.settings_from(environ)
    engine = db.engine_for(warehouse_url)
    limits = access.RateLimits(settings)
    app = FastAPI(title="envmon open data API", version="1.0", openapi_url=f"{BASE}/openapi", docs_url=None,
                  redoc_url=None, description=__doc__.split("\n\n")[1])
    app.state.engine, app.state.settings = engine, settings

    @app.middleware("http")
    async def tiers(request: Request, call_next):
        """The key (401 if unknown), the rate limit (429), and the partner's access log."""
        from starlette.concurrency import run_in_threadpool

        if not request.url.path.startswith(BASE) or request.url.path == f"{BASE}/healthz":
            return await call_next(request)
        try:
            caller = await run_in_threadpool(_caller, engine, request)
        except ApiError as error:
            return _error_response(error)
        address = request.client.host if request.client else ""
        allowed, retry_after = limits.allow(caller, address)
        if not allowed:
            response = _error_response(ApiError(429, "TooManyRequests", "rate limit exceeded: try again later"))
            response.headers["Retry-After"] = str(retry_after)
        else:
            request.state.caller, request.state.rows, request.state.collection = caller, 0, None
            response = await call_next(request)
        if caller.is_partner:
            from warehouse import api_store

            await run_in_threadpool(
                api_store.log_access, engine, caller.key, address=address, method=request.method,
                path=request.url.path, query=request.url.query, collection=getattr(request.state, "collection", None),
                status=response.status_code, rows=getattr(request.state, "rows", 0))
        return response

    @app.exception_handler(ApiError)
    async def api_error(_request, error: ApiError):
        return _error_response(error)

    @app.get(f"{BASE}/healthz", include_in_schema=False)
    def health():
        # healthy only if the warehouse answers a SELECT 1 (compose's healthcheck of the api service);
        # the reason stays in the log, not in the answer
        try:
            db.check_reachable(warehouse_url)
        except db.WarehouseUnreachable as error:
            log.warning("/api/healthz: %s", error)
            return JSONResponse({"status": "warehouse unreachable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get(BASE, summary="Landing page")
    @app.get(f"{BASE}/", include_in_schema=False)
    def landing(request: Request):
        root = _root(request)
        body = {"title": "envmon open data API", "description": "北部湾城市群 surface water, air and coastal "
                "seawater: stations, observations (OGC API – EDR) and assessments (OGC API – Features)",
                "links": [_link(root, "self", "application/json", "this document"),
                          _link(f"{root}/openapi", "service-desc", OPENAPI_TYPE, "the API definition"),
                          _link(f"{root}/conformance", "conformance", "application/json", "conformance classes"),
                          _link(f"{root}/collections", "data", "application/json", "the collections")]}
        return _respond(request, body, "application/json")

    @app.get(f"{BASE}/conformance", summary="Conformance classes")
    def conformance(request: Request):
        return _respond(request, {"conformsTo": CONFORMANCE}, "application/json")

    @app.get(f"{BASE}/collections", summary="The collections")
    def collections(request: Request):
        stations = _stations(engine, request)
        body = {"collections": [_collection(request, cid, stations) for cid in _collection_ids()],
                "links": [_link(f"{_root(request)}/collections", "self", "application/json", "this document")]}
        return _respond(request, body, "application/json")

    @app.get(f"{BASE}/collections/{{collection_id}}", summary="A collection")
    def collection(request: Request, collection_id: str):
        _known(collection_id)
        stations = _stations(engine, request)
        return _respond(request, _collection(request, collection_id, stations), "application/json")

    @app.get(f"{BASE}/collections/{{collection_id}}/items", summary="Features of a collection")
    def items(request: Request, collection_id: str, limit: int | None = None, offset: int = 0,
              bbox: str | None = None, datetime: str | None = None, station_id: str | None = None,
              period: str | None = None, domain: str | None = None):
        if collection_id not in FEATURE_COLLECTIONS and collection_id != ASSESSMENTS:
            raise ApiError(404, "NotFound", f"no feature collection {collection_id!r}")
        request.state.collection = collection_id
        limit = _limit(limit, DEFAULT_ITEMS_LIMIT, settings, offset)
        stations = _stations(engine, request)
        if collection_id == ASSESSMENTS:
            features, more = _assessment_features(engine, request, stations, limit, offset, bbox, datetime,
                                                  station_id, period, domain)
        else:
            features, more = _station_features(engine, collection_id, stations, limit, offset, bbox)
        request.state.rows = len(features)
        body = {"type": "FeatureCollection", "features": features, "numberReturned": len(features),
                "timeStamp": _iso_now(), "links": _page_links(request, limit, offset, more, GEOJSON)}
        return _respond(request, body, GEOJSON)

    @app.get(f"{BASE}/collections/{{collection_id}}/items/{{feature_id:path}}", summary="One feature")
    def item(request: Request, collection_id: str, feature_id: str):
        if collection_id not in FEATURE_COLLECTIONS:
            raise ApiError(404, "NotFound", f"no station collection {collection_id!r}")
        request.state.collection = collection_id
        stations = _stations(engine, request)
        features, _ = _station_features(engine, collection_id, stations, 1, 0, None, only=feature_id)
        if not features:
            raise ApiError(404, "NotFound", f"no feature {feature_id!r} in {collection_id}")
        request.state.rows = 1
        return _respond(request, {**features[0], "links": [
            _link(f"{_root(request)}/collections/{collection_id}", "collection", "application/json", collection_id)]},
            GEOJSON)

    @app.get(f"{BASE}/collections/{{collection_id}}/locations", summary="The locations of an EDR collection")
    def locations(request: Request, collection_id: str, bbox: str | None = None):
        types = _edr(collection_id)[0]
        stations = _stations(engine, request)
        chosen = _within_bbox(stations[stations["station_type"].isin(types)], bbox)
        features = [_station_feature(row, None) for row in chosen.itertuples(index=False)]
        request.state.collection, request.state.rows = collection_id, len(features)
        return _respond(request, {"type": "FeatureCollection", "features": features, "links": [
            _link(str(request.url), "self", GEOJSON, "this document")]}, GEOJSON)

    @app.get(f"{BASE}/collections/{{collection_id}}/locations/{{location_id:path}}",
             summary="A station's series (CoverageJSON)")
    def location(request: Request, collection_id: str, location_id: str, limit: int | None = None,
                 offset: int = 0, datetime: str | None = None, after: str | None = None):
        # changed-since: read from the query (a dash); after (a next link's page key): by _observations
        types = _edr(collection_id)[0]
        request.state.collection = collection_id
        stations = _stations(engine, request)
        domain = stations[stations["station_type"].isin(types)]
        if location_id not in set(domain["station_id"]):
            raise ApiError(404, "NotFound", f"no location {location_id!r} in {collection_id}")
        caller = request.state.caller
        if not caller.sees_raw(location_id) and collection_id not in PUBLIC_OBSERVATIONS:
            raise (ApiError(403, "Forbidden", f"this key's scope does not hold {location_id}") if caller.is_partner
                   else ApiError(401, "Unauthorized", f"{collection_id} needs a partner key (X-API-Key)"))
        return _observations(request, engine, collection_id, domain, [location_id], limit, offset, datetime, settings)

    @app.get(f"{BASE}/collections/{{collection_id}}/area", summary="The series of the stations in an area")
    def area(request: Request, collection_id: str, coords: str, limit: int | None = None, offset: int = 0,
             datetime: str | None = None, after: str | None = None):  # after: read by _observations
        types = _edr(collection_id)[0]
        request.state.collection = collection_id
        stations = _stations(engine, request)
        domain = stations[stations["station_type"].isin(types)]
        polygon = parse_polygon(coords)
        inside = [row.station_id for row in domain.itertuples(index=False)
                  if _number(row.longitude) is not None and _number(row.latitude) is not None
                  and in_polygon(float(row.longitude), float(row.latitude), polygon)]
        caller = request.state.caller
        if collection_id not in PUBLIC_OBSERVATIONS:
            if not caller.is_partner:
                raise ApiError(401, "Unauthorized", f"{collection_id} needs a partner key (X-API-Key)")
            inside = [station_id for station_id in inside if caller.sees_raw(station_id)]
        return _observations(request, engine, collection_id, domain, inside, limit, offset, datetime, settings)

    return security.SecurityHeadersASGI(app, security.content_security_policy())


# --- who is asking --------------------------------------------------------------------------------
def _caller(engine, request) -> access.Caller:
    from warehouse import api_store, queries

    key = _presented_key(request.headers)
    if key is None:
        return access.Caller()
    found = api_store.key_for(engine, key)
    if found is None:
        raise ApiError(401, "Unauthorized", "unknown or revoked API key")
    stations = request.state.stations = queries.stations(engine)  # the route reads the same registry
    return access.Caller(found, access.scoped_station_ids(found.scope, stations))


def _presented_key(headers) -> str | None:
    for name in KEY_HEADERS:
        if headers.get(name):
            return headers[name].strip()
    authorization = headers.get("authorization", "")
    if authorization.lower().startswith("bearer "):
        return authorization[7:].strip() or None
    return None


# --- the collections --------------------------------------------------------------------------------
def _collection_ids() -> list[str]:
    return [*FEATURE_COLLECTIONS, ASSESSMENTS, *EDR_COLLECTIONS]


def _known(collection_id: str) -> None:
    if collection_id not in _collection_ids():
        raise ApiError(404, "NotFound", f"no collection {collection_id!r}")


def _edr(collection_id: str):
    if collection_id not in EDR_COLLECTIONS:
        raise ApiError(404, "NotFound", f"no EDR collection {collection_id!r}")
    return EDR_COLLECTIONS[collection_id]


def _collection(request, collection_id: str, stations: pd.DataFrame) -> dict:
    root = f"{_root(request)}/collections/{collection_id}"
    if collection_id in FEATURE_COLLECTIONS or collection_id == ASSESSMENTS:
        types, title = FEATURE_COLLECTIONS.get(collection_id, ((), "Assessments (classes, AQI, verdicts)"))
        chosen = stations[stations["station_type"].isin(types)] if types else stations
        return {"id": collection_id, "title": title, "itemType": "feature", "extent": _extent(chosen),
                "crs": [coverage.CRS84],
                "links": [_link(root, "self", "application/json", "this collection"),
                          _link(f"{root}/items", "items", GEOJSON, "the features")]}
    types, title = EDR_COLLECTIONS[collection_id]
    chosen = stations[stations["station_type"].isin(types)]
    from warehouse import queries

    names = queries.parameters(request.app.state.engine)
    return {
        "id": collection_id, "title": title, "extent": _extent(chosen), "crs": [coverage.CRS84],
        "output_formats": ["CoverageJSON"],
        "data_queries": {
            "locations": {"link": {"href": f"{root}/locations", "rel": "data", "templated": False,
                                   "variables": {"query_type": "locations", "output_formats": ["CoverageJSON"]}}},
            "area": {"link": {"href": f"{root}/area", "rel": "data", "templated": False,
                              "variables": {"query_type": "area", "output_formats": ["CoverageJSON"]}}}},
        "parameter_names": {row.code: {"type": "Parameter", "id": row.code,
                                       "observedProperty": {"label": {"en": row.name_en, "zh": row.name_zh}},
                                       "unit": {"symbol": row.unit}} for row in names.itertuples(index=False)},
        "links": [_link(root, "self", "application/json", "this collection"),
                  _link(f"{root}/locations", "data", GEOJSON, "the locations"),
                  _link(f"{root}/area", "data", COVJSON, "an area query")],
    }


def _extent(stations: pd.DataFrame) -> dict:
    lon = pd.to_numeric(stations["longitude"], errors="coerce").dropna()
    lat = pd.to_numeric(stations["latitude"], errors="coerce").dropna()
    bbox = [[float(lon.min()), float(lat.min()), float(lon.max()), float(lat.max())]] if len(lon) and len(lat) else []
    return {"spatial": {"bbox": bbox, "crs": coverage.CRS84}}


def _stations(engine, request) -> pd.DataFrame:
    """The registry, read once a request (the partner's scope was worked out from it already)."""
    from warehouse import queries

    stations = getattr(request.state, "stations", None)
    if stations is None:
        stations = request.state.stations = queries.stations(engine)
    return stations


def _targets_today(engine) -> dict[str, tuple]:
    """section id → (target class, status, basis) in force today: the warehouse's registry, else
    the repository's (pipelines.reference.targets)."""
    from pipelines import clock
    from warehouse import queries

    day = clock.today()
    frame = queries.targets_in_force(engine, day)
    if len(frame):
        return {row.section_id: (_text(row.target_class), row.status, _text(row.basis))
                for row in frame.itertuples(index=False)}
    from pipelines.reference import targets

    found = {}
    for section_id in queries.stations(engine).query("station_type != 'air'")["station_id"]:
        try:
            target = targets.target_in_force(section_id, day)
        except (KeyError, LookupError, ValueError):
            continue
        found[section_id] = (target.target_class, target.status, target.basis)
    return found


def _station_features(engine, collection_id, stations, limit, offset, bbox, only=None):
    types = FEATURE_COLLECTIONS[collection_id][0]
    chosen = _within_bbox(stations[stations["station_type"].isin(types)], bbox)
    if only is not None:
        chosen = chosen[chosen["station_id"] == only]
    page = chosen.iloc[offset:offset + limit]
    targets = _targets_today(engine) if collection_id != "air-stations" else {}
    features = [_station_feature(row, targets.get(row.station_id, (None, "unset", None))
                                 if collection_id != "air-stations" else None)
                for row in page.itertuples(index=False)]
    return features, offset + limit < len(chosen)


def _station_feature(row, target) -> dict:
    properties = {"station_id": row.station_id, "name_zh": row.name_zh, "kind": row.station_type,
                  "river": _text(row.water_body), "city": _text(row.city), "county": _text(row.county),
                  "is_cross_boundary": bool(row.is_cross_boundary), "boundary_kind": _text(row.boundary_kind),
                  "upstream_jurisdiction": _text(row.upstream_jurisdiction),
                  "downstream_jurisdiction": _text(row.downstream_jurisdiction)}
    if target is not None:
        properties.update(target_class=target[0], target_status=target[1], target_basis=target[2])
    return {"type": "Feature", "id": row.station_id, "geometry": _point(row.longitude, row.latitude),
            "properties": properties}


def _assessment_features(engine, request, stations, limit, offset, bbox, datetime_text, station_id, period, domain):
    from warehouse import open_data

    caller = request.state.caller
    chosen = _within_bbox(stations, bbox)
    if station_id is not None:
        chosen = chosen[chosen["station_id"] == station_id]
    first, last = _day_bounds(datetime_text)
    rows = open_data.assessments_page(engine, list(chosen["station_id"]), first=first, last=last, period=period,
                                      domain=domain, limit=limit, offset=offset)
    more = len(rows) > limit
    located = stations.set_index("station_id")
    features = []
    for row in rows.head(limit).to_dict("records"):
        station = located.loc[row["station_id"]]
        row["name_zh"] = station["name_zh"]
        fields = PUBLIC_ASSESSMENT_FIELDS + (PARTNER_ASSESSMENT_FIELDS if caller.sees_raw(row["station_id"]) else ())
        properties = {name: _json_value(row.get(name)) for name in fields}
        features.append({"type": "Feature", "id": f"{row['station_id']}/{row['period']}/{row['period_start']}",
                         "geometry": _point(station["longitude"], station["latitude"]), "properties": properties})
    return features, more


# --- observations ---------------------------------------------------------------------------------------
def _observations(request, engine, collection_id, domain_stations, station_ids, limit, offset, datetime_text,
                  settings):
    """A page of observations as CoverageJSON. Pages go by key: the next link carries `after`, the
    key of the page's last row (warehouse/open_data.PAGE_KEY), and the next page is read from
    there, so a page costs the same whichever it is; `offset` (not in the next links) skips rows
    from there, read and dropped."""
    from warehouse import open_data, queries

    caller = request.state.caller
    request.state.collection = collection_id
    limit = _limit(limit, DEFAULT_OBSERVATIONS_LIMIT, settings, offset)
    start, end = _time_bounds(datetime_text)
    after = _after(request)
    wanted = _parameter_filter(_parameter_names(request))
    reads = dict(start=start, end=end, changed_since=_changed_since(request), limit=limit + offset, after=after,
                 **wanted)
    partner_ids = frozenset(s for s in station_ids if caller.sees_raw(s))
    public_ids = [s for s in station_ids if s not in partner_ids]
    frames = []
    if partner_ids:
        frames.append(open_data.observations_page(engine, partner_ids, **reads))
    if public_ids:  # only the air collection has a public view (the check was made by the route)
        frames.append(open_data.observations_page(engine, public_ids, averaging_periods=access.PUBLIC_AVERAGING,
                                                  qc_flags=access.PUBLIC_QC_FLAGS, **reads))
    frames = [frame for frame in frames if len(frame)]
    if len(frames) > 1:  # disjoint stations, each frame in key order: in the stations' order, as read
        rows = pd.concat(frames, ignore_index=True).sort_values("station_id", kind="stable", ignore_index=True)
    else:
        rows = frames[0] if frames else pd.DataFrame(columns=open_data.OBSERVATION_COLUMNS + ["partition_day"])
    page, more = rows.iloc[offset:offset + limit], len(rows) > offset + limit
    quarantined = {}
    if partner_ids and len(page):
        first_day = None if start is None else _bureau_day(start)
        last_day = None if end is None else _bureau_day(end)
        counts = open_data.quarantine_counts(engine, sorted(set(page["station_id"]) & partner_ids), first_day, last_day)
        for row in counts.itertuples(index=False):
            quarantined.setdefault(row.station_id, {})[str(row.parameter)] = int(row.rows)
    names = {r.code: (r.name_zh, r.name_en) for r in queries.parameters(engine).itertuples(index=False)}
    body = coverage.coverage_collection(page, domain_stations, names, partner_ids, quarantined)
    following = after_token(open_data.page_key(page.iloc[-1])) if more else None
    body["links"] = _page_links(request, limit, offset, more, COVJSON, after=following)
    request.state.rows = len(page)
    return _respond(request, body, COVJSON)


def after_token(key: tuple) -> str:
    """A page key (warehouse/open_data.PAGE_KEY) as the `after` of a next link: URL-safe base64 of
    its JSON, the time in UTC to the microsecond. Opaque to clients; it names no more than the
    page's last row, which the client has read."""
    station_id, day, parameter, observed_at, period, layer, source = key
    values = [station_id, day.isoformat(), parameter, pd.Timestamp(observed_at).tz_convert("UTC").isoformat(),
              period, layer, source]
    text = json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(text).decode("ascii").rstrip("=")


def _after(request) -> tuple | None:
    """The key a next link's `after` carries, or None; 400 for anything the API did not write."""
    text = request.query_params.get("after")
    if not text:
        return None
    try:
        values = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("utf-8"))
        station_id, day, parameter, observed_at, period, layer, source = values
        moment = datetime.fromisoformat(observed_at)
        texts = (station_id, parameter, period, layer, source)
        if moment.tzinfo is None or not all(isinstance(value, str) for value in texts):
            raise ValueError("not a key")
        return (station_id, date.fromisoformat(day), parameter, moment.astimezone(timezone.utc), period, layer,
                source)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError(400, "InvalidParameterValue", "after: not a key of this API's next links") from None


def _parameter_filter(wanted: set[str] | None) -> dict:
    """parameter-name as the warehouse read's filter: a code (`pm2_5`) wants every averaging period
    of it, a range key with its period (`pm2_5@PT24H`, coverage.range_key) that one alone; a code
    with the base period (`pm2_5@PT1H`) names no range, as its range is keyed `pm2_5`."""
    if wanted is None:
        return {}
    codes, pairs = set(), set()
    for name in wanted:
        code, _, period = name.partition("@")
        if not period:
            codes.add(code)
        elif period not in coverage.BASE_AVERAGING:
            pairs.add((code, period))
    return {"parameters": codes, "parameter_periods": pairs}


def _changed_since(request) -> datetime | None:
    """changed-since (envmon's, beside the OGC parameters): only the values stored since that
    instant, revisions of older observations included: what an incremental pull asks."""
    text = request.query_params.get("changed-since")
    if not text:
        return None
    if len(text.strip()) == 10:
        raise ApiError(400, "InvalidParameterValue", "changed-since must be an instant (ISO 8601), not a day")
    return _instant(text, False)


def _parameter_names(request) -> set[str] | None:
    """parameter-name (OGC), or parameter_names (as OWSLib 0.35 sends it): comma-separated."""
    values = request.query_params.getlist("parameter-name") + request.query_params.getlist("parameter_names")
    names = {name.strip() for value in values for name in value.split(",") if name.strip()}
    return names or None


# --- geometry -----------------------------------------------------------------------------------------
def parse_polygon(wkt: str) -> list[tuple[float, float]]:
    """The outer ring of a WKT POLYGON((x y, ...)) in CRS84; ApiError 400 for anything else."""
    text = " ".join(wkt.strip().split()).upper()
    if not (text.startswith("POLYGON") and "((" in text and text.endswith("))")):
        raise ApiError(400, "InvalidParameterValue", "coords must be a WKT POLYGON((lon lat, ...))")
    ring = text[text.index("((") + 2:-2].split(")")[0]
    try:
        points = [tuple(float(v) for v in pair.split()) for pair in ring.split(",")]
    except ValueError:
        raise ApiError(400, "InvalidParameterValue", "coords: a coordinate is not a number") from None
    if len(points) < 4 or any(len(p) != 2 or not all(math.isfinite(v) for v in p) for p in points):
        raise ApiError(400, "InvalidParameterValue", "coords: a polygon needs 4 or more lon lat pairs")
    return [(p[0], p[1]) for p in points]


def in_polygon(x: float, y: float, ring: list[tuple[float, float]]) -> bool:
    """Ray casting (even-odd) on the ring."""
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]):
        if (y1 > y) != (y2 > y) and x < (x2 - x1) * (y - y1) / (y2 - y1) + x1:
            inside = not inside
    return inside


def _within_bbox(stations: pd.DataFrame, bbox: str | None) -> pd.DataFrame:
    if not bbox:
        return stations
    try:
        west, south, east, north = (float(v) for v in bbox.split(","))
    except ValueError:
        raise ApiError(400, "InvalidParameterValue", "bbox must be minLon,minLat,maxLon,maxLat") from None
    lon = pd.to_numeric(stations["longitude"], errors="coerce")
    lat = pd.to_numeric(stations["latitude"], errors="coerce")
    return stations[(lon >= west) & (lon <= east) & (lat >= south) & (lat <= north)]


def _point(longitude, latitude) -> dict | None:
    x, y = _number(longitude), _number(latitude)
    return None if x is None or y is None else {"type": "Point", "coordinates": [x, y]}


# --- time ----------------------------------------------------------------------------------------------
def _instant(text: str, end: bool) -> datetime | None:
    """An ISO 8601 instant (UTC without an offset) or a day (the bureau's: from its start, or to
    the next day's start when it ends an interval); '..' or '' for open."""
    from pipelines.clock import BUREAU_TZ

    text = text.strip()
    if text in ("", ".."):
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            start = datetime(day.year, day.month, day.day, tzinfo=BUREAU_TZ)
            return start + timedelta(days=1) if end else start
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "InvalidParameterValue", f"datetime: {text!r} is not an ISO 8601 time or day") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _time_bounds(text: str | None) -> tuple[datetime | None, datetime | None]:
    """[start, end) of the datetime parameter: an instant, a day, or an interval a/b."""
    if not text:
        return None, None
    if "/" in text:
        first, _, last = text.partition("/")
        start, end = _instant(first, False), _instant(last, True)
        if end is not None and len(last.strip()) != 10:
            end += timedelta(microseconds=1)  # an interval's end instant is inside it
    else:
        start = _instant(text, False)
        end = _instant(text, True) if len(text.strip()) == 10 else start + timedelta(microseconds=1)
    if start is not None and end is not None and end <= start:
        raise ApiError(400, "InvalidParameterValue", "datetime: the interval ends before it starts")
    return start, end


def _day_bounds(text: str | None) -> tuple[date | None, date | None]:
    start, end = _time_bounds(text)
    return (None if start is None else _bureau_day(start),
            None if end is None else _bureau_day(end - timedelta(microseconds=1)))


def _bureau_day(moment: datetime) -> date:
    from pipelines.clock import BUREAU_TZ

    return moment.astimezone(BUREAU_TZ).date()


def _iso_now() -> str:
    from pipelines import clock

    return clock.now().astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- responses --------------------------------------------------------------------------------------------
def _limit(limit: int | None, default: int, settings: access.Settings, offset: int) -> int:
    if offset < 0:
        raise ApiError(400, "InvalidParameterValue", "offset must be 0 or more")
    if limit is None:
        return default
    if limit < 1:
        raise ApiError(400, "InvalidParameterValue", "limit must be 1 or more")
    return min(limit, settings.max_limit)


def _page_links(request, limit, offset, more, media_type, after: str | None = None) -> list[dict]:
    """self, and next while more rows remain: by key (`after`) where the page gives one, else by offset."""
    links = [_link(str(request.url), "self", media_type, "this page")]
    if more:
        params = [(k, v) for k, v in request.query_params.multi_items() if k not in ("limit", "offset", "after")]
        following = [("after", after)] if after is not None else [("offset", offset + limit)]
        query = urlencode(params + [("limit", limit)] + following)
        links.append(_link(f"{str(request.url).split('?')[0]}?{query}", "next", media_type, "the next page"))
    return links


def _respond(request, body: dict, media_type: str):
    """The JSON answer with its ETag and Last-Modified, or 304 when the client has it already."""
    from fastapi.responses import Response

    from warehouse import open_data

    content = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    etag = '"' + hashlib.sha256(content).hexdigest()[:32] + '"'
    modified = open_data.last_modified(request.app.state.engine)
    headers = {"ETag": etag, "Vary": "X-API-Key, Authorization",
               "Cache-Control": "private, no-cache" if request.state.caller.is_partner else "public, no-cache"}
    if modified is not None:
        headers["Last-Modified"] = format_datetime(modified.replace(microsecond=0), usegmt=True)
    next_links = [link["href"] for link in body.get("links", []) if link.get("rel") == "next"]
    if next_links:
        headers["Link"] = f'<{next_links[0]}>; rel="next"'
    if _not_modified(request.headers, etag, modified):
        return Response(status_code=304, headers=headers)
    return Response(content, media_type=media_type, headers=headers)


def _not_modified(headers, etag: str, modified: datetime | None) -> bool:
    match = headers.get("if-none-match")
    if match is not None:  # RFC 9110: If-None-Match wins over If-Modified-Since
        tags = {tag.strip().removeprefix("W/") for tag in match.split(",")}
        return etag in tags or "*" in tags
    since = headers.get("if-modified-since")
    if since and modified is not None:
        try:
            return modified.replace(microsecond=0) <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def _error_response(error: ApiError):
    from fastapi.responses import JSONResponse

    return JSONResponse({"code": error.code, "description": error.description}, status_code=error.status)


def _root(request) -> str:
    return str(request.base_url).rstrip("/") + BASE


def _link(href: str, rel: str, media_type: str, title: str) -> dict:
    return {"href": href, "rel": rel, "type": media_type, "title": title}


def _text(value):
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value) if str(value) else None


def _number(value):
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _json_value(value):
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _json_value(value.item())
    return value


def serve(host: str, port: int, warehouse_url: str, environ=None) -> None:
    import gc

    import uvicorn

    from warehouse import api_store, open_data, queries  # noqa: F401 - the routes' imports, loaded before the freeze

    app = create_app(warehouse_url, environ)
    # The imported modules' objects stay as long as the server: frozen, the collector no longer walks
    # them each time a page's tens of thousands of cells fill its youngest generation (a full
    # collection over them took 100 ms and more, a page's own time, on every few pages).
    gc.collect()
    gc.freeze()
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, proxy_headers=True)
