"""Live clients of the two CNEMC feeds (httpx), with timeouts and retries with back-off on
timeouts, 5xx answers, broken connections, HTML pages and truncated bodies (tenacity).

ENVMON_CNEMC_WATER_URL  the surface-water system's Ajax/Publish.ashx (POST action=getRealDatas)
ENVMON_CNEMC_AIR_URL    a URL template of the hourly air CSV with {timepoint} (YYYY-MM-DDTHH00,
                        Beijing time), e.g. an archive mirror of the national feed
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import httpx
import tenacity

from pipelines.config import fetch_retries
from pipelines.observations import BUREAU_TZ
from pipelines.sources.files import PayloadError

GUANGXI_AREA_ID = "450000"  # the feed's administrative code for Guangxi


class TransientFetchError(RuntimeError):
    """An answer worth asking again for: 5xx, an HTML page in place of data, a truncated body."""


RETRYABLE = (httpx.TimeoutException, httpx.TransportError, TransientFetchError)


@dataclass
class RetryPolicy:
    """Attempts and back-off of one request; defaults from ENVMON_FETCH_ATTEMPTS and
    ENVMON_FETCH_FIRST_WAIT_SECONDS (4 and 2 s), short in the test suite."""
    attempts: int = field(default_factory=lambda: fetch_retries()[0])
    first_wait_seconds: float = field(default_factory=lambda: fetch_retries()[1])
    max_wait_seconds: float = 60.0

    def retrying(self) -> tenacity.Retrying:
        return tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.attempts),
            wait=tenacity.wait_exponential(multiplier=self.first_wait_seconds, max=self.max_wait_seconds),
            retry=tenacity.retry_if_exception_type(RETRYABLE),
            reraise=True,
        )


def _looks_like_html(body: bytes) -> bool:
    return body.lstrip()[:15].lower().startswith((b"<!doctype", b"<html", b"<"))


@dataclass
class FeedClient:
    url: str
    timeout_seconds: float = 30.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    transport: httpx.BaseTransport | None = None  # tests may inject one

    def _request(self, method: str, url: str, check, **kwargs) -> bytes:
        def once() -> bytes:
            with httpx.Client(timeout=self.timeout_seconds, transport=self.transport) as client:
                response = client.request(method, url, **kwargs)
            if response.status_code >= 500:
                raise TransientFetchError(f"{url} answered {response.status_code}")
            if response.status_code >= 400:
                raise PayloadError(f"{url} answered {response.status_code}: {response.text[:200]}")
            body = response.content
            check(body)
            return body

        try:
            for attempt in self.retry.retrying():
                with attempt:
                    return once()
        except TransientFetchError as error:
            raise PayloadError(f"gave up after {self.retry.attempts} attempts: {error}") from error
        except (httpx.TimeoutException, httpx.TransportError) as error:
            raise PayloadError(f"gave up after {self.retry.attempts} attempts: {type(error).__name__}: {error}") from error
        raise AssertionError("unreachable")


def _check_json(body: bytes) -> None:
    if _looks_like_html(body):
        raise TransientFetchError("the water feed returned an HTML page instead of JSON")
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise TransientFetchError(f"the water feed returned a truncated or invalid JSON body ({error})") from error
    if not isinstance(document, dict) or "tbody" not in document:
        raise PayloadError("the water feed's JSON has no tbody")


def _check_air_csv(body: bytes) -> None:
    if _looks_like_html(body):
        raise TransientFetchError("the air feed returned an HTML page instead of CSV")
    text = body.decode("utf-8-sig", errors="replace")
    lines = text.splitlines()
    if not lines or not lines[0].startswith("timepoint,"):
        raise PayloadError("the air feed's CSV has no timepoint header")
    if not text.endswith("\n") and len(lines) > 1 and lines[-1].count(",") < lines[0].count(","):
        raise TransientFetchError("the air feed returned a truncated CSV (short last line)")


@dataclass
class CnemcWaterClient(FeedClient):
    area_id: str = GUANGXI_AREA_ID
    page_size: int = 500

    def fetch(self) -> bytes:
        """The current snapshot of the real-time table (one payload)."""
        form = {"action": "getRealDatas", "AreaID": self.area_id, "RiverID": "", "MNName": "",
                "PageIndex": "1", "PageSize": str(self.page_size)}
        return self._request("POST", self.url, _check_json, data=form)


@dataclass
class CnemcAirClient(FeedClient):
    def fetch_hour(self, hour_end: datetime) -> bytes:
        timepoint = hour_end.astimezone(BUREAU_TZ).strftime("%Y-%m-%dT%H00")
        return self._request("GET", self.url.format(timepoint=timepoint), _check_air_csv)

    def hours_since(self, watermark: datetime | None, now: datetime, first_run_hours: int = 24) -> list[datetime]:
        """Every hour end after the watermark up to the last complete hour: a missed night is caught up."""
        last = now.astimezone(BUREAU_TZ).replace(minute=0, second=0, microsecond=0)
        start = (watermark.astimezone(BUREAU_TZ) + timedelta(hours=1)) if watermark else last - timedelta(hours=first_run_hours - 1)
        hours, hour = [], start
        while hour <= last:
            hours.append(hour)
            hour += timedelta(hours=1)
        return hours
