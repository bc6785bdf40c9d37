"""Names are never template code (outside tester T42, HIGH): a person or an area named with
Jinja syntax (``{{7*191}}``) was evaluated on the server when a map page was drawn (branca
compiled the panel's HTML as a template): arithmetic showed as ``1337``, a crafted name ran a
shell command as the server's user, and a name with a bad ``{% … %}`` made the page a 500 for
everyone. Every page must show such names as the text they are."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from tests.test_maps_data import PATROL_DAY, empty_database, seed_demo
from tests.test_maps_pages import token_for

# evaluated, these would read "gwran1…" / "gwran2…": strings no page holds by chance (the
# tester's {{7*191}} → 1337 also matches digits of coordinates)
PERSON = "{{ 'gw' ~ 'ran1' }}王五"
BROKEN = "{% if %}赵六{{ 'x' }}"
AREA = "{{ 'gw' ~ 'ran2' }}东北社区"


@pytest.fixture(scope="module")
def site(engine) -> dict[str, Any]:  # noqa: ANN001
    from fastapi.testclient import TestClient

    from api.app import create_app

    db = empty_database(engine)
    demo = seed_demo(db)
    with db.begin() as conn:
        stewards = demo["stewards"]
        conn.execute(
            text("UPDATE people SET name = :n WHERE id = :p"), {"n": PERSON, "p": stewards[0]}
        )
        conn.execute(
            text("UPDATE people SET name = :n WHERE id = :p"), {"n": BROKEN, "p": stewards[1]}
        )
        conn.execute(
            text("UPDATE areas SET name = :n WHERE code = :c"),
            {"n": AREA, "c": demo["communities"][0]},
        )
    demo["client"] = TestClient(create_app(db))
    demo["auth"] = {"Authorization": f"Bearer {token_for(db, 'admin', name='tmpl-admin')}"}
    return demo


def _pages(site: dict[str, Any]) -> dict[str, str]:
    code = site["communities"][0]
    return {
        "grids": "/maps/grids",
        "stewards": "/maps/stewards",
        "patrols": f"/maps/patrols?date={PATROL_DAY}",
        "editor": f"/maps/editor?community={code}",
    }


def test_names_with_template_syntax_are_shown_not_run(site) -> None:  # noqa: ANN001
    c, h = site["client"], site["auth"]
    seen: dict[str, str] = {}
    for key, url in _pages(site).items():
        r = c.get(url, headers=h)
        assert r.status_code == 200, (url, r.text[:300])  # a bad {% … %} broke the page
        seen[key] = r.text
        assert "gwran1" not in r.text and "gwran2" not in r.text, url  # nothing evaluated
    # the names are there, as written: in the panel's HTML (escaped) or the page's data
    assert "{{ &#x27;gw&#x27; ~ &#x27;ran1&#x27; }}王五" in seen["stewards"]  # panel, escaped
    assert "{% if %}赵六" in seen["stewards"]
    assert "{{ 'gw' ~ 'ran2' }}东北社区" in seen["grids"]  # page data (JSON)


def test_the_page_skeleton_is_not_compiled_from_its_text() -> None:
    """The unit underneath: ``Html`` places text as it is, where branca's Element compiled it."""
    from branca.element import Element

    from maps.page import Html

    assert Html("<p>{{7*191}}</p>").render() == "<p>{{7*191}}</p>"
    assert Element("<p>{{7*191}}</p>").render() == "<p>1337</p>"  # why Html exists
