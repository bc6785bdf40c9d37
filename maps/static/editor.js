/* gridward editor page: gwEditor(map, DATA) is called by the page. */
function gwEditor(map, DATA) {
  "use strict";
  var S = {assign: {}, hh: {}, layers: {}, grids: [], active: 0, undo: [], redo: [], paint: false,
           drawWarnings: {split: 0, outside: 0}};
  var adj = {};
  DATA.adjacency.forEach(function (e) {
    (adj[e[0]] = adj[e[0]] || []).push(e[1]); (adj[e[1]] = adj[e[1]] || []).push(e[0]);
  });
  DATA.grids.forEach(function (g) { S.grids.push({code: g.code, locked: false}); });
  if (!S.grids.length) S.grids.push({code: null, locked: false});

  function colorOf(i) { return i === null || i === undefined ? "#bbbbbb" : gw.palette(i); }

  // Reference layers: community outline, the starting grid outlines, problems of the start.
  L.geoJSON(DATA.community.geometry, {style: {color: "#000", weight: 2.5, fill: false,
    dashArray: "8 4"}, interactive: false}).addTo(map);
  var outlines = L.layerGroup().addTo(map);
  DATA.grids.forEach(function (g) {
    if (g.geometry) L.geoJSON(g.geometry, {style: {color: colorOf(g.index), weight: 1.5, fill: false,
      dashArray: "2 4"}, interactive: false}).addTo(outlines);
  });
  var problemStyles = {gap: "#ff00ff", overlap: "#8b0000", outside: "#ff7f0e"};
  var problemLayer = L.layerGroup().addTo(map);
  Object.keys(DATA.problems).forEach(function (k) {
    if (DATA.problems[k]) L.geoJSON(DATA.problems[k], {style: {color: problemStyles[k], weight: 2,
      fillOpacity: 0.35, className: "gw-problem gw-problem-" + k}, interactive: false}).addTo(problemLayer);
  });

  // Buildings: the pieces being assigned.
  var buildings = L.geoJSON(DATA.buildings, {
    style: function (f) {
      return {weight: f.properties.split ? 3 : 1, color: f.properties.split ? "#d62728" : "#333",
              fillOpacity: 0.7, fillColor: colorOf(f.properties.grid),
              className: "gw-bld gw-b-" + f.properties.id};
    },
    onEachFeature: function (f, layer) {
      var id = f.properties.id;
      S.assign[id] = f.properties.grid === null ? null : f.properties.grid;
      S.hh[id] = f.properties.households;
      S.layers[id] = layer;
      layer.bindTooltip(function () {
        var g = S.assign[id];
        return "楼栋 building #" + id + '<br>户数 households: <span class="gw-hh">' +
          gw.esc(S.hh[id]) + "</span><br>网格 grid: " + (g === null ? "无 none" : gw.esc(gridName(g)));
      }, {sticky: true});
      layer.on("click", function () { if (!S.paint) move([id], S.active); });
      layer.on("mouseover", function () { if (S.paint && S.down) move([id], S.active); });
      // The stroke starts on the building under the pointer.
      layer.on("mousedown", function () { if (S.paint) { S.down = true; move([id], S.active); } });
    }
  }).addTo(map);
  gw.count("buildings", Object.keys(S.assign).length);

  function gridName(i) { var g = S.grids[i]; return g.code ? g.code : "新网格 new " + (i + 1); }

  function say(msg, bad) {
    var el = document.getElementById("gw-msg");
    el.textContent = msg; el.className = "gw-msg" + (bad ? " gw-bad" : "");
  }

  // Every change is a list of [building, from, to]; undo applies it backwards.
  function apply(changes, backwards) {
    changes.forEach(function (c) {
      var id = c[0], to = backwards ? c[1] : c[2];
      S.assign[id] = to;
      S.layers[id].setStyle({fillColor: colorOf(to)});
    });
    refresh();
  }
  function move(ids, to) {
    if (to === null || to === undefined) return;
    if (S.grids[to].locked) { say("网格已锁定 grid " + gridName(to) + " is locked", true); return; }
    var changes = [];
    ids.forEach(function (id) {
      var from = S.assign[id];
      if (from === to) return;
      if (from !== null && S.grids[from].locked) return;
      changes.push([id, from, to]);
    });
    if (!changes.length) return;
    S.undo.push(changes); S.redo = [];
    apply(changes, false);
    say("移动 moved " + changes.length + " 楼栋 building(s) → " + gridName(to));
  }
  function clearDrawNotes() { S.drawWarnings = {split: 0, outside: 0}; }
  function undo() {
    var c = S.undo.pop(); clearDrawNotes();
    if (c) { S.redo.push(c); apply(c, true); say("撤销 undone"); } else refresh();
  }
  function redo() {
    var c = S.redo.pop(); clearDrawNotes();
    if (c) { S.undo.push(c); apply(c, false); say("重做 redone"); } else refresh();
  }

  // Ground without buildings (a park, a yard between streets) joins the grid it shares the
  // most edge with, as the server draws the stored grid: the buildings of that grid around
  // it are connected through it.
  function bridged() {
    var extra = {};
    (DATA.bridges || []).forEach(function (piece) {
      var metres = {}, best = null;
      piece.forEach(function (e) {
        var g = S.assign[e[0]];
        if (g === null || g === undefined) return;
        metres[g] = (metres[g] || 0) + e[1];
        if (best === null || metres[g] > metres[best] ||
            (metres[g] === metres[best] && g < best)) best = g;
      });
      var ids = piece.map(function (e) { return e[0]; })
        .filter(function (id) { return S.assign[id] === best; });
      for (var i = 1; i < ids.length; i++) {
        (extra[ids[i - 1]] = extra[ids[i - 1]] || []).push(ids[i]);
        (extra[ids[i]] = extra[ids[i]] || []).push(ids[i - 1]);
      }
    });
    return extra;
  }
  function components(members, extra) {
    var seen = {}, comps = [];
    members.forEach(function (id) {
      if (seen[id]) return;
      var comp = [], stack = [id]; seen[id] = true;
      while (stack.length) {
        var b = stack.pop(); comp.push(b);
        (adj[b] || []).concat(extra[b] || []).forEach(function (n) {
          if (!seen[n] && S.assign[n] === S.assign[id]) { seen[n] = true; stack.push(n); }
        });
      }
      comps.push(comp);
    });
    return comps;
  }

  function refresh() {
    var per = S.grids.map(function () { return {hh: 0, n: 0, members: []}; });
    var gaps = 0;
    Object.keys(S.assign).forEach(function (k) {
      var g = S.assign[k];
      if (g === null) { gaps += 1; return; }
      per[g].hh += S.hh[k]; per[g].n += 1; per[g].members.push(Number(k));
    });
    var disconnected = 0, bands = {under: 0, within: 0, over: 0};
    Object.keys(S.layers).forEach(function (k) {
      var el = S.layers[k].getElement && S.layers[k].getElement();
      if (el) el.classList.remove("gw-disconnected");
    });
    var extra = bridged();
    var rows = per.map(function (p, i) {
      var comps = components(p.members, extra);
      if (comps.length > 1) {
        disconnected += 1;
        comps.sort(function (a, b) { return b.length - a.length; });
        comps.slice(1).forEach(function (c) { c.forEach(function (id) {
          var el = S.layers[id].getElement(); if (el) el.classList.add("gw-disconnected"); }); });
      }
      var band = p.n ? gw.band(p.hh, DATA.min, DATA.max) : "under";
      bands[band] += 1;
      var flags = [];
      if (band !== "within") flags.push(gw.BAND_LABEL[band]);
      if (comps.length > 1) flags.push("不连通 disconnected");
      return '<tr class="gw-grid-row' + (i === S.active ? " gw-sel" : "") + '" data-i="' + i + '">' +
        '<td><input type="radio" name="gw-active" value="' + i + '"' + (i === S.active ? " checked" : "") +
        '><span class="gw-swatch" style="background:' + colorOf(i) + '"></span>' + gw.esc(gridName(i)) +
        '</td><td class="gw-num gw-grid-hh">' + p.hh + '</td><td class="gw-num">' + p.n + "</td>" +
        '<td class="' + (flags.length ? "gw-bad" : "gw-ok") + '">' + (flags.join("，") || "✓") + "</td>" +
        '<td><input type="checkbox" class="gw-lock" data-i="' + i + '"' + (S.grids[i].locked ? " checked" : "") +
        ' title="锁定 lock"></td></tr>';
    });
    document.getElementById("gw-grids").innerHTML = rows.join("");
    document.querySelectorAll("input[name=gw-active]").forEach(function (r) {
      r.addEventListener("change", function () { S.active = Number(r.value); refresh(); });
    });
    document.querySelectorAll("input.gw-lock").forEach(function (c) {
      c.addEventListener("change", function () { S.grids[Number(c.dataset.i)].locked = c.checked; });
    });
    var splitStart = DATA.buildings.features.filter(function (f) { return f.properties.split; }).length;
    var v = {
      gap: gaps + (DATA.problems.gap ? 1 : 0),
      overlap: DATA.problems.overlap ? 1 : 0,
      disconnected: disconnected,
      split: splitStart,
      outside: DATA.problems.outside ? 1 : 0
    };
    var names = {gap: "缺口 gap", overlap: "重叠 overlap", disconnected: "不连通 disconnected grid",
                 split: "拆分楼栋 split building", outside: "越界 out of bounds"};
    var html = Object.keys(v).map(function (k) {
      return '<div class="' + (v[k] ? "gw-bad" : "gw-ok") + '" data-kind="' + k + '">' + names[k] +
        ": " + v[k] + "</div>";
    });
    // What the last drawn boundary did not do (it moves whole buildings only): a note, not
    // a violation of the plan; undo or another edit clears it.
    var w = S.drawWarnings, notes = [];
    if (w.split) notes.push("边界切过 " + w.split + " 栋楼，未移动 the boundary cut " + w.split +
                            " building(s); they were not moved");
    if (w.outside) notes.push("边界越出社区 the boundary leaves the community");
    if (notes.length) html.push('<div class="gw-warn" data-kind="draw">' + notes.join("<br>") + "</div>");
    document.getElementById("gw-violations").innerHTML = html.join("");
    window.gwState.grids = per.map(function (p, i) {
      return {code: S.grids[i].code, households: p.hh, buildings: p.n, locked: S.grids[i].locked};
    });
    window.gwState.violations = v;
    window.gwState.bands = bands;
  }

  // Leaflet.draw: a drawn or reshaped boundary moves every building inside it.
  function inside(pt, ring) {
    var x = pt.lng, y = pt.lat, hit = false;
    for (var i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      var xi = ring[i].lng, yi = ring[i].lat, xj = ring[j].lng, yj = ring[j].lat;
      if (((yi > y) !== (yj > y)) && (x < (xj - xi) * (y - yi) / (yj - yi) + xi)) hit = !hit;
    }
    return hit;
  }
  function ringsOf(geom) {
    var polys = geom.type === "Polygon" ? [geom.coordinates] : geom.type === "MultiPolygon" ? geom.coordinates : [];
    var out = [];
    polys.forEach(function (p) { out.push(p[0].map(function (c) { return L.latLng(c[1], c[0]); })); });
    return out;
  }
  var communityRings = ringsOf(DATA.community.geometry);
  function byBoundary(layer) {
    var ring = layer.getLatLngs()[0];
    var ids = [], split = 0, outside = 0;
    Object.keys(S.layers).forEach(function (k) {
      var verts = [];
      ringsOf(S.layers[k].feature.geometry).forEach(function (r) { verts = verts.concat(r); });
      var n = verts.filter(function (p) { return inside(p, ring); }).length;
      if (n === verts.length && n > 0) ids.push(Number(k));
      else if (n > 0) split += 1;  // the boundary cuts this building: it is not moved
    });
    ring.forEach(function (p) {
      if (!communityRings.some(function (r) { return inside(p, r); })) outside += 1;
    });
    move(ids, S.active);
    S.drawWarnings = {split: split, outside: outside ? 1 : 0};
    if (split || outside) say("移动 moved " + ids.length + " 楼栋 building(s); see the note below 见下方提示", true);
    refresh();
  }
  // The drawn shape stays (so it can be reshaped) but lets clicks through to the buildings
  // under it: folium's Draw plugin otherwise answers a click on it with an alert of its
  // GeoJSON, and the building below cannot be clicked.
  function passClicks(layer) {
    setTimeout(function () {
      layer.off("click");
      var el = layer.getElement && layer.getElement();
      if (el) el.style.pointerEvents = "none";
      if (layer.setStyle) layer.setStyle({fill: false, dashArray: "6 4"});
    }, 0);
  }
  map.on("draw:created", function (e) { byBoundary(e.layer); passClicks(e.layer); });
  map.on("draw:edited", function (e) {
    e.layers.eachLayer(function (l) { byBoundary(l); passClicks(l); });
  });

  // Paint mode: hold the mouse button and sweep over buildings.
  map.on("mousedown", function () { S.down = true; });
  map.on("mouseup", function () { S.down = false; });
  document.addEventListener("mouseup", function () { S.down = false; });
  document.getElementById("gw-paint").addEventListener("click", function (ev) {
    S.paint = !S.paint;
    ev.target.classList.toggle("gw-on", S.paint);
    if (S.paint) map.dragging.disable(); else map.dragging.enable();
  });
  document.getElementById("gw-undo").addEventListener("click", undo);
  document.getElementById("gw-redo").addEventListener("click", redo);
  document.getElementById("gw-new").addEventListener("click", function () {
    S.grids.push({code: null, locked: false}); S.active = S.grids.length - 1; refresh();
  });

  function payload() {
    var lists = S.grids.map(function () { return []; });
    Object.keys(S.assign).forEach(function (k) { if (S.assign[k] !== null) lists[S.assign[k]].push(Number(k)); });
    return {community: DATA.community.code, min_households: DATA.min, max_households: DATA.max,
            base_version: DATA.version,
            grids: S.grids.map(function (g, i) { return {code: g.code, building_ids: lists[i], locked: g.locked}; })
                     .filter(function (g) { return g.building_ids.length; })};
  }
  function post(url, body) {
    return gw.getJSON(url, {method: "POST", headers: {"Content-Type": "application/json"},
                            body: JSON.stringify(body)});
  }
  // Household bounds: start from the plan's own (the page's), changed here, judged live.
  function setBounds() {
    var lo = Number(document.getElementById("gw-min").value);
    var hi = Number(document.getElementById("gw-max").value);
    var ok = [lo, hi].every(function (v) { return Number.isInteger(v) && v >= 0 && v <= 1000000; });
    if (!ok || lo > hi) {
      say("户数范围无效 household bounds must be whole numbers 0–1000000 with min ≤ max", true);
      return;
    }
    DATA.min = lo; DATA.max = hi;
    say("户数范围 households [" + lo + ", " + hi + "]");
    refresh();
  }
  ["gw-min", "gw-max"].forEach(function (id) {
    document.getElementById(id).addEventListener("input", setBounds);
  });
  document.getElementById("gw-save").addEventListener("click", function () {
    say("保存中 saving…");
    post("/plans/draft", payload()).then(function (r) {
      window.gwState.saved = r;
      S.savedGrids = r.grids || [];
      var flagged = (r.summary && r.summary.flagged) || 0;
      say("已存为草案 saved as draft plan #" + r.plan_id + (flagged ? "（" + flagged +
          " 个网格有问题 grid(s) flagged）" : ""), flagged > 0);
      showPlan(r.plan_id);
    }).catch(function (e) { window.gwState.saveError = e.message; say("保存失败 save failed: " + e.message, true); });
  });
  // A saved draft is reviewed (the editor opened on it), committed or discarded from here.
  function showPlan(id) {
    var box = document.getElementById("gw-plan");
    if (!box) return;
    box.hidden = false; box.dataset.plan = id;
    document.getElementById("gw-plan-review").href = "/maps/editor?community=" +
      encodeURIComponent(DATA.community.code) + "&plan=" + id + "&min=" + DATA.min + "&max=" + DATA.max;
  }
  function planAction(method, verb, done, body) {
    var id = document.getElementById("gw-plan").dataset.plan;
    var opts = {method: method};
    if (body) { opts.headers = {"Content-Type": "application/json"}; opts.body = JSON.stringify(body); }
    gw.getJSON("/plans/" + id + (method === "POST" ? "/commit" : ""), opts).then(function (r) {
      document.getElementById("gw-plan").hidden = true;
      window.gwState.planAction = {verb: verb, result: r};
      say(done(r));
    }).catch(function (e) { say(verb + "失败 failed: " + e.message, true); });
  }
  var commitBtn = document.getElementById("gw-commit");
  // The confirm names the saved draft's flagged grids; a grid in pieces is committed only
  // when the planner confirms it by name (the server refuses it otherwise).
  function commitQuestion() {
    var flagged = (S.savedGrids || []).filter(function (g) { return (g.flags || []).length; });
    var pieces = flagged.filter(function (g) { return g.flags.indexOf("disconnected") >= 0; })
      .map(function (g) { return g.code; });
    var lines = flagged.map(function (g) { return "  " + g.code + ": " + g.flags.join(", "); });
    var text = "提交草案，替换本社区现行网格？ Commit the draft as the community's grids?";
    if (lines.length) text += "\n\n有问题的网格 flagged grids:\n" + lines.join("\n");
    if (pieces.length) text += "\n\n不连通的网格 grids in several pieces: " + pieces.join(", ") +
      "\n仍要提交？ Commit them anyway?";
    window.gwState.commitQuestion = text;
    return {text: text, pieces: pieces.length > 0};
  }
  if (commitBtn) commitBtn.addEventListener("click", function () {
    var q = commitQuestion();
    if (!window.confirm(q.text)) return;
    planAction("POST", "提交 commit ", function (r) {
      var d = r.duties || {}, gaps = r.staffing_gaps || [];
      return "已提交 committed: 版本 version " + r.version + "，" + r.grids + " 个网格 grids；职责 duties: " +
        (d.carried || 0) + " 随辖区转入 carried, " + (d.ended || 0) + " 结束 ended" +
        (gaps.length ? "；人手不足 short of staff: " + gaps.map(function (g) { return g.grid; }).join(", ") : "") +
        ". 刷新页面查看 reload to see it";
    }, q.pieces ? {allow_disconnected: true} : null);
  });
  var discardBtn = document.getElementById("gw-discard");
  if (discardBtn) discardBtn.addEventListener("click", function () {
    planAction("DELETE", "放弃 discard ", function () { return "草案已放弃 draft discarded"; });
  });
  document.getElementById("gw-rebalance").addEventListener("click", function () {
    say("重新平衡中 rebalancing…");
    var body = payload();
    post("/plans/rebalance", body).then(function (r) {
      var changes = [];
      (r.grids || []).forEach(function (g) {
        var i = S.grids.findIndex(function (x) { return x.code && x.code === g.code; });
        if (i < 0) { S.grids.push({code: g.code, locked: false}); i = S.grids.length - 1; }
        (g.building_ids || []).forEach(function (id) {
          if (S.assign[id] !== i) changes.push([id, S.assign[id], i]);
        });
      });
      if (changes.length) { S.undo.push(changes); S.redo = []; apply(changes, false); }
      say("已重新平衡 rebalanced: " + changes.length + " 楼栋 moved");
    }).catch(function (e) { say("重新平衡不可用 rebalance unavailable: " + e.message, true); });
  });
  refresh();
  map.fitBounds(buildings.getBounds().isValid() ? buildings.getBounds() :
                L.geoJSON(DATA.community.geometry).getBounds(), {padding: [10, 10]});
  window.gwEditor = {state: S, move: move, undo: undo, redo: redo, payload: payload};
  window.gwState.ready = true;
}
