"""The sign-in page for people opening the maps in a browser, and the site root.

A browser that opens a map page without a session is sent here (see api/errors.py); the form
posts to POST /auth/token, which sets the HttpOnly session cookie, and returns to the page.
:func:`sign_in_form` is that route's check that it was sent a form at all.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Request
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
form {{ background: #fff; padding: 2rem 2.5rem; border-radius: 8px; box-sizing: border-box;
        box-shadow: 0 2px 12px rgba(0,0,0,.12); width: 23rem; max-width: calc(100vw - 1rem); }}
h1 {{ font-size: 1.3rem; margin: 0 0 1.2rem; }}
label {{ display: block; margin: .6rem 0 .2rem; font-size: .9rem; color: #333; }}
input {{ width: 100%; padding: .5rem; box-sizing: border-box; font-size: 1rem; }}
button {{ margin-top: 1.2rem; width: 100%; padding: .6rem; font-size: 1rem; background: #2b6cb0;
          color: #fff; border: 0; border-radius: 4px; cursor: pointer; }}
#msg {{ color: #c53030; min-height: 1.2rem; margin-top: .8rem; font-size: .9rem; }}
/* a phone (T44 #5): the form was 368 px wide and the page scrolled sideways at 360 and
   320 px; the fields and the button are 44 px tap targets (they were 37-38 px) */
@media (max-width: 400px) {{
  form {{ padding: 1.5rem 1rem; }}
  input, button {{ min-height: 44px; }}
}}
</style></head>
<body>
<form id="f">
  <h1>网格化管理 gridward<br><small>登录 Sign in</small></h1>
  <label for="u">账号名 Username</label>
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


# what POST /auth/token reads its fields from (OAuth2PasswordRequestForm): anything else
# reads as no fields at all
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def sign_in_form(request: Request) -> None:
    """415 naming the form POST /auth/token takes when a request's body is not one (JSON
    above all; no Content-Type at all too). WHY: an app posting JSON
    ``{"username": …, "password": …}`` was told ``缺少字段 username: field required``, as if
    it had left the name out, not that the body must be a form (T40 #16). A dependency of the
    route, run before its form's fields are checked; the body is not read here."""
    sent = request.headers.get("content-type", "").split(";")[0].strip().lower()[:60]
    if sent in FORM_TYPES:
        return
    shown, shown_zh = sent or "(none)", sent or "（无）"
    no_json, no_json_zh = (" (JSON is not taken)", "，不接受 JSON") if "json" in sent else ("", "")
    raise HTTPException(
        415,
        f"登录请求须以表单发送{no_json_zh}：请用 Content-Type: application/x-www-form-urlencoded，"
        f"字段 username 和 password（OAuth2 密码模式，如 username=li&password=…；"
        f"收到的内容类型为 {shown_zh!r}） "
        f"sign-in takes a form{no_json}: send Content-Type: "
        "application/x-www-form-urlencoded with the fields username and password (OAuth2 "
        f"password flow, e.g. username=li&password=…); got content type {shown!r}",
    )


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
