/* gridward patrol map page: gwPatrolMap(map, DATA) is called by the page. */
function gwPatrolMap(map, DATA) {
  "use strict";
  // Each feature is one assigned alley (or a street chief's street) with the 日巡 daily
  // report's walked share and patrolled flag for the day: coloured as the report says.
  // Today's duty not done yet is pending (the report's word): neither missed nor done, so
  // its own colour, dashed, not the red 未走 of a day that is over (T65 F2).
  function shareClass(p) {
    return p.patrolled ? "done" : p.pending ? "pending" : (p.walked > 0 ? "part" : "none");
  }
  var drawn = 0, done = 0, pending = 0;
  var alleys = L.geoJSON(DATA.alleys, {
    style: function (f) {
      var c = shareClass(f.properties);
      return {color: DATA.colors[c], weight: f.properties.role === "street_chief" ? 7 : 5,
              opacity: 0.85, dashArray: c === "pending" ? "8 6" : null,
              className: "gw-alley gw-walk-" + c + " gw-role-" + f.properties.role};
    },
    onEachFeature: function (f, layer) {
      var p = f.properties;
      drawn += 1;
      if (p.patrolled) done += 1;
      else if (p.pending) pending += 1;
      var unnamed = p.kind === "street" ? "无名街 unnamed street" : "无名小巷 unnamed alley";
      layer.bindTooltip("<b>" + (p.name ? gw.esc(p.name) : unnamed) + "</b><br>" +
        gw.esc(p.role_label) + ": " + p.people.map(gw.esc).join("、") + "<br>" +
        // one person's view: their own walking, and the alley's as a whole beside it
        (DATA.person
          ? "本人走过 walked by this person: " + Math.round(100 * p.walked) + "% (" +
            Math.round(p.walked_m) + " / " + Math.round(p.length_m) + " m; " +
            // a chief's street is judged on what is covered (parallel ways within 20 m), T41 #8
            (p.role === "street_chief" ? "本人应覆盖 own part to cover " : "本人应走 own part ") +
            Math.round(100 * p.required) + "%)<br>" +
            "全部责任人 all assigned: " + Math.round(100 * p.alley_walked) + "% · " +
            (p.alley_patrolled ? "已巡 patrolled" : "未巡 not patrolled") + "<br>"
          : "责任人走过 walked by assigned: " + Math.round(100 * p.walked) + "% (" +
            Math.round(p.walked_m) + " / " + Math.round(p.length_m) + " m)<br>") +
        // a street chief's street: parallel ways within 20 m of the walk count as covered
        (p.covered - p.alley_walked > 0.005
          ? "含 20 米内并行道路覆盖 covered with parallel ways within 20 m: " +
            Math.round(100 * p.covered) + "%<br>" : "") +
        (DATA.person ? "计入本人 credited to this person: " : "") +
        (p.patrolled ? "已巡 patrolled"
          : p.pending ? "待巡 pending（今天尚未完成，不计入达标率 not done yet today, in no rate）"
          : "未巡 not patrolled"), {sticky: true});
    }
  }).addTo(map);
  gw.count("alleys", drawn);
  gw.count("patrolled", done);
  gw.count("pending", pending);
  var tracks = L.layerGroup().addTo(map);
  var lines = {};
  DATA.tracks.forEach(function (t, i) {
    var ll = t.points.map(function (p) { return [p[1], p[0]]; });
    lines[t.id] = L.polyline(ll, {color: gw.palette(i + 4), weight: 2, opacity: 0.7, dashArray: "3 4",
                                  className: "gw-track"})
      // the line is thinned (map_data: ~2 m); the count is of the fixes recorded that day
      // ⚠ and the flags (an evaluator's page only: a steward's data has none): all their
      // Chinese on one line, then all their English (flags_said); the uploader when not the
      // walker's own account (map_data._day_tracks)
      .bindTooltip((t.flags && t.flags.length ? "⚠ " : "") + "轨迹 track " + t.id +
                   (t.person ? " · " + gw.esc(t.person) : "") +
                   (t.uploader ? " · 上传人 uploaded by " + gw.esc(t.uploader) : "") + " · " +
                   (t.n_points || t.points.length) + " 点 points" +
                   (t.flags_said ? t.flags_said.filter(Boolean).map(function (s) {
                     return "<br>" + gw.esc(s);
                   }).join("") : ""))
      .addTo(tracks);
  });
  gw.count("tracks", DATA.tracks.length);
  gw.layerControl({"街巷 alleys/streets": alleys, "轨迹 tracks": tracks}).addTo(map);
  var bounds = L.latLngBounds([]);
  if (drawn) bounds.extend(alleys.getBounds());
  tracks.eachLayer(function (l) { bounds.extend(l.getBounds()); });
  if (bounds.isValid()) map.fitBounds(bounds, {padding: [10, 10], animate: false});

  // Playback of one track over time.
  var pick = document.getElementById("gw-track");
  var slider = document.getElementById("gw-time");
  var clock = document.getElementById("gw-clock");
  var playBtn = document.getElementById("gw-play");
  var marker = null, trail = null, timer = null, cur = null;
  function setTrack(id) {
    cur = DATA.tracks.filter(function (t) { return String(t.id) === String(id); })[0] || null;
    if (marker) { map.removeLayer(marker); map.removeLayer(trail); marker = null; }
    if (!cur || !cur.points.length) { slider.disabled = true; return; }
    slider.disabled = false; slider.min = 0; slider.max = cur.points.length - 1; slider.value = 0;
    trail = L.polyline([], {color: "#1f3fbf", weight: 3, opacity: 0.6, className: "gw-trail"}).addTo(map);
    marker = L.circleMarker([cur.points[0][1], cur.points[0][0]],
                            {radius: 7, color: "#1f3fbf", fillOpacity: 1, className: "gw-playhead"}).addTo(map);
    show(0);
  }
  function show(i) {
    if (!cur) return;
    var p = cur.points[i];
    // a point is [lon, lat, seconds after the track's first fix] (map_data._day_tracks)
    var at = new Date(Date.parse(cur.start) + 1000 * p[2]);
    marker.setLatLng([p[1], p[0]]);
    trail.setLatLngs(cur.points.slice(0, i + 1).map(function (q) { return [q[1], q[0]]; }));
    clock.textContent = at.toLocaleTimeString("zh-CN", {timeZone: DATA.tz, hour12: false});
    window.gwState.playback = {track: cur.id, index: i, time: at.toISOString().replace(".000Z", "Z")};
  }
  if (pick) {
    pick.addEventListener("change", function () { setTrack(pick.value); });
    slider.addEventListener("input", function () { show(Number(slider.value)); });
    playBtn.addEventListener("click", function () {
      if (timer) { clearInterval(timer); timer = null; playBtn.textContent = "▶ 播放 play"; return; }
      playBtn.textContent = "⏸ 暂停 pause";
      timer = setInterval(function () {
        var i = Number(slider.value) + 1;
        if (!cur || i > Number(slider.max)) { clearInterval(timer); timer = null;
          playBtn.textContent = "▶ 播放 play"; return; }
        slider.value = i; show(i);
      }, 80);
    });
    if (DATA.tracks.length) setTrack(DATA.tracks[0].id);
  }
  gwTrackUpload(DATA);
  window.gwState.ready = true;
}

