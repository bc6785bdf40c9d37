/* gridward map pages: shared helpers (no dependencies beyond Leaflet). */
(function () {
  "use strict";
  var gw = {};
  // What the pages expose for tests and tools: readiness and how many features each layer drew.
  window.gwState = { ready: false, counts: {}, errors: [] };

  gw.esc = function (s) {
    return String(s === null || s === undefined ? "" : s)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  };

  gw.COLORS = { under: "#4e79a7", within: "#59a14f", over: "#e15759", none: "#bab0ac" };
  gw.band = function (h, min, max) {
    if (h < min) return "under";
    if (h > max) return "over";
    return "within";
  };
  gw.BAND_LABEL = { under: "不足 under", within: "达标 within", over: "超出 over" };

  // tracks of the patrol map (stewards get colours chosen on the server: steward_map.py)
  var PALETTE = ["#4e79a7", "#f28e2b", "#76b7b2", "#59a14f", "#edc948", "#b07aa1",
    "#ff9da7", "#9c755f", "#17becf", "#bcbd22", "#8c564b", "#1f77b4", "#2ca02c", "#9467bd"];
  gw.palette = function (i) { return PALETTE[((i % PALETTE.length) + PALETTE.length) % PALETTE.length]; };

  // layer lists start folded on a phone (the page's narrow layout): open, they cover the map
  /* The layer list starts folded where the controls are finger-sized (gridward.css: a touch
     screen or a window up to 1024 px): open, its 44 px rows covered a tablet's map and the
     grid labels under it (outside tester T65). A tap opens it. */
  gw.layerControl = function (overlays) {
    var small = window.matchMedia("(max-width: 1024px), (pointer: coarse)").matches;
    var ctl = L.control.layers(null, overlays, {collapsed: small});
    // Leaflet writes the folded list's button title as "Layers" only (no option): Chinese
    // first, as every other label (T71 #11)
    var onAdd = ctl.onAdd;
    ctl.onAdd = function (map) {
      var box = onAdd.call(this, map);
      var toggle = box.querySelector(".leaflet-control-layers-toggle");
      if (toggle) { toggle.title = gw.LAYERS_TITLE; toggle.setAttribute("aria-label", gw.LAYERS_TITLE); }
      return box;
    };
    return ctl;
  };
  gw.LAYERS_TITLE = "图层 Layers";
  gw.count = function (name, n) { window.gwState.counts[name] = n; };

  /* fetch resolving to {ok, status, body}: a 4xx answer's JSON body (what was wrong) too. */
  gw.request = function (url, opts) {
    var o = opts || {};
    // Same-origin cookie sign-in; writes signed by the cookie must say they come from script.
    o.credentials = "same-origin";
    o.headers = Object.assign({"X-Requested-With": "XMLHttpRequest"}, o.headers || {});
    return fetch(url, o).then(function (r) {
      return r.json().catch(function () { return null; }).then(function (body) {
        return {ok: r.ok, status: r.status, body: body};
      });
    });
  };

  gw.getJSON = function (url, opts) {
    return gw.request(url, opts).then(function (res) {
      if (res.status === 401) gw.signInExpired();
      if (!res.ok) { throw new Error((res.body && res.body.error) || ("HTTP " + res.status)); }
      return res.body;
    });
  };

  /* A sign-in that ended while the page was open (expired, signed out elsewhere, a new
     password): layers stopped loading without a word, and the bar still showed the name
     (re-tester T35). Now a notice on top of the page, once, with the way to sign in again
     and come back here. */
  gw.signInExpired = function () {
    window.gwState.expired = true;
    if (document.getElementById("gw-expired")) return;
    var signIn = "/login?next=" + encodeURIComponent(window.location.pathname + window.location.search);
    var div = document.createElement("div");
    div.id = "gw-expired";
    div.className = "gw-banner";
    div.setAttribute("role", "alert");
    div.innerHTML = "登录已过期，地图图层无法加载。请<a href=\"" + signIn + "\">重新登录</a>。 " +
      "Your sign-in has ended: the map's layers cannot load. <a href=\"" + signIn +
      "\">Sign in again</a>.";
    document.body.insertBefore(div, document.body.firstChild);
  };

  /* A button's write refused because the sign-in ended (401): the message box says what was
     not done and links the sign-in page in a new tab, so this page keeps its state, then the
     same button works. ``done``/``again``: the Chinese of what was not done and of what to
     press again; ``en``: the English after "Your sign-in has expired: ". */
  gw.signInAgain = function (msg, done, again, en) {
    var here = window.location.pathname + window.location.search;
    msg.className = "gw-msg gw-bad";
    msg.innerHTML = "登录已过期，" + done + '。请<a id="gw-signin" href="/login?next=' +
      encodeURIComponent(here) + '" target="_blank" rel="noopener">在新标签页重新登录 sign in ' +
      "again in a new tab</a>，" + again + "。 Your sign-in has expired: " + en;
  };

  /* A layer that loads GeoJSON from the API for the current view (bbox) whenever the map
     stops moving, so pages never embed big layers. */
  gw.bboxLayer = function (map, name, url, options) {
    var opts = options || {};
    var group = L.geoJSON(null, opts.geojson || {});
    var seq = 0, last = null;
    function load() {
      if (!map.hasLayer(group)) return;
      if (opts.minZoom && map.getZoom() < opts.minZoom) {
        group.clearLayers(); gw.count(name, 0); last = null; return;
      }
      var b = map.getBounds();
      var bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(function (v) { return v.toFixed(6); }).join(",");
      if (bbox === last) return;  // this view is loaded (or loading) already
      last = bbox;
      var mine = ++seq;
      var sep = url.indexOf("?") >= 0 ? "&" : "?";
      gw.getJSON(url + sep + "limit=" + (opts.limit || 5000) + "&bbox=" + bbox).then(function (fc) {
        if (mine !== seq) return;
        group.clearLayers();
        group.addData(fc);
        gw.count(name, fc.features.length);
        // More in view than one page holds: say so (zooming in shows the rest).
        window.gwState.truncated = window.gwState.truncated || {};
        if (fc.numberMatched > fc.features.length) window.gwState.truncated[name] = fc.numberMatched;
        else delete window.gwState.truncated[name];
      }).catch(function (e) {
        if (mine === seq) last = null;  // try again on the next move
        window.gwState.errors.push(name + ": " + e.message);
      });
    }
    map.on("moveend", load);
    group.on("add", load);
    return group;
  };

  /* Permanent labels (tooltips) of ``groups`` that would cover one another: the later ones
     are hidden until the map is zoomed in far enough (on a phone the grid codes of a
     subdistrict ran into each other: tester). Earlier groups first. */
  gw.declutter = function (map, groups) {
    function run() {
      var taken = [], hidden = 0, shown = 0;
      groups.forEach(function (g) {
        if (!map.hasLayer(g)) return;
        g.eachLayer(function (t) {
          var el = t.getElement && t.getElement();
          if (!el || !(t instanceof L.Tooltip)) return;
          el.style.visibility = "";
          var r = el.getBoundingClientRect();
          var hit = taken.some(function (o) {
            return r.left < o.right && o.left < r.right && r.top < o.bottom && o.top < r.bottom;
          });
          if (hit) { el.style.visibility = "hidden"; hidden += 1; } else { taken.push(r); shown += 1; }
        });
      });
      window.gwState.labels = {shown: shown, hidden: hidden};
    }
    function later() { setTimeout(run, 0); }  // after Leaflet has placed the labels
    map.on("zoomend viewreset resize overlayadd overlayremove", later);
    run();
    return run;
  };

  /* 退出 sign out (the bar of every page, maps/shell.py): POST /auth/logout revokes this
     sign-in and clears the cookie; a cookie-signed write needs X-Requested-With, which a
     plain form cannot send, so the form is posted from here; then the sign-in page. */
  // Sign out. A page with unsaved edits (the editor: gwEditor.unsaved) asks first, before
  // the sign-in is revoked: asked only by the page's "leave?" prompt, "stay" kept the page
  // but its sign-in was already gone, and the edits could not be saved (outside tester M2).
  gw.signOut = function () {
    var ed = window.gwEditor;
    if (ed && ed.unsaved && ed.unsaved() && !window.confirm(
      "本页有未保存的修改，退出后将丢失。仍要退出？\n" +
      "This page has unsaved edits: they are lost if you sign out. Sign out anyway?")) {
      return Promise.resolve(false);
    }
    window.gwState.signingOut = true;  // asked already: leaving does not ask again
    return gw.request("/auth/logout", {method: "POST"}).catch(function () { return null; })
      .then(function () { window.location.assign("/login"); return true; });
  };
  document.addEventListener("submit", function (ev) {
    if (ev.target && ev.target.classList && ev.target.classList.contains("gw-signout")) {
      ev.preventDefault();
      gw.signOut();
    }
  });

  window.gw = gw;
})();
