"""A track's ``changed_at`` moved when what its row shows of its person changes.

A row of ``GET /tracks`` shows, beside the track's own columns, its walker's name
(``p.name AS person``: :data:`PERSON_SHOWN`). A sync by ``changed_since`` (T67 #4) learns
only of tracks whose ``changed_at`` moved, so a person renamed by a roster import kept the
old name in every integrator's copy for good. The code that changes people brackets its
change: :func:`shown_of` before, :func:`touch_changed` after, in the same transaction, so
only the tracks of people whose shown values really changed are stamped (a roster imported
twice stamps nothing) and a sync's ``as_of`` covers the stamp as it covers the change.

Nothing of ``users`` is shown: ``uploaded_by`` is the username stored on the track, and a
username never changes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import Connection, text

# the people columns a row of GET /tracks shows (api/routes/tracks.py: p.name AS person);
# keep in step with that SELECT (tests/test_tracks_changed_since_db.py changes each column
# of people and checks which move a row)
PERSON_SHOWN: tuple[str, ...] = ("name",)

# what the tracks show of each person, by people.id
Shown = dict[int, tuple[Any, ...]]


def shown_of(
    conn: Connection, *, ids: Sequence[int] = (), registry_ids: Sequence[str] = ()
) -> Shown:
    """What the tracks' rows show of these people (by ``people.id`` or registry id), read
    before a change to them. WHY keyed by people.id: a renumber changes the registry id,
    and a track refers to the person by id."""
    if not ids and not registry_ids:
        return {}
    rows = conn.execute(
        text(
            f"SELECT id, {', '.join(PERSON_SHOWN)} FROM people "
            "WHERE id = ANY(CAST(:ids AS int[])) OR external_id = ANY(CAST(:ext AS text[]))"
        ),
        {"ids": list(ids), "ext": list(registry_ids)},
    ).all()
    return {int(r[0]): tuple(r[1:]) for r in rows}


def touch_changed(conn: Connection, before: Shown) -> int:
    """Stamp ``changed_at = now()`` on the tracks of the people of ``before`` whose shown
    values differ now; the number of tracks stamped. WHY compared, not stamped on every
    write: a nightly roster import rewrites every person, and restamping all their tracks
    would make each sync download the whole city again."""
    if not before:
        return 0
    now = shown_of(conn, ids=list(before))
    return touch_people_tracks(conn, [p for p, was in before.items() if now.get(p) != was])


def touch_people_tracks(conn: Connection, person_ids: Collection[int]) -> int:
    """Stamp every track of these people (one UPDATE by ix_tracks_person_id, however many
    tracks each has); the number stamped. A person about to be deleted is stamped before:
    afterwards their tracks' person_id is NULL (ON DELETE SET NULL)."""
    if not person_ids:
        return 0
    return conn.execute(
        text("UPDATE tracks SET changed_at = now() WHERE person_id = ANY(CAST(:p AS int[]))"),
        {"p": sorted(person_ids)},
    ).rowcount
