"""Local boundary repair: move single atoms between neighbouring regions, or merge.

After bisection a few regions can miss [min, max] because atoms are coarse. Each repair
step keeps every touched region connected and never pushes a region that is within
bounds out of them, so the number of out-of-bound regions only goes down. Moves prefer the
atom that shares most boundary with its new region, which keeps grids compact.
"""

from __future__ import annotations

from collections import defaultdict, deque

import numpy as np


class Repairer:
    def __init__(
        self,
        labels: np.ndarray,
        households: np.ndarray,
        eu: np.ndarray,
        ev: np.ndarray,
        ecost: np.ndarray,
        lo: int,
        hi: int,
        frozen: set[int],
    ) -> None:
        self.labels = labels.copy()
        self.hh = households
        self.lo, self.hi = lo, hi
        self.frozen = frozen  # regions that cannot be helped (flagged infeasible)
        self.adj: list[dict[int, float]] = [defaultdict(float) for _ in range(len(households))]
        for u, v, c in zip(eu.tolist(), ev.tolist(), ecost.tolist(), strict=True):
            self.adj[u][v] += c
            self.adj[v][u] += c
        self.eu, self.ev = eu, ev
        self.members: dict[int, set[int]] = defaultdict(set)
        for a, r in enumerate(self.labels.tolist()):
            self.members[r].add(a)
        sums = np.bincount(self.labels, weights=households).astype(np.int64)
        self.total = {r: int(sums[r]) for r in self.members}
        self._log: list[tuple[int, int, int]] | None = None

    # -- helpers ---------------------------------------------------------------------
    def _connected_without(self, r: int, drop: int) -> bool:
        rest = self.members[r] - {drop}
        if len(rest) <= 1:
            return bool(rest)
        start = next(iter(rest))
        seen = {start}
        queue = deque([start])
        while queue:
            x = queue.popleft()
            for y in self.adj[x]:
                if y in rest and y not in seen:
                    seen.add(y)
                    queue.append(y)
        return len(seen) == len(rest)

    def _move(self, a: int, src: int, dst: int) -> None:
        if self._log is not None:
            self._log.append((a, src, dst))
        self.members[src].discard(a)
        self.members[dst].add(a)
        self.total[src] -= int(self.hh[a])
        self.total[dst] = self.total.get(dst, 0) + int(self.hh[a])
        self.labels[a] = dst
        if not self.members[src]:
            del self.members[src]
            del self.total[src]

    def _neighbours(self, r: int) -> dict[int, float]:
        out: dict[int, float] = defaultdict(float)
        for a in self.members[r]:
            for b, c in self.adj[a].items():
                rb = self.labels[b]
                if rb != r:
                    out[int(rb)] += c
        return out

    def _ok(self, x: int) -> bool:
        return self.lo <= x <= self.hi

    # -- fixes -----------------------------------------------------------------------
    def _merge(self, r: int) -> bool:
        best = None
        for nb, shared in self._neighbours(r).items():
            if nb in self.frozen or self.total[nb] + self.total[r] > self.hi:
                continue
            key = (shared, -self.total[nb], -nb)
            if best is None or key > best[0]:
                best = (key, nb)
        if best is None:
            return False
        dst = best[1]
        for a in list(self.members[r]):
            self._move(a, r, dst)
        return True

    def _pull(self, r: int, exclude: frozenset[int] = frozenset()) -> bool:
        """Take one atom from a neighbour into under-min region r."""
        best = None
        for a in self.members[r]:
            for b in self.adj[a]:
                src = int(self.labels[b])
                if src == r or src in self.frozen or src in exclude or self.hh[b] == 0:
                    continue
                s_after, r_after = self.total[src] - self.hh[b], self.total[r] + self.hh[b]
                if r_after > self.hi or (self._ok(self.total[src]) and not self._ok(s_after)):
                    continue
                gain = sum(cc for x, cc in self.adj[b].items() if self.labels[x] == r)
                key = (gain, -b)
                if best is None or key > best[0]:
                    best = (key, b, src)
        if best is None:
            return False
        _, b, src = best
        if not self._connected_without(src, b):
            return self._pull_any(r, exclude)
        self._move(b, src, r)
        return True

    def _pull_chain(self, r: int) -> bool:
        """Ejection chain: take an atom a neighbour cannot spare, then let that neighbour
        refill from its own other neighbours; undone unless both end within bounds."""
        cands = []
        for a in self.members[r]:
            for b, c in self.adj[a].items():
                src = int(self.labels[b])
                if src == r or src in self.frozen or self.hh[b] == 0:
                    continue
                if self.total[r] + self.hh[b] > self.hi:
                    continue
                cands.append((-c, b, src))
        for _, b, src in sorted(set(cands))[:8]:
            if self.labels[b] != src or not self._connected_without(src, b):
                continue
            log: list[tuple[int, int, int]] = []
            self._log = log
            self._move(b, src, r)
            while src in self.total and self.total[src] < self.lo:
                if not self._pull(src, frozenset({r})):
                    break
            self._log = None
            if src in self.total and self._ok(self.total[src]) and self._ok(self.total[r]):
                return True
            for a, frm, to in reversed(log):
                self._move(a, to, frm)
        return False

    def _pull_any(self, r: int, exclude: frozenset[int] = frozenset()) -> bool:
        cands = []
        for a in self.members[r]:
            for b, c in self.adj[a].items():
                src = int(self.labels[b])
                if src == r or src in self.frozen or src in exclude or self.hh[b] == 0:
                    continue
                s_after, r_after = self.total[src] - self.hh[b], self.total[r] + self.hh[b]
                if r_after > self.hi or (self._ok(self.total[src]) and not self._ok(s_after)):
                    continue
                cands.append((-c, b, src))
        for _, b, src in sorted(set(cands)):
            if self._connected_without(src, b):
                self._move(b, src, r)
                return True
        return False

    def _push(self, r: int) -> bool:
        """Give one atom of over-max region r to a neighbour with room."""
        cands = []
        for a in self.members[r]:
            if self.hh[a] == 0:
                continue
            for b, c in self.adj[a].items():
                dst = int(self.labels[b])
                if dst == r or dst in self.frozen:
                    continue
                d_after = self.total[dst] + self.hh[a]
                if d_after > self.hi or self.total[r] - self.hh[a] < self.lo:
                    continue
                cands.append((-c, a, dst))
        tried: set[int] = set()
        for _, a, dst in sorted(set(cands)):
            if a in tried:
                continue
            tried.add(a)
            if self._connected_without(r, a):
                self._move(a, r, dst)
                return True
        return False

    def _transfer(self, src: int, dst: int) -> bool:
        """Move boundary atoms of ``src`` into ``dst`` one by one (empty atoms too, so the
        border can walk across blocks without households), always keeping ``src``
        connected, until both are within bounds; undone unless they are."""
        if src in self.frozen or dst in self.frozen:
            return False
        log: list[tuple[int, int, int]] = []
        self._log = log
        ok = False
        for _ in range(len(self.members.get(src, ()))):
            if src not in self.total or len(self.members[src]) <= 1:
                break
            best = None
            for a in self.members[src]:
                touch = sum(c for b, c in self.adj[a].items() if self.labels[b] == dst)
                if touch <= 0:
                    continue
                h = int(self.hh[a])
                if self.total[dst] + h > self.hi or self.total[src] - h < self.lo:
                    continue
                # Fill dst before walking: atoms with households first, then most shared.
                key = (h > 0 and self.total[dst] < self.lo, touch, -a)
                if best is None or key > best[0]:
                    best = (key, a)
            if best is None:
                break
            a = best[1]
            if not self._connected_without(src, a):
                # Try the next candidates that keep src connected.
                cands = sorted(
                    (
                        (-sum(c for b, c in self.adj[x].items() if self.labels[b] == dst), x)
                        for x in self.members[src]
                        if x != a
                        and self.total[dst] + int(self.hh[x]) <= self.hi
                        and self.total[src] - int(self.hh[x]) >= self.lo
                    ),
                )
                a = next((x for t, x in cands if t < 0 and self._connected_without(src, x)), None)
                if a is None:
                    break
            self._move(a, src, dst)
            if self._ok(self.total[dst]) and self._ok(self.total[src]):
                ok = True
                break
        self._log = None
        if not ok:
            for a, frm, to in reversed(log):
                self._move(a, to, frm)
        return ok

    def _walk(self, r: int) -> bool:
        """Last resort for an out-of-bound region: trade atoms with one neighbour."""
        under = self.total[r] < self.lo
        nbrs = sorted(self._neighbours(r).items(), key=lambda kv: (-kv[1], kv[0]))
        for nb, _ in nbrs:
            if nb in self.frozen or nb not in self.total:
                continue
            if self._transfer(nb, r) if under else self._transfer(r, nb):
                return True
        return False

    def refine(
        self,
        passes: int,
        xy: np.ndarray | None = None,
        area: np.ndarray | None = None,
        pull: float = 0.0,
    ) -> np.ndarray:
        """Greedy boundary refinement: move an atom to the neighbouring region it shares
        more (cost-weighted) boundary with, when both regions keep their bound status and
        the donor stays connected. Each move shortens the total cut — grid perimeter, with
        cuts through blocks counted dearer — so grids get compacter and follow streets."""
        use_c = pull > 0 and xy is not None and area is not None
        if use_c:
            sx: dict[int, np.ndarray] = defaultdict(lambda: np.zeros(2))
            sa: dict[int, float] = defaultdict(float)
            for a_, r_ in enumerate(self.labels.tolist()):
                sx[r_] = sx[r_] + xy[a_] * area[a_]
                sa[r_] += area[a_]
            scale = float(np.sqrt(np.mean(list(sa.values())))) if sa else 1.0
        for _ in range(passes):
            moved = 0
            cut = self.labels[self.eu] != self.labels[self.ev]
            boundary = np.unique(np.concatenate([self.eu[cut], self.ev[cut]])).tolist()
            for a in boundary:
                src = int(self.labels[a])
                if src in self.frozen or len(self.members.get(src, ())) <= 1:
                    continue
                w: dict[int, float] = defaultdict(float)
                for b, c in self.adj[a].items():
                    w[int(self.labels[b])] += c
                own = w.pop(src, 0.0)
                best = None
                if use_c:
                    cs = sx[src] / max(sa[src], 1e-9)
                    ds = float(((xy[a] - cs) ** 2).sum())
                for dst, shared in w.items():
                    gain = shared - own
                    if use_c:
                        cd = sx[dst] / max(sa[dst], 1e-9)
                        # Moving towards the nearer centre of mass trims elongated grids.
                        gain += pull * (ds - float(((xy[a] - cd) ** 2).sum())) / scale
                    if dst in self.frozen or gain <= 1e-9:
                        continue
                    h = int(self.hh[a])
                    s_ok, d_ok = self._ok(self.total[src]), self._ok(self.total[dst])
                    if (s_ok and not self._ok(self.total[src] - h)) or (
                        d_ok and not self._ok(self.total[dst] + h)
                    ):
                        continue
                    if not s_ok or not d_ok:
                        continue  # leave out-of-bound regions to the repair
                    if best is None or gain > best[0]:
                        best = (gain, dst)
                if best is not None and self._connected_without(src, a):
                    self._move(a, src, best[1])
                    if use_c:
                        dst = best[1]
                        sx[src] = sx[src] - xy[a] * area[a]
                        sa[src] -= area[a]
                        sx[dst] = sx[dst] + xy[a] * area[a]
                        sa[dst] += area[a]
                    moved += 1
            if moved == 0:
                break
        return self.labels

    def run(self, passes: int) -> np.ndarray:
        for _ in range(passes):
            bad = sorted(
                r for r, t in self.total.items() if not self._ok(t) and r not in self.frozen
            )
            if not bad:
                break
            changed = False
            for r in bad:
                for _step in range(64):
                    if r not in self.total or self._ok(self.total[r]):
                        break
                    if self.total[r] < self.lo:
                        done = (
                            self._merge(r) or self._pull(r) or self._pull_chain(r) or self._walk(r)
                        )
                    else:
                        done = self._push(r) or self._walk(r)
                    if not done:
                        break
                    changed = True
            if not changed:
                break
        return self.labels
