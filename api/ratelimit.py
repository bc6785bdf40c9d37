"""Slow down password guessing: failed sign-ins are counted per (username, address) pair and
per address, in a sliding window.

The rule (README, *Sign-in lockout*): ``max_failures`` (10) failures within ``window_s``
(5 min) for one username from one address lock that username from that address only; the
account still signs in from anywhere else, and the address still signs in to other accounts.
``max_per_address`` (100) failures from one address in the window, whatever the usernames
(spraying one password over many accounts), lock every sign-in from that address. While
locked, sign-in answers 429 with Retry-After, even to a right password; a success clears its
pair's count. WHY not per username alone: anyone could then lock ``admin`` out from anywhere
by typing wrong passwords for it.

In-process and in memory (one deployment per city runs few API processes): each process
counts on its own, a restart clears every lock, and no other process (the CLI) can see or
clear one.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from fastapi import HTTPException

_MAX_NAME = 100  # longer usernames cannot exist (64), and must not grow the keys


class FailureLimiter:
    """Sliding-window counters of failed sign-ins, per (username, address) and per address."""

    def __init__(
        self, max_failures: int = 10, window_s: float = 300.0, max_per_address: int = 100
    ) -> None:
        self.max_failures = max_failures
        self.max_per_address = max_per_address
        self.window_s = window_s
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()
        self._since_sweep = 0

    @staticmethod
    def _keys(username: str, address: str) -> tuple[str, str]:
        return f"pair:{address}\x00{username[:_MAX_NAME]}", f"ip:{address}"

    def _recent(self, key: str, now: float) -> deque[float] | None:
        """The key's failures still in the window (None, and forgotten, when there are none)."""
        q = self._hits.get(key)
        while q and now - q[0] > self.window_s:
            q.popleft()
        if not q:
            self._hits.pop(key, None)
            return None
        return q

    def check(self, username: str, address: str) -> None:
        """429 when this username is locked from this address, or the address is."""
        now = time.monotonic()
        pair, ip = self._keys(username, address)
        with self._lock:
            for key, limit, what in (
                (pair, self.max_failures, "for this account from your address"),
                (ip, self.max_per_address, "from your address"),
            ):
                q = self._recent(key, now)
                if q is not None and len(q) >= limit:
                    wait = int(self.window_s - (now - q[-limit])) + 1
                    raise HTTPException(
                        429,
                        f"登录失败次数过多，请稍后再试 too many failed sign-ins {what}: "
                        f"wait {wait} s and try again",
                        headers={"Retry-After": str(wait)},
                    )

    def fail(self, username: str, address: str) -> str | None:
        """Count a failed sign-in; now and then forget keys whose window has passed. Returns
        the lock this failure started ("account" for the pair, "address"), else None: the
        caller logs and audits a lock once, not each refused try after it."""
        now = time.monotonic()
        started = None
        with self._lock:
            for key, limit, scope in zip(
                self._keys(username, address),
                (self.max_failures, self.max_per_address),
                ("account", "address"),
                strict=True,
            ):
                q = self._recent(key, now) or self._hits.setdefault(key, deque())
                q.append(now)
                if len(q) == limit:
                    started = started or scope
            self._since_sweep += 1
            if self._since_sweep >= 1000:  # keys of a spray would otherwise stay for good
                self._since_sweep = 0
                for key in list(self._hits):
                    self._recent(key, now)
        return started

    def succeed(self, username: str, address: str) -> None:
        """A right password: this pair starts afresh (the address's count stays)."""
        with self._lock:
            self._hits.pop(self._keys(username, address)[0], None)
