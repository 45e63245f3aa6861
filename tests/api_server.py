"""`envmon api` started as its own process for a test (tests/test_api.py, tests/test_partner_edr.py),
and waited for until it answers."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx

ENVMON = str(Path(sys.executable).parent / "envmon")


def start_api(env: dict, port: int) -> subprocess.Popen:
    return subprocess.Popen([ENVMON, "api", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def wait_until_serving(process: subprocess.Popen, base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"envmon api ended: {process.stderr.read()}")
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.3)
    raise AssertionError("envmon api did not answer within 60 s")
