/* The editor's picker (/maps/editor without ?community): a stale draft's discard button
   (confirm, then DELETE /plans/{id}, as the editor page's discard). A refusal is shown;
   an expired sign-in comes with a link to sign in again in a new tab. */
(function () {
  "use strict";
  document.querySelectorAll("button.gw-discard-stale").forEach(function (b) {
    b.addEventListener("click", function () {
      var id = b.dataset.plan, msg = document.getElementById("gw-msg");
      if (!window.confirm("放弃已过期的草案 #" + id + "？它将从列表中移除。\n" +
                          "Discard stale draft #" + id + "? It leaves this list.")) return;
      b.disabled = true;
      fetch("/plans/" + id, {method: "DELETE", credentials: "same-origin",
                             headers: {"X-Requested-With": "XMLHttpRequest"}})
        .then(function (r) {
          return r.json().catch(function () { return null; })
            .then(function (body) { return {status: r.status, ok: r.ok, body: body}; });
        })
        .then(function (res) {
          window.gwDiscarded = res;
          if (res.ok) {
            b.closest(".gw-draft").outerHTML = '<span class="gw-draft">草案 #' + Number(id) +
              " 已放弃 discarded</span>";
            msg.className = "gw-msg";
            msg.textContent = "草案 #" + id + " 已放弃 draft #" + id + " discarded";
            return;
          }
          b.disabled = false;
          msg.className = "gw-msg gw-bad";
          if (res.status === 401) {
            msg.innerHTML = '登录已过期，草案未放弃。请<a href="/login?next=/maps/editor" ' +
              'target="_blank" rel="noopener">在新标签页重新登录 sign in again in a new tab</a>' +
              "，再点“放弃”。 Your sign-in has expired: the draft was not discarded; sign in " +
              "again, then press discard again.";
            return;
          }
          msg.textContent = "放弃失败 discard failed: " +
            ((res.body && res.body.error) || "HTTP " + res.status);
        })
        .catch(function (e) {
          b.disabled = false;
          msg.className = "gw-msg gw-bad";
          msg.textContent = "放弃失败 discard failed: " + e.message;
        });
    });
  });
})();
