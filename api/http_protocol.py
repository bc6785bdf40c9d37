"""The HTTP/1.1 protocol ``gridward serve`` runs: uvicorn's h11 one, with its one answer that
never reaches the app, the 400 for a request it cannot parse, made the app's ``{error, status}``
JSON, Chinese first.

WHY: h11 refuses a request line with raw (not percent-encoded) UTF-8, ``/maps/patrol?name=清华``
as a hand-made link or a script sends it, before FastAPI runs; uvicorn answered a plain-text
``Invalid HTTP request received.`` that a client reading the JSON error body cannot show
(outside tester T40, left open at stop 38). httptools refuses it as well, so changing the
parser would not help; the answer is the only part worth changing, and uvicorn takes a
protocol class for that (``uvicorn.run(http=…)``).
"""

from __future__ import annotations

import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

BAD_REQUEST_ZH = (
    "无法解析此 HTTP 请求：请求行或请求头格式有误。最常见的原因是地址中有未经百分号编码的中文等"
    "非 ASCII 字符，如 ?name=清华 须写成 ?name=%E6%B8%85%E5%8D%8E（浏览器和 HTTP 库会自动编码，"
    "手写的链接和脚本不会）"
)
BAD_REQUEST_EN = (
    "invalid HTTP request: the request line or a header is malformed; most often the address "
    "holds non-ASCII characters that are not percent-encoded (?name=%E6%B8%85%E5%8D%8E, not "
    "raw UTF-8)"
)


def bad_request_body() -> bytes:
    """The JSON body of that 400: the same shape as every other error of the app."""
    words = {"error": f"{BAD_REQUEST_ZH} {BAD_REQUEST_EN}", "status": 400, "code": "bad_request"}
    return json.dumps(words, ensure_ascii=False).encode("utf-8")


class JsonErrorH11Protocol(H11Protocol):
    """uvicorn's h11 protocol whose parse-error 400 is JSON (see the module's docstring)."""

    def send_400_response(self, msg: str) -> None:
        """The same steps as uvicorn's own (response, body, end, close), JSON instead of text.
        ``msg`` is uvicorn's English line; it is still logged by uvicorn before this runs."""
        body = bad_request_body()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode("ascii")),
            (b"connection", b"close"),
        ]
        for event in (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=body),
            h11.EndOfMessage(),
        ):
            self.transport.write(self.conn.send(event))
        self.transport.close()
