"""The app's pages at national scope, timed as bench/national_scale.py times the Overview: a page's
callback as the browser first asks for it (every filter 'all': the province and city unset, the
default period), signed in as the regional user, through Flask's test client, the app's answer
cache off (each ask reads the warehouse). Issue 27: the Air page with no filter draws the country's
~1,600 stations.

    .venv/bin/python bench/national_scale.py --days 1 --keep --json      # prints the kept schema
    .venv/bin/python bench/national_pages.py --schema envmon_national_xxxxxxxx --json

Prints each page's p50/p95 seconds over --repeat asks, the size of its answer (bytes of JSON) and
the load average. A measurement, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.national_scale import DEFAULT_URL, PASSWORD, timed  # noqa: E402

# page → (a fragment of its main callback's output key, the value each input is first sent with)
PAGES = {
    "overview": ("overview-map.figure", {}),
    "air": ("air-calendar.figure", {}),      # no filter: the user's own province (the regional user: Guangxi)
    "air-every-province": ("air-calendar.figure", {"air-province": "*"}),   # 全部省份 chosen: ~1,600 stations
    "cross-boundary": ("cross-strip.figure", {}),
    "reservoirs": ("reservoir-classes.figure", {}),
    "coastal": ("coastal-bays.figure", {}),
}


def signed_in(url: str, home: Path):
    from dashboards.app import create_app, users

    users_path = home / "users.json"
    if not users_path.exists():
        users.add_user(users_path, "region", PASSWORD, "regional", "gx-dept")
    app = create_app(url, users_path, home, secret_key="bench", cache_seconds=0)
    client = app.server.test_client()
    form = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"',
                           client.get("/login").get_data(as_text=True)))
    client.post("/login", data={**form, "username": "region", "password": PASSWORD})
    token = client.get_cookie("_csrf_token")
    if token is not None:
        client.environ_base["HTTP_X_CSRFTOKEN"] = token.value
    return app, client


def first_ask(app, fragment: str, chosen: dict | None = None) -> dict:
    """The callback's body as the browser first sends it: dates and ranges unset, dropdowns ''
    (the pollutant its default), but for the values `chosen` (input id → value)."""
    key = next(k for k in app.callback_map if fragment in k)
    outputs = [{"id": o.rsplit(".", 1)[0], "property": o.rsplit(".", 1)[1].split("@")[0]}
               for o in key.strip(".").split("...")]
    first = {"date": None, "start_date": None, "end_date": None}
    inputs = [{"id": i["id"], "property": i["property"],
               "value": (chosen or {}).get(i["id"], "pm2_5" if i["id"] == "air-pollutant"
                                           else first.get(i["property"], ""))}
              for i in app.callback_map[key]["inputs"]]
    return {"output": key, "outputs": outputs, "inputs": inputs,
            "state": [{"id": "url", "property": "search", "value": ""}], "changedPropIds": []}


def page_seconds(app, client, page: str, repeat: int) -> dict:
    fragment, chosen = PAGES[page]
    body = first_ask(app, fragment, chosen)
    sizes = []

    def ask():
        answer = client.post("/_dash-update-component", json=body)
        if answer.status_code != 200:
            raise SystemExit(f"{fragment} answered {answer.status_code}: {answer.data[:200]!r}")
        sizes.append(len(answer.data))

    ask()  # the first ask builds the app's caches of the registry and the pages
    return {**timed(ask, repeat), "answer_bytes": sizes[-1]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schema", required=True, help="a schema bench/national_scale.py --keep filled")
    parser.add_argument("--url", default=os.environ.get("ENVMON_BENCH_POSTGRES_URL", DEFAULT_URL))
    parser.add_argument("--pages", default="overview,air,air-every-province", help=f"comma-separated, of {', '.join(PAGES)}")
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ["ENVMON_SCOPE"] = "national"
    url = f"{args.url}?options=-csearch_path%3D{args.schema}"
    home = Path(tempfile.mkdtemp(prefix="envmon-national-pages-"))
    os.environ.update({"ENVMON_HOME": str(home), "ENVMON_WAREHOUSE_URL": url})
    app, client = signed_in(url, home)
    result = {page: page_seconds(app, client, page, args.repeat) for page in args.pages.split(",")}
    result["load_average"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
