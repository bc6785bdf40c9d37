"""The sign-in page for people opening the maps in a browser, and the site root.

A browser that opens a map page without a session is sent here (see api/errors.py); the form
posts to POST /auth/token, which sets the HttpOnly session cookie, and returns to the page.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, RedirectResponse

from api.auth import public

router = APIRouter(tags=["sign-in"])

_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><link rel="icon" href="data:,">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>登录 Sign in · gridward</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "WenQuanYi Micro Hei", sans-serif; background: #f4f6f8;
       display: flex; align-items: center; justify-content: center; height: 100vh; margin: 0; }}
form {{ background: #fff; padding: 2rem 2.5rem; border-radius: 8px;
        box-shadow: 0 2px 12px rgba(0,0,0,.12); min-width: 18rem; }}
h1 {{ font-size: 1.3rem; margin: 0 0 1.2rem; }}
label {{ display: block; margin: .6rem 0 .2rem; font-size: .9rem; color: #333; }}
input {{ width: 100%; padding: .5rem; box-sizing: border-box; font-size: 1rem; }}
button {{ margin-top: 1.2rem; width: 100%; padding: .6rem; font-size: 1rem; background: #2b6cb0;
          color: #fff; border: 0; border-radius: 4px; cursor: pointer; }}
#msg {{ color: #c53030; min-height: 1.2rem; margin-top: .8rem; font-size: .9rem; }}
</style></head>
<body>
<form id="f">
  <h1>网格化管理 gridward<br><small>登录 Sign in</small></h1>
  <label for="u">用户名 Username</label>
  <input id="u" name="username" autocomplete="username" required>
  <label for="p">密码 Password</label>
  <input id="p" name="password" type="password" autocomplete="current-password" required>
  <button type="submit">登录 Sign in</button>
  <div id="msg" role="alert"></div>
</form>
<script>
const next = {next_js};
document.getElementById("f").addEventListener("submit", async (ev) => {{
  ev.preventDefault();
  const body = new URLSearchParams(new FormData(ev.target));
  const r = await fetch("/auth/token", {{method: "POST", body, credentials: "same-origin"}});
  if (r.ok) {{ window.location.assign(next); return; }}
  let text = "登录失败 Sign-in failed";
  try {{ text += ": " + (await r.json()).error; }} catch (e) {{}}
  document.getElementById("msg").textContent = text;
}});
</script>
</body></html>
"""


def _safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no //host): the page cannot send you elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/maps"
    return target


@router.get(
    "/login",
    response_class=HTMLResponse,
    summary="Sign-in page 登录页",
    dependencies=[Depends(public())],
)
def login(next: Annotated[str | None, Query(max_length=500)] = None) -> HTMLResponse:
    import json

    # a JS string literal; "<" escaped so nothing in it can close the script element
    next_js = json.dumps(_safe_next(next)).replace("<", "\\u003c")
    return HTMLResponse(_PAGE.format(next_js=next_js))


@router.get("/", include_in_schema=False, dependencies=[Depends(public())])
def root() -> RedirectResponse:
    return RedirectResponse("/maps", status_code=307)
