/* The patrol reports page (/maps/reports, maps/reports_page.py): 后台生成 XLSX asks
   POST /reports/{kind}/jobs for the report's XLSX (the page's cookie, with the X-Requested-With
   header every write of a page carries: gw.request), follows GET /jobs/{id} and, once made,
   offers the file (GET /reports/files/{id}). WHY: the whole city's month can take longer to
   make than a proxy waits for a direct download (README, POST /reports/.../jobs). A refusal
   is shown in the API's own words; an expired sign-in comes with a link to sign in again in
   a new tab, after which the same button works. */
(function () {
  "use strict";
  var button = document.getElementById("gw-job");
  var msg = document.getElementById("gw-job-msg");
  var POLL_MS = 1000;

  function say(text, bad) {
    msg.className = "gw-msg" + (bad ? " gw-bad" : "");
    msg.textContent = text;
  }

  function expired() {
    gw.signInAgain(msg, "未生成报表", "再点“后台生成”",
                   "sign in again, then press the button again.");
  }

  function failed(res) {
    button.disabled = false;
    if (res.status === 401) { expired(); return; }
    say("后台生成失败 failed: " + ((res.body && res.body.error) || ("HTTP " + res.status)), true);
  }

  function done(result) {
    button.disabled = false;
    var a = document.createElement("a");
    a.className = "gw-btn";
    a.id = "gw-job-file";
    a.href = result.file_url;
    a.textContent = "下载 download " + (result.name || "XLSX");
    msg.className = "gw-msg gw-ok";
    msg.textContent = "已生成 made" + (result.expires_at ? "（保留至 kept until " +
      result.expires_at.slice(0, 16).replace("T", " ") + "）" : "") + " ";
    msg.appendChild(a);
  }

  function follow(url) {
    gw.request(url).then(function (res) {
      window.gwState.job = {status: res.status, body: res.body};
      if (!res.ok) { failed(res); return; }
      var job = res.body;
      if (job.status === "done") { done(job.result || {}); return; }
      if (job.status === "failed") {
        button.disabled = false;
        say("后台生成失败 failed: " + (job.error || job.message || ""), true);
        return;
      }
      var share = Math.round(100 * (job.progress || 0));
      say((job.message || "正在生成 being made") + " · " + share + "%");
      window.setTimeout(function () { follow(url); }, POLL_MS);
    }).catch(function (e) {
      button.disabled = false;
      say("网络错误 network error: " + e.message, true);
    });
  }

  if (button) {
    button.addEventListener("click", function () {
      button.disabled = true;
      say("正在提交… submitting…");
      gw.request(button.dataset.url, {method: "POST"}).then(function (res) {
        window.gwState.job = {status: res.status, body: res.body};
        if (res.status !== 202 || !res.body || !res.body.job_url) { failed(res); return; }
        follow(res.body.job_url);
      }).catch(function (e) {
        button.disabled = false;
        say("网络错误 network error: " + e.message, true);
      });
    });
  }
  window.gwState.ready = true;
})();
