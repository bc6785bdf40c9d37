"""Slow down password guessing: failed sign-ins are counted per (username, address) pair and
per address, in a sliding window, from the audit log.

The rule (README, *Sign-in lockout*): ``max_failures`` (10) failures within ``window_s``
(5 min) for one username from one address lock that username from that address only; the
account still signs in from anywhere else, and the address still signs in to other accounts.
``max_per_address`` (100) failures from one address in the window, whatever the usernames
(spraying one password over many accounts), lock every sign-in from that address. While
locked, sign-in answers 429 with Retry-After, even to a right password; a success clears its
pair's count, and so does ``gridward users unlock`` (an admin, for a name or an address).
WHY not per username alone: anyone could then lock ``admin`` out from anywhere by typing
wrong passwords for it.

WHY the audit log and not memory: every failure is written there anyway (``signin.failure``,
name and address), and counting those rows makes a lock hold across every API process and a
restart, and lets the CLI see and clear it. In memory, each process counted on its own, a
restart cleared every lock, and an admin could neither see nor lift one (tester Z3).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from fastapi import HTTPException
from sqlalchemy import Connection, text

from geo import audit

MAX_NAME = 100  # longer usernames cannot exist (64): a typed name is kept to this length
WINDOW_S = 300.0  # the sliding window: failures older than this no longer count
# ``gridward users unlock``: "every address" for a name, "every name" for an address (neither
# can be a username or an address)
ANY = "*"

# the sign-in rows of one address, and the unlocks of every address, in the window
# (index ix_audit_log_signin, migration 0021)
_ROWS = text(
    "SELECT id, action, at, detail->>'username' AS u, detail->>'address' AS a, now() AS now "
    "FROM audit_log WHERE action IN ('signin.failure', 'signin.success', 'signin.unlock') "
    "AND detail->>'address' IN (:a, :any) AND at > now() - make_interval(secs => :w) "
    "ORDER BY id"
)


@dataclass(frozen=True)
class Counts:
    """The failures that count now, newest last: of the pair, and of the address; ``now``
    the database's time (None when the window holds no sign-in row, so nothing counts)."""

    pair: list[dt.datetime]
    address: list[dt.datetime]
    now: dt.datetime | None


class FailureLimiter:
    """Sliding-window counts of failed sign-ins, per (username, address) and per address,
    read from the audit log in the caller's connection."""

    def __init__(
        self, max_failures: int = 10, window_s: float = WINDOW_S, max_per_address: int = 100
    ) -> None:
        self.max_failures = max_failures
        self.max_per_address = max_per_address
        self.window_s = window_s

    def counts(self, conn: Connection, username: str, address: str) -> Counts:
        """The failures of the window after the last reset: for the pair, its last success or
        an unlock of the name (from that address or every one) or of the address; for the
        address, an unlock of the address."""
        name = username[:MAX_NAME]
        pair_reset = addr_reset = 0
        fails: list[tuple[int, str, dt.datetime]] = []
        now = None
        for r in conn.execute(_ROWS, {"a": address, "any": ANY, "w": self.window_s}):
            now = r.now
            if r.action == audit.SIGNIN_FAILED:
                if r.a == address:
                    fails.append((r.id, r.u, r.at))
            elif r.u == ANY and r.a == address:  # the address unlocked: everything from it
                addr_reset = r.id
            elif r.u == name:  # its success here, or the name unlocked (here or everywhere)
                pair_reset = r.id
        reset = max(pair_reset, addr_reset)
        return Counts(
            pair=[at for i, u, at in fails if u == name and i > reset],
            address=[at for i, _, at in fails if i > addr_reset],
            now=now,
        )

    def check(self, conn: Connection, username: str, address: str) -> None:
        """429 when this username is locked from this address, or the address is."""
        c = self.counts(conn, username, address)
        for times, limit, what, what_zh in (
            (
                c.pair,
                self.max_failures,
                "for this account from your address",
                "（此账号从您的地址）",
            ),
            (c.address, self.max_per_address, "from your address", "（从您的地址）"),
        ):
            if len(times) >= limit:  # so rows were read, and c.now is the database's time
                age = (c.now - times[-limit]).total_seconds()  # type: ignore[operator]
                wait = max(int(self.window_s - age) + 1, 1)
                raise HTTPException(
                    429,
                    f"登录失败次数过多{what_zh}，请 {wait} 秒后再试 "
                    f"too many failed sign-ins {what}: "
                    f"wait {wait} s and try again",
                    headers={"Retry-After": str(wait)},
                )

    def fail(self, conn: Connection, username: str, address: str) -> str | None:
        """Write a failed sign-in (``signin.failure``, in the caller's transaction). Returns
        the lock this failure started ("account" for the pair, "address"), else None: the
        caller audits and logs a lock once, not each refused try after it."""
        detail = {"username": username[:MAX_NAME], "address": address}
        audit.record(conn, None, audit.SIGNIN_FAILED, detail=detail)
        c = self.counts(conn, username, address)
        if len(c.pair) == self.max_failures:
            return "account"
        if len(c.address) == self.max_per_address:
            return "address"
        return None


def unlock(conn: Connection, actor: str, username: str | None, address: str | None) -> int:
    """Lift the locks of a name (from ``address``, or every address) or of an address (every
    name): a ``signin.unlock`` entry the counts start after. Returns how many failures it
    clears: those that still count (:meth:`FailureLimiter.counts`), not those an earlier
    success or unlock cleared already (0: nothing was locked or counting)."""
    limiter = FailureLimiter()
    if address is not None:
        addresses = [address]
    else:  # every address this name failed from in the window
        addresses = list(
            conn.execute(
                text(
                    "SELECT DISTINCT detail->>'address' FROM audit_log "
                    "WHERE action = 'signin.failure' AND detail->>'username' = :u "
                    "AND at > now() - make_interval(secs => :w)"
                ),
                {"u": (username or "")[:MAX_NAME], "w": WINDOW_S},
            ).scalars()
        )
    failures = 0
    for a in addresses:
        c = limiter.counts(conn, username or ANY, a)
        failures += len(c.pair if username is not None else c.address)
    detail = {"username": username or ANY, "address": address or ANY, "failures": failures}
    audit.record(conn, actor, audit.SIGNIN_UNLOCK, detail=detail)
    return failures
