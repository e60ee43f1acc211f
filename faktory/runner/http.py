"""HTTP GET against a forwarded port (a booted VM's hostfwd)."""

from __future__ import annotations

import http.client
import time
import urllib.error
import urllib.request

from faktory.runner.docker import HttpResult


def get(url: str, deadline: float, still_running=lambda: True) -> HttpResult:
    last = ""
    while time.monotonic() < deadline and still_running():
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return HttpResult(resp.status, resp.read().decode("utf-8", "replace"))
        except urllib.error.HTTPError as exc:
            return HttpResult(exc.code, exc.read().decode("utf-8", "replace"))
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            last = str(exc)
        time.sleep(0.5)
    return HttpResult(None, "", f"no answer on {url}: {last or 'the VM stopped'}")