/* The upload form (shown to stewards, planners and admins): files go to POST /tracks as they
   are; each file's outcome is listed, with a link to the day its walk is on. */
function gwTrackUpload(DATA) {
  "use strict";
  var form = document.getElementById("gw-upload");
  if (!form) return;
  var msg = document.getElementById("gw-upload-msg");
  var input = document.getElementById("gw-files");
  function localDay(iso) {  // YYYY-MM-DD in the city's time zone (sv-SE writes ISO dates)
    return new Date(iso).toLocaleDateString("sv-SE", {timeZone: DATA.tz});
  }
  function line(f) {
    var name = gw.esc(f.filename || "file");
    if (f.error) return '<div class="gw-bad">✗ ' + name + ": " + gw.esc(f.error) + "</div>";
    var text = "✓ " + name + ": 轨迹 track " + f.track_id + " · " + f.n_points + " 点 points";
    if (!f.created) text += " · 已上传过 already stored";
    var c = f.crs_change;
    if (c && c.changed) text += " · 坐标系已更正 datum corrected " + gw.esc(c.from) + " → " + gw.esc(c.to);
    if (c && !c.changed) text += '<div class="gw-bad">' + gw.esc(c.message) + "</div>";
    if (f.match) text += " · 匹配 matched " + f.match.segments + " 路段 segments";
    if (f.status === "queued") text += " · 排队匹配 queued";
    if (f.match_error) text += " · 未匹配 not matched: " + gw.esc(f.match_error);
    if (f.match && f.match.datum_hint) {
      text += '<div class="gw-bad gw-datum">⚠ ' + gw.esc(f.match.datum_hint.message) + "</div>";
    }
    if (f.match && f.match.warning) {  // nothing credited: the reason (accuracy, no street…)
      text += '<div class="gw-bad gw-nothing">⚠ 未计入 nothing credited: ' +
        gw.esc(f.match.warning) + "</div>";
    }
    (f.warnings || []).forEach(function (w) {  // rows the reader left out (合计 rows…)
      text += '<div class="gw-warn">⚠ ' + gw.esc(w) + "</div>";
    });
    if (f.mode_kept) text += " · 方式保持 kept as " + gw.esc(f.mode_kept);
    if (f.started_at) {
      var day = localDay(f.started_at);
      // id:N, not the bare number: ?person= takes registry ids too (T39 M3)
      var q = "?date=" + day + (DATA.uploadPerson ? "&person=id:" + DATA.uploadPerson : "");
      text += ' · <a class="gw-upload-day" href="' + q + '">查看 show ' + day + "</a>";
    }
    return '<div class="gw-ok">' + text + "</div>";
  }
  var send = document.getElementById("gw-upload-send");
  var bar = document.getElementById("gw-upload-progress");
  function done(state) {  // the form may be sent again; the chosen files stay chosen
    send.disabled = false;
    if (bar) bar.hidden = true;
    window.gwState.upload = state;
    if (msg.scrollIntoView) msg.scrollIntoView({block: "nearest"});  // below the fold on a phone
  }
  // A sign-in that ended while the page was open (expired, revoked, a new password): the
  // page and the chosen files stay, and signing in again in a new tab lets the same 上传
  // work. It said only the API's "令牌无效…请重新登录", with no way to sign in but a reload,
  // which dropped the chosen file (T44 #1; as the editor and gw.signInExpired do).
  function signInAgain() {
    var signIn = "/login?next=" + encodeURIComponent(window.location.pathname + window.location.search);
    window.gwState.expired = true;
    msg.innerHTML = '<div class="gw-bad gw-expired">登录已过期，文件未上传。请<a id="gw-signin" href="' +
      signIn + '" target="_blank" rel="noopener">点此重新登录（新标签页）</a>，然后再点“上传”。 ' +
      "Your sign-in has expired: the files were not uploaded. " +
      '<a href="' + signIn + '" target="_blank" rel="noopener">Sign in again</a> (a new tab), ' +
      "then tap 上传 upload again.</div>";
  }
  // What a phone on a weak signal meets (T44 #4): the server's 408 spoke of bytes per
  // second and gave no remedy.
  var TOO_SLOW = "网络太慢，上传未完成，未保存任何内容。请到信号好的地方或连上 Wi-Fi 后再上传。 " +
    "network too slow: the upload did not finish and nothing was stored; try again where the " +
    "signal is good or on Wi-Fi";
  var BROKEN = "网络连接中断，上传未完成。请检查网络后再点“上传”（已保存的文件不会重复保存）。 " +
    "the connection broke off before the upload finished: check the network and tap 上传 " +
    "upload again (a file already stored is not stored twice)";
  // the body is sent, the server's answer not yet in (T45 #1: never "已上传" before it)
  var SENT = "已发出，等待服务器确认… sent, waiting for the server…";
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    if (send.disabled) return;  // one upload at a time: a second tap sent the files twice
    if (!input.files.length) { msg.textContent = "请选择文件 choose a file first"; return; }
    var fd = new FormData();
    for (var i = 0; i < input.files.length; i++) fd.append("file", input.files[i], input.files[i].name);
    fd.append("crs", document.getElementById("gw-crs").value);
    if (DATA.uploadPerson) fd.append("person_id", String(DATA.uploadPerson));
    // XMLHttpRequest, not fetch: only it reports how much of the body is sent (T44 #4: a
    // static "上传中" for 40 s to 151 s on a slow phone, and the button stayed live)
    var xhr = new XMLHttpRequest();
    xhr.open("POST", "/tracks");
    xhr.withCredentials = true;  // the sign-in cookie; same origin sends it anyway
    // a cookie-signed write must say it comes from script (gw.request does the same)
    xhr.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    xhr.setRequestHeader("Accept", "application/json");
    send.disabled = true;
    msg.textContent = "上传中 uploading…";
    if (bar) { bar.hidden = false; bar.value = 0; }
    window.gwState.upload = null;
    window.gwState.uploadProgress = [];
    window.gwState.uploadSaid = [];  // each status text in turn (the tests read it)
    function say(text) {
      if (msg.textContent === text) return;
      msg.textContent = text;
      window.gwState.uploadSaid.push(text);
    }
    xhr.upload.onprogress = function (e) {
      if (!e.lengthComputable || !e.total) return;
      var pct = Math.floor(100 * e.loaded / e.total);
      if (bar) bar.value = pct;
      window.gwState.uploadProgress.push(pct);
      say(pct < 100 ? "上传中 " + pct + "% uploading " + pct + "%" : SENT);
    };
    // The body's last byte handed to the socket is not the server having it: a slow phone
    // was told "uploaded, matching" for 90 s while the server was still waiting and then
    // sent a 408 (T45 #1). Until the answer comes, say only that the file was sent.
    xhr.upload.onload = function () {
      if (bar) bar.value = 100;
      say(SENT);
    };
    xhr.onload = function () {
      var body = null;
      try { body = JSON.parse(xhr.responseText); } catch (e) { body = null; }
      var files = (body && body.files) || [];
      if (xhr.status === 401) {
        signInAgain();
      } else if (xhr.status === 408) {
        msg.innerHTML = '<div class="gw-bad gw-too-slow">✗ ' + gw.esc(TOO_SLOW) + "</div>";
      } else if (!files.length) {
        msg.innerHTML = '<div class="gw-bad">✗ ' + gw.esc((body && body.error) || ("HTTP " + xhr.status)) + "</div>";
      } else {
        msg.innerHTML = files.map(line).join("");
      }
      done({status: xhr.status, files: files});
    };
    xhr.onerror = function () {
      msg.innerHTML = '<div class="gw-bad">✗ 上传失败 upload failed: ' + gw.esc(BROKEN) + "</div>";
      done({status: 0, files: [], error: "network"});
    };
    xhr.send(fd);
  });
}
