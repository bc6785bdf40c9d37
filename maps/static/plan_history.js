/* The grid history page (/maps/editor/history?community=CODE, maps/plan_history_page.py): a
   version's 恢复此版 button asks POST /plans/revert for a new draft of that version's grids
   (signed by the page's cookie, with the X-Requested-With header every write of a page
   carries: gw.request) and opens the editor on that draft, where the planner reviews and
   commits it. A refusal is shown in the API's own words; an expired sign-in comes with a link
   to sign in again in a new tab, after which the same button works. */
(function () {
  "use strict";
  var community = document.body.dataset.community;
  var msg = document.getElementById("gw-msg");
  var buttons = Array.prototype.slice.call(document.querySelectorAll("button.gw-revert"));

  function say(text, bad) {
    msg.className = "gw-msg" + (bad ? " gw-bad" : "");
    msg.textContent = text;
  }
  function busy(on) { buttons.forEach(function (b) { b.disabled = on; }); }

  function expired() {
    gw.signInAgain(msg, "未生成草案", "再点“恢复此版”",
                   "no draft was made; sign in again, then press revert again.");
  }

  buttons.forEach(function (b) {
    b.addEventListener("click", function () {
      var version = Number(b.dataset.version);
      busy(true);
      say("正在按第 " + version + " 版生成草案… making a draft of version " + version + "…");
      gw.request("/plans/revert", {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({community: community, version: version})
      }).then(function (res) {
        window.gwState.revert = {status: res.status, body: res.body};
        if (res.ok && res.body && res.body.plan_id) {
          var id = Number(res.body.plan_id);
          say("已生成草案 #" + id + "，正在打开编辑器… made draft #" + id + ": opening the editor…");
          window.location.assign("/maps/editor?community=" + encodeURIComponent(community) +
                                 "&plan=" + id);
          return;
        }
        busy(false);
        if (res.status === 401) { expired(); return; }
        say("恢复失败 revert failed: " + ((res.body && res.body.error) || ("HTTP " + res.status)), true);
      }).catch(function (e) {
        busy(false);
        window.gwState.revert = {status: 0, error: e.message};
        say("恢复失败，网络错误 revert failed, network error: " + e.message, true);
      });
    });
  });
  window.gwState.ready = true;
})();
