"""Slow down password guessing: failed sign-ins per client and per username are capped.

In-process and in memory (one deployment per city runs few API processes): after
``max_failures`` failed attempts within ``window_s`` from one address or against one username,
sign-in answers 429 with Retry-After until the window has passed. A success clears the
username's count.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from fastapi import HTTPException


class FailureLimiter:
    """Sliding-window counter of failures keyed by strings (address, username)."""

    def __init__(self, max_failures: int = 10, window_s: float = 300.0) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        q = self._hits[key]
        while q and now - q[0] > self.window_s:
            q.popleft()
        return q

    def check(self, *keys: str) -> None:
        """429 when any key has used up its failures in the window."""
        now = time.monotonic()
        with self._lock:
            for key in keys:
                q = self._prune(key, now)
                if len(q) >= self.max_failures:
                    wait = int(self.window_s - (now - q[0])) + 1
                    raise HTTPException(
                        429,
                        "too many failed sign-ins: wait and try again",
                        headers={"Retry-After": str(wait)},
                    )

    def fail(self, *keys: str) -> None:
        now = time.monotonic()
        with self._lock:
            for key in keys:
                self._prune(key, now).append(now)

    def clear(self, key: str) -> None:
        with self._lock:
            self._hits.pop(key, None)
