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

  // Streets and alleys (DATA.streets: the segments the engine cuts the community by), styled
  // as the grid map styles them (grid_map.js). Added before the buildings, so drawn beneath
  // them, and not interactive: a click or a drawn boundary's point goes through to the
  // building or the map (T63 A: without a basemap the planner could not see the street a
  // boundary should follow).
  var LINE_STYLE = {street: {color: "#666", weight: 2.5}, alley: {color: "#e6a100", weight: 1.5}};
  function lines(kind) {
    var style = L.extend({opacity: 0.9, className: "gw-way gw-" + kind}, LINE_STYLE[kind]);
    return L.geoJSON(DATA.streets || null, {
      interactive: false,
      filter: function (f) { return f.properties.kind === kind; },
      style: function () { return style; }
    }).addTo(map);
  }
  var streets = lines("street"), alleys = lines("alley");
  gw.count("streets", streets.getLayers().length);
  gw.count("alleys", alleys.getLayers().length);
  function swatch(kind) {
    return '<span class="gw-line-swatch" style="border-top:' + LINE_STYLE[kind].weight + "px solid " +
      LINE_STYLE[kind].color + '"></span>';
  }
  gw.layerControl({}).addOverlay(streets, swatch("street") + "街 streets")
    .addOverlay(alleys, swatch("alley") + "小巷 alleys").addTo(map);

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
      layer.on("click", function () { if (!S.paint) clickMove(id); });
      layer.on("mouseover", function () { if (S.paint && S.down) move([id], S.active); });
      // The stroke starts on the building under the pointer.
      layer.on("mousedown", function () { if (S.paint) { S.down = true; move([id], S.active); } });
    }
  }).addTo(map);
  gw.count("buildings", Object.keys(S.assign).length);

  // A starting grid whose stored outline is in several parts is in pieces, as the commit
  // names it (geo/plans.py _in_pieces: the engine's "multipart", a draft's "disconnected"),
  // though its buildings join on this page's drawing: flagged until its buildings change
  // (then the page's own drawing, which a save stores, judges it). WHY (T46 #19): the panel
  // said 不连通 disconnected grid: 0 for a grid the commit named in pieces.
  var startKey = {}, startParts = {};
  (function () {
    var held = {};
    Object.keys(S.assign).forEach(function (k) {
      var g = S.assign[k];
      if (g !== null) (held[g] = held[g] || []).push(Number(k));
    });
    DATA.grids.forEach(function (g) {
      var geom = g.geometry;
      startParts[g.index] = !geom ? 1 : geom.type === "MultiPolygon" ? geom.coordinates.length : 1;
      startKey[g.index] = memberKey(held[g.index] || []);
    });
  })();
  function memberKey(ids) { return ids.slice().sort(function (a, b) { return a - b; }).join(","); }
  function storedInPieces(i, members) {
    return startParts[i] > 1 && startKey[i] === memberKey(members);
  }

  // A grid as the panel names it (its code, or a new one's number), and as a message's
  // Chinese and English name it: "网格 110…001" / "grid 110…001", "新网格 3" / "new grid 3"
  // (T38 L5: "新网格 new 3" gave the number in the English only).
  function gridName(i) { var g = S.grids[i]; return g.code ? g.code : "新网格 " + (i + 1) + " new grid " + (i + 1); }
  function gridZh(i) { var g = S.grids[i]; return g.code ? "网格 " + g.code : "新网格 " + (i + 1); }
  function gridEn(i) { var g = S.grids[i]; return g.code ? "grid " + g.code : "new grid " + (i + 1); }

  // A plan's flags as the panel words them (the commit confirm listed raw keys).
  // [Chinese, English] of each flag and of each reason after its colon.
  var FLAG_LABEL = {under_min: ["不足", "under"], over_max: ["超出", "over"],
                    disconnected: ["不连通", "disconnected"], multipart: ["多块", "in several parts"],
                    elongated: ["狭长", "elongated"]};
  var FLAG_WHY = {single_building: ["单栋楼超上限，无法拆分", "one building over max, cannot be split"],
                  enclosed_block: ["独立地块户数不足", "a separate piece with too few households"],
                  area_below_min: ["区域总户数不足下限", "the whole area has too few households"],
                  no_whole_number_of_grids: ["户数无法整分", "no whole number of grids fits"],
                  unresolved: ["未找到合适划分", "no fit found"]};
  // lang 0: Chinese, 1: English; none: both, as the panel's status column says it
  function flagText(flag, lang) {
    var k = String(flag).split(":");
    function part(table, key) {
      var t = table[key] || [key, key];
      return lang === undefined ? t[0] + " " + t[1] : t[lang];
    }
    var label = part(FLAG_LABEL, k[0]);
    if (k.length < 2) return label;
    return lang === 1 ? label + " (" + part(FLAG_WHY, k[1]) + ")" : label + "（" + part(FLAG_WHY, k[1]) + "）";
  }

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
  // Moves ``ids`` into grid ``to``: how many moved (-1: ``to`` is locked, and said so).
  function move(ids, to) {
    if (to === null || to === undefined) return 0;
    clearDrawNotes();  // the last boundary's note is about the last action only
    if (S.grids[to].locked) {
      say(gridZh(to) + " 已锁定，不能移入楼栋 " + gridEn(to) + " is locked", true);
      refresh();
      return -1;
    }
    var changes = [];
    ids.forEach(function (id) {
      var from = S.assign[id];
      if (from === to) return;
      if (from !== null && S.grids[from].locked) return;
      changes.push([id, from, to]);
    });
    if (!changes.length) return 0;
    S.undo.push(changes); S.redo = [];
    apply(changes, false);
    say("已将 " + changes.length + " 栋楼移入" + gridZh(to) + " moved " + changes.length +
        " building(s) to " + gridEn(to));
    return changes.length;
  }
  // A click on a building that moves nothing says why, in place of the last action's message.
  function clickMove(id) {
    var to = S.active, from = S.assign[id];
    if (move([id], to) !== 0) return;
    if (from === to) {
      say("楼栋 #" + id + " 已在" + gridZh(to) + "中 building #" + id + " is already in " + gridEn(to));
    } else if (from !== null && from !== undefined && S.grids[from].locked) {
      say(gridZh(from) + " 已锁定，楼栋 #" + id + " 不能移出 " + gridEn(from) + " is locked: building #" +
          id + " cannot leave it", true);
    }
    refresh();
  }
  function clearDrawNotes() { S.drawWarnings = {split: 0, outside: 0}; }
  function undo() {
    var c = S.undo.pop(); clearDrawNotes();
    if (c) { S.redo.push(c); apply(c, true); say("撤销 undone"); } else { say("没有可撤销的操作 nothing to undo"); refresh(); }
  }
  function redo() {
    var c = S.redo.pop(); clearDrawNotes();
    if (c) { S.undo.push(c); apply(c, false); say("重做 redone"); } else { say("没有可重做的操作 nothing to redo"); refresh(); }
  }

  // Ground without buildings (a park, a yard, the strips beside a road) is given out atom by
  // atom as the server draws the stored grid (geo/partition/given.py give_ground, same rule
  // on the same numbers): an atom goes to a neighbouring grid it joins nothing of, or only
  // parts of one group (parts touching or within DATA.ground.gap_m: DATA.ground.near); first
  // to a grid whose parts it joins, then to the grid of most metres, then to the lower grid.
  // When a round gives none out, the first atom with a grid beside it goes to its grid of
  // most metres (ground one grid alone encloses). Returns the building pairs joined through
  // ground, for components().
  function bridged() {
    var G = DATA.ground || {near: [], atoms: []}, atoms = G.atoms, n = atoms.length;
    function uf() {
      var up = {};
      return {
        find: function (x) {
          var r = x;
          while (up[r] !== undefined) r = up[r];
          while (up[x] !== undefined) { var nx = up[x]; up[x] = r; x = nx; }
          return r;
        },
        union: function (x, y) { x = this.find(x); y = this.find(y); if (x !== y) up[x] = y; }
      };
    }
    function gridOf(id) { var g = S.assign[id]; return g === null || g === undefined ? -1 : g; }
    var groups = uf(), parts = uf(), lab = [], k;
    for (k = 0; k < n; k++) lab.push(-1);
    DATA.adjacency.forEach(function (e) {
      var g = gridOf(e[0]);
      if (g >= 0 && g === gridOf(e[1])) {
        groups.union("b" + e[0], "b" + e[1]); parts.union("b" + e[0], "b" + e[1]);
      }
    });
    G.near.forEach(function (e) {
      var g = gridOf(e[0]);
      if (g >= 0 && g === gridOf(e[1])) groups.union("b" + e[0], "b" + e[1]);
    });
    function around(k) {  // per grid beside atom k: metres, its groups and parts there
      var out = {};
      function add(g, m, node) {
        if (g < 0) return;
        var c = out[g] = out[g] || {metres: 0, groups: {}, parts: {}, nGroups: 0, nParts: 0};
        c.metres = c.metres + m;
        var r = groups.find(node), p = parts.find(node);
        if (!c.groups[r]) { c.groups[r] = true; c.nGroups += 1; }
        if (!c.parts[p]) { c.parts[p] = true; c.nParts += 1; }
      }
      atoms[k][0].forEach(function (e) { add(gridOf(e[0]), e[1], "b" + e[0]); });
      atoms[k][1].forEach(function (e) { add(lab[e[0]], e[1], "g" + e[0]); });
      return out;
    }
    function pick(c, oneGroup) {
      var top = null;
      Object.keys(c).forEach(function (key) {
        var g = Number(key), x = c[key];
        if (oneGroup && x.nGroups !== 1) return;
        if (top === null) { top = g; return; }
        var t = c[top], xj = x.nParts > 1, tj = t.nParts > 1;
        if (xj !== tj ? xj : (x.metres !== t.metres ? x.metres > t.metres : g < top)) top = g;
      });
      return top;
    }
    function give(k, g, x) {
      lab[k] = g;
      Object.keys(x.groups).forEach(function (r) { groups.union("g" + k, r); });
      Object.keys(x.parts).forEach(function (p) { parts.union("g" + k, p); });
    }
    var pending = [];
    for (k = 0; k < n; k++) pending.push(k);
    while (pending.length) {
      var passed = [];
      pending.forEach(function (k) {
        var c = around(k), g = pick(c, true);
        if (g === null) passed.push(k); else give(k, g, c[g]);
      });
      if (passed.length === pending.length) {
        var f = -1;
        for (var i = 0; i < passed.length && f < 0; i++) {
          if (Object.keys(around(passed[i])).length) f = i;
        }
        if (f < 0) break;
        var c = around(passed[f]), g = null;
        Object.keys(c).forEach(function (key) {
          var h = Number(key);
          if (g === null || c[key].metres > c[g].metres || (c[key].metres === c[g].metres && h < g)) g = h;
        });
        give(passed[f], g, c[g]);
        passed.splice(f, 1);
      }
      pending = passed;
    }
    var first = {}, extra = {};  // buildings of one drawn part are joined
    for (k = 0; k < n; k++) {
      if (lab[k] < 0) continue;
      atoms[k][0].forEach(function (e) {
        if (gridOf(e[0]) !== lab[k]) return;
        var r = parts.find("b" + e[0]);
        if (first[r] === undefined) { first[r] = e[0]; return; }
        if (first[r] === e[0]) return;
        (extra[first[r]] = extra[first[r]] || []).push(e[0]);
        (extra[e[0]] = extra[e[0]] || []).push(first[r]);
      });
    }
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

  // A grid with no buildings is not sent, so the saved draft has no such grid: said in its
  // row, in the problem list, and in the save message; saving asks first when it is a grid
  // with a code (T38 L6: it showed "0 … 不足 under" and vanished on save). A new grid not
  // given a building is said to be dropped the same way (T63 C: it read 不会保存 before the
  // save and nothing after it, while the save message had named the grids by the codes the
  // draft gave them).
  function heldGrids() {
    var held = S.grids.map(function () { return false; });
    Object.keys(S.assign).forEach(function (k) { if (S.assign[k] !== null) held[S.assign[k]] = true; });
    return held;
  }
  // A grid of the community (its code not one a draft saved here gave it) with no building.
  function emptyGrids() {
    var held = heldGrids();
    return S.grids.filter(function (g, i) { return g.code && !g.givenBy && !held[i]; })
      .map(function (g) { return g.code; });
  }
  // Positions of the new grids holding no building: never saved, or only in a draft saved
  // here (its code is given up when a save leaves it out, so no later grid shares it).
  function emptyNew() {
    var held = heldGrids(), out = [];
    S.grids.forEach(function (g, i) { if ((!g.code || g.givenBy) && !held[i]) out.push(i); });
    return out;
  }
  // Once saved (or committed) without it, and nothing changed since, the grid was removed:
  // its row and note say so, not "will be removed when saved" (T39 L3). S.savedAs is the
  // draft saved here, the grids it removed (codes), the new grids it dropped (positions)
  // and the version it was committed as; a discard clears it.
  function removedNote(code) {
    var done = S.savedAs && !unsaved() && S.savedAs.removed.indexOf(code) >= 0 ? S.savedAs : null;
    if (done && done.version) {
      return "网格 " + code + " 已无楼栋，已在第 " + done.version + " 版中删除（草案 #" + done.plan +
        " 已提交） grid " + code + " had no buildings left: it was removed in version " +
        done.version + " (draft #" + done.plan + " committed)";
    }
    if (done) {
      return "网格 " + code + " 已无楼栋，已在草案 #" + done.plan + " 中删除 grid " + code +
        " had no buildings left: it was removed in draft #" + done.plan;
    }
    return "网格 " + code + " 已无楼栋，保存时将删除 grid " + code +
      " has no buildings left: it will be removed when saved";
  }
  function droppedNote(i) {
    var done = S.savedAs && !unsaved() && S.savedAs.dropped.indexOf(i) >= 0 ? S.savedAs : null;
    if (done && done.version) {
      return gridZh(i) + " 尚无楼栋，已在第 " + done.version + " 版中删除（草案 #" + done.plan +
        " 已提交） " + gridEn(i) + " had no buildings: it was dropped from version " +
        done.version + " (draft #" + done.plan + " committed)";
    }
    if (done) {
      return gridZh(i) + " 尚无楼栋，已在草案 #" + done.plan + " 中删除 " + gridEn(i) +
        " had no buildings: it was dropped from draft #" + done.plan;
    }
    return gridZh(i) + " 尚无楼栋，保存时将删除 " + gridEn(i) +
      " has no buildings: it will be dropped when saved";
  }
  // A row's status when it holds no building: named, Chinese first (T39 L3: 「已无楼栋，保存时
  // 将删除 no buildings left: removed when saved」 named no grid and still said so after the
  // save had removed it).
  function emptyNote(i) {
    var g = S.grids[i];
    return g.code && !g.givenBy ? removedNote(g.code) : droppedNote(i);
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
      var stored = comps.length <= 1 && p.n > 0 && storedInPieces(i, p.members);
      if (stored) disconnected += 1;
      if (comps.length > 1) {
        disconnected += 1;
        comps.sort(function (a, b) { return b.length - a.length; });
        comps.slice(1).forEach(function (c) { c.forEach(function (id) {
          var el = S.layers[id].getElement(); if (el) el.classList.add("gw-disconnected"); }); });
      }
      var band = p.n ? gw.band(p.hh, DATA.min, DATA.max) : null;
      if (band) bands[band] += 1;  // a grid with no building is in no band: it is not saved
      var flags = [];
      var alone = p.members.some(function (id) { return S.hh[id] > DATA.max; });
      if (!p.n) flags.push(emptyNote(i));  // not "0 … 不足 under": it is not saved at all
      else if (band !== "within") flags.push(band === "over" && alone ? flagText("over_max:single_building") : gw.BAND_LABEL[band]);
      if (comps.length > 1) flags.push("不连通 disconnected");
      if (stored) flags.push(flagText("multipart") + "（现存轮廓 as stored）");
      // a grid with no building (emptied, or new) reads "—", not 0 households and 0 buildings
      // as if it were a grid of the plan (T39 L3)
      var hh = p.n ? p.hh : "—", nb = p.n ? p.n : "—";
      // an old version or a stale draft: the plan's own count and flags beside today's
      // (maps/editor.py, T43 #10): its flags in short, in full on hover
      var kept = DATA.stored && S.grids[i].code ? DATA.stored[S.grids[i].code] : null;
      var keptFlags = kept ? kept.flags : [];
      var storedCell = !DATA.stored ? "" : '<td class="gw-num gw-grid-stored' +
        (keptFlags.length ? " gw-bad" : "") + '" title="' +
        gw.esc(keptFlags.map(function (f) { return flagText(f); }).join("；")) + '">' +
        (kept ? kept.households + (keptFlags.length ? " " + gw.esc(keptFlags.map(function (f) {
          return (FLAG_LABEL[String(f).split(":")[0]] || [String(f)])[0];
        }).join("、")) : "") : "—") + "</td>";
      return '<tr class="gw-grid-row' + (i === S.active ? " gw-sel" : "") + (p.n ? "" : " gw-grid-empty") +
        '" data-i="' + i + '">' +
        '<td><input type="radio" name="gw-active" value="' + i + '"' + (i === S.active ? " checked" : "") +
        '><span class="gw-swatch" style="background:' + colorOf(i) + '"></span>' + gw.esc(gridName(i)) +
        '</td><td class="gw-num gw-grid-hh">' + hh + "</td>" + storedCell + '<td class="gw-num">' + nb + "</td>" +
        '<td class="' + (!p.n ? "gw-warn" : flags.length ? "gw-bad" : "gw-ok") + '">' +
        gw.esc(flags.join("，") || "✓") + "</td>" +
        '<td><input type="checkbox" class="gw-lock" data-i="' + i + '"' + (S.grids[i].locked ? " checked" : "") +
        ' title="锁定 lock"></td></tr>';
    });
    document.getElementById("gw-grids").innerHTML = rows.join("");
    document.querySelectorAll("input[name=gw-active]").forEach(function (r) {
      r.addEventListener("change", function () {
        S.active = Number(r.value); clearDrawNotes();
        say("已选中" + gridZh(S.active) + " selected " + gridEn(S.active));
        refresh();
      });
    });
    document.querySelectorAll("input.gw-lock").forEach(function (c) {
      c.addEventListener("change", function () {
        var i = Number(c.dataset.i);
        S.grids[i].locked = c.checked; clearDrawNotes();
        say(c.checked ? gridZh(i) + " 已锁定 " + gridEn(i) + " locked" : gridZh(i) + " 已解锁 " + gridEn(i) + " unlocked");
        refresh();
      });
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
    var emptied = emptyGrids();
    emptied.forEach(function (code) {
      html.push('<div class="gw-warn" data-kind="empty" data-code="' + gw.esc(code) + '">' +
                gw.esc(removedNote(code)) + "</div>");
    });
    emptyNew().forEach(function (i) {
      html.push('<div class="gw-warn" data-kind="empty-new" data-i="' + i + '">' +
                gw.esc(droppedNote(i)) + "</div>");
    });
    document.getElementById("gw-violations").innerHTML = html.join("");
    window.gwState.emptyGrids = emptied;
    window.gwState.grids = per.map(function (p, i) {
      return {code: S.grids[i].code, households: p.hh, buildings: p.n, locked: S.grids[i].locked};
    });
    window.gwState.violations = v;
    window.gwState.bands = bands;
  }

  // Leaflet.draw: a drawn boundary is a one-shot action. The buildings wholly inside it move
  // into the grid selected at that moment (one step of the undo history, as a click is),
  // and the shape is then taken off the map: nothing drawn stays to be reshaped or deleted
  // (the toolbar offers neither: maps/editor.py), so no shape can disagree with the grids
  // after an undo or redo. WHY (T63 B): a kept boundary, reshaped later, moved its
  // buildings into the grid selected at the time of the reshape, not its own; buildings
  // now outside it stayed; shapes outlived undo; and the delete tool could not pick them.
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
    var moved = move(ids, S.active);
    S.drawWarnings = {split: split, outside: outside ? 1 : 0};
    if (moved === 0) {  // nothing to move: said, not the last action's message left standing
      var to = S.active;
      say("边界内没有可移入" + gridZh(to) + "的楼栋（" + ids.length + " 栋在内） the boundary moved " +
          "no building to " + gridEn(to) + " (" + ids.length + " inside)", true);
    } else if (moved > 0 && (split || outside)) {
      say("已移动 " + moved + " 栋楼，见下方提示 moved " + moved + " building(s); see the note below", true);
    }
    refresh();
  }
  // The shape as drawn goes: folium's Draw keeps it in its group of drawn items (added by
  // its own handlers, which run before this one; again after them, whatever the order).
  function dropShape(layer) {
    function drop() {
      var holders = [];
      map.eachLayer(function (g) { if (g instanceof L.LayerGroup && g.hasLayer(layer)) holders.push(g); });
      holders.forEach(function (g) { g.removeLayer(layer); });
      if (map.hasLayer(layer)) map.removeLayer(layer);
    }
    drop();
    setTimeout(drop, 0);
  }
  map.on("draw:created", function (e) { byBoundary(e.layer); dropShape(e.layer); });

  // Paint mode: hold the mouse button and sweep over buildings.
  map.on("mousedown", function () { S.down = true; });
  map.on("mouseup", function () { S.down = false; });
  document.addEventListener("mouseup", function () { S.down = false; });
  // Each action replaces the message line and the last boundary's note (T63 D: after ＋新网格
  // the last boundary's 「已移动 6 栋楼，见下方提示」 and its note stayed on screen).
  document.getElementById("gw-paint").addEventListener("click", function (ev) {
    S.paint = !S.paint;
    ev.target.classList.toggle("gw-on", S.paint);
    if (S.paint) map.dragging.disable(); else map.dragging.enable();
    clearDrawNotes();
    say(S.paint ? "涂刷已开启：按住鼠标划过楼栋，归入" + gridZh(S.active) + " paint on: sweep over buildings " +
        "with the button held to move them to " + gridEn(S.active)
      : "涂刷已关闭 paint off");
    refresh();
  });
  document.getElementById("gw-undo").addEventListener("click", undo);
  document.getElementById("gw-redo").addEventListener("click", redo);
  document.getElementById("gw-new").addEventListener("click", function () {
    S.grids.push({code: null, locked: false}); S.active = S.grids.length - 1;
    clearDrawNotes();
    say("已添加" + gridZh(S.active) + "并选中，点击楼栋归入 added " + gridEn(S.active) +
        " and selected it: click buildings to move them into it");
    refresh();
  });

  // The plan as sent: grids without buildings are left out; index[k] is the editor's grid
  // of the k-th grid sent (a rebalance answers with the grid each result continues).
  function payloadOf() {
    var lists = S.grids.map(function () { return []; });
    Object.keys(S.assign).forEach(function (k) { if (S.assign[k] !== null) lists[S.assign[k]].push(Number(k)); });
    var index = [], grids = [];
    S.grids.forEach(function (g, i) {
      if (!lists[i].length) return;
      index.push(i); grids.push({code: g.code, building_ids: lists[i], locked: g.locked});
    });
    return {index: index, body: {community: DATA.community.code, min_households: DATA.min,
            max_households: DATA.max, base_version: DATA.version, grids: grids}};
  }
  function payload() { return payloadOf().body; }

  // Unsaved work: the page's plan (every building's grid, the bounds) differs from the one
  // last saved, committed or discarded here (or opened). Leaving then asks first.
  function snapshot() {
    return JSON.stringify([DATA.min, DATA.max, Object.keys(S.assign).map(function (k) { return S.assign[k]; })]);
  }
  function unsaved() { return snapshot() !== S.baseline; }
  window.addEventListener("beforeunload", function (e) {
    if (!unsaved() || window.gwState.signingOut) return undefined;  // sign-out asked itself
    e.preventDefault();
    e.returnValue = "";  // older browsers ask only when this is set
    return "";
  });

  // The editor's API calls: the answer's body, or an Error with the answer's status.
  function call(method, url, body) {
    var opts = {method: method};
    if (body) { opts.headers = {"Content-Type": "application/json"}; opts.body = JSON.stringify(body); }
    return gw.request(url, opts).then(function (res) {
      if (res.ok) return res.body;
      var e = new Error((res.body && res.body.error) || ("HTTP " + res.status));
      e.status = res.status;
      throw e;
    });
  }
  // A failed call said in the planner's words. A 401 is a sign-in that expired mid-edit (the
  // API's "send 'Authorization: Bearer'" hint is for scripts): the edits stay on this page,
  // and signing in again in another tab lets the same button work.
  function sayFailed(what, again, e) {
    if (e.status !== 401) { say(what[0] + "失败 " + what[1] + " failed: " + e.message, true); return; }
    window.gwState.signInExpired = true;
    var el = document.getElementById("gw-msg");
    el.className = "gw-msg gw-bad";
    el.innerHTML = "登录已过期，" + what[0] + "未完成；本页的修改仍保留。请" +
      '<a id="gw-signin" href="/login?next=' + encodeURIComponent("/maps/editor") +
      '" target="_blank" rel="noopener">在新标签页重新登录 sign in again in a new tab</a>，' +
      "再回到本页点“" + again[0] + "”。 Your sign-in has expired (" + what[1] + " not done); " +
      "your edits are kept on this page. Sign in again in the new tab, then press " + again[1] +
      " here again.";
  }
  // Household bounds: start from the plan's own (the page's), changed here, judged live.
  // The refusal names the values and the rule they break, in the Chinese too (T38 L5: the
  // values were in neither part); an emptied input is said, not read as 0.
  function boundsProblem(rawLo, rawHi) {
    var rule = "（须为 0–1000000 的整数，下限不大于上限） " +
      "household bounds must be whole numbers 0–1000000 with min ≤ max";
    var sides = [["下限", "min", rawLo], ["上限", "max", rawHi]];
    for (var k = 0; k < sides.length; k++) {
      var zh = sides[k][0], en = sides[k][1], raw = String(sides[k][2]).trim(), v = Number(raw);
      if (raw === "") return "户数范围无效：" + zh + "为空" + rule + " (" + en + " is empty)";
      if (!Number.isInteger(v) || v < 0 || v > 1000000) {
        return "户数范围无效：" + zh + " " + raw + " 不是 0–1000000 的整数" + rule +
          " (" + en + " " + raw + " is not a whole number 0–1000000)";
      }
    }
    var lo = Number(rawLo), hi = Number(rawHi);
    if (lo > hi) {
      return "户数范围无效：下限 " + lo + " 大于上限 " + hi + rule + " (min " + lo + " > max " + hi + ")";
    }
    return "";
  }
  function setBounds() {
    var rawLo = document.getElementById("gw-min").value, rawHi = document.getElementById("gw-max").value;
    var problem = boundsProblem(rawLo, rawHi);
    window.gwState.boundsProblem = problem;
    if (problem) { say(problem, true); return; }
    var lo = Number(rawLo), hi = Number(rawHi);
    DATA.min = lo; DATA.max = hi;
    say("户数范围已设为 [" + lo + ", " + hi + "] household bounds set to [" + lo + ", " + hi + "]");
    refresh();
  }
  ["gw-min", "gw-max"].forEach(function (id) {
    document.getElementById(id).addEventListener("input", setBounds);
  });
  document.getElementById("gw-save").addEventListener("click", function () {
    // grids emptied by the edits leave the draft: asked first, named after (T38 L6)
    var removed = emptyGrids();
    if (removed.length && !window.confirm(
      "保存后将删除已无楼栋的网格：" + removed.join("、") + "。仍要保存？\n" +
      "Saving removes the grid(s) with no buildings left: " + removed.join(", ") + ". Save anyway?")) {
      say("未保存。要保留网格 " + removed.join("、") + "，请先移入楼栋 not saved: to keep grid(s) " +
          removed.join(", ") + ", move a building into each first");
      return;
    }
    say("保存中 saving…");
    var sent = snapshot(), body = payloadOf(), dropped = emptyNew();
    // opened on a stored draft: its grids left as they were keep its outlines, not ones
    // redrawn from their buildings (maps/editor.py outlines_plan); the answer's
    // outlines.plan says so
    if (DATA.outlines_plan) body.body.outlines_plan = DATA.outlines_plan;
    var droppedNames = dropped.map(function (i) { return [gridZh(i), gridEn(i)]; });
    window.gwState.saveError = null;
    call("POST", "/plans/draft", body.body).then(function (r) {
      window.gwState.saved = r;
      S.baseline = sent;
      // A new grid is called by the code the draft gave it from now on, as the save message
      // and the draft call it (T63 C: the message said 110108015002010 不足 of the grid the
      // panel still called 新网格 11). Saved again, it keeps that code; a discard of the
      // draft gives it back its 新网格 name (givenBy), and so does a save that leaves it out
      // empty (the next draft may give its code to another new grid).
      (r.grids || []).forEach(function (g, k) {
        var mine = S.grids[body.index[k]];
        if (!mine || !g.code) return;
        if (!mine.code) { mine.code = g.code; mine.givenBy = r.plan_id; } else if (mine.givenBy) mine.givenBy = r.plan_id;
      });
      dropped.forEach(function (i) { S.grids[i].code = null; delete S.grids[i].givenBy; });
      S.savedAs = {plan: r.plan_id, removed: removed, dropped: dropped, version: null};
      refresh();  // the removed grids' rows: removed, no longer "will be removed"
      say(savedText(r, removed, droppedNames), savedFlagged(r).length > 0);
      showPlan(r.plan_id, r.grids || [], {commit: true, discard: true, review: true});
    }).catch(function (e) {
      window.gwState.saveError = e.message;
      sayFailed(["保存", "save"], ["存为草案", "save as draft"], e);
    });
  });
  // The save's message: the draft's number, its flagged grids (each with what is wrong) and
  // the grids it removed, all in the Chinese, then in the English (T38 L5, L6).
  function savedFlagged(r) { return (r.grids || []).filter(function (g) { return (g.flags || []).length; }); }
  function savedText(r, removed, dropped) {
    var flagged = savedFlagged(r), zh = [], en = [];
    function says(g, lang) {
      return g.code + " " + g.flags.map(function (f) { return flagText(f, lang); }).join(lang ? ", " : "、");
    }
    if (flagged.length) {
      zh.push(flagged.length + " 个网格有问题：" + flagged.map(function (g) { return says(g, 0); }).join("；"));
      en.push(flagged.length + " grid(s) flagged: " + flagged.map(function (g) { return says(g, 1); }).join("; "));
    }
    if (removed.length) {
      zh.push("已删除无楼栋的网格 " + removed.join("、"));
      en.push("removed grid(s) with no buildings: " + removed.join(", "));
    }
    if (dropped.length) {
      zh.push("已删除无楼栋的" + dropped.map(function (n) { return n[0]; }).join("、"));
      en.push("dropped " + dropped.map(function (n) { return n[1]; }).join(", ") + " with no buildings");
    }
    // the same grids as an open draft: the server stored no copy and says which draft it
    // is (与草案 #N 相同，未另存: POST /plans/draft's existing answer, T63 #3)
    if (r.existing && r.message) return r.message + (zh.length ? "（" + zh.join("；") + "） " + en.join("; ") : "");
    return "已存为草案 #" + r.plan_id + (zh.length ? "（" + zh.join("；") + "）" : "") +
      " saved as draft plan #" + r.plan_id + (en.length ? " (" + en.join("; ") + ")" : "");
  }
  // A draft is reviewed (the editor opened on it), committed or discarded from here: the
  // one just saved, or the one the page was opened on (a stale one: discard only).
  function showPlan(id, grids, can) {
    var box = document.getElementById("gw-plan");
    if (!box) return;
    S.savedGrids = grids;
    box.hidden = false; box.dataset.plan = id;
    document.getElementById("gw-plan-name").textContent = "草案 #" + id + " draft #" + id;
    var review = document.getElementById("gw-plan-review");
    review.hidden = !can.review;
    review.href = "/maps/editor?community=" + encodeURIComponent(DATA.community.code) + "&plan=" +
      id + "&min=" + DATA.min + "&max=" + DATA.max;
    document.getElementById("gw-commit").hidden = !can.commit;
    document.getElementById("gw-discard").hidden = !can.discard;
  }
  function planAction(method, what, done, body) {
    var id = document.getElementById("gw-plan").dataset.plan;
    call(method, "/plans/" + id + (method === "POST" ? "/commit" : ""), body).then(function (r) {
      document.getElementById("gw-plan").hidden = true;
      S.baseline = snapshot();
      // a committed draft's removed grids are gone for good; a discarded one's are not
      S.savedAs = method === "POST" && S.savedAs && String(S.savedAs.plan) === String(id)
        ? {plan: S.savedAs.plan, removed: S.savedAs.removed, dropped: S.savedAs.dropped,
           version: r.version} : null;
      // the codes the draft gave new grids: theirs for good once committed; discarded, the
      // grids are new again (their codes were the draft's only)
      S.grids.forEach(function (g) {
        if (String(g.givenBy) !== String(id)) return;
        if (method !== "POST") g.code = null;
        delete g.givenBy;
      });
      window.gwState.planAction = {verb: what[1], result: r};
      say(done(r));
      refresh();
    }).catch(function (e) { sayFailed(what, what, e); });
  }
  var commitBtn = document.getElementById("gw-commit");
  // The confirm names the draft's flagged grids as the panel words them; a grid in pieces
  // is committed only when the planner confirms it by name (the server refuses it
  // otherwise). What is committed is the saved draft, not edits made since.
  function commitQuestion() {
    var id = document.getElementById("gw-plan").dataset.plan;
    var flagged = (S.savedGrids || []).filter(function (g) { return (g.flags || []).length; });
    var pieces = flagged.filter(function (g) { return g.flags.indexOf("disconnected") >= 0; })
      .map(function (g) { return g.code; });
    var lines = flagged.map(function (g) { return "  " + g.code + ": " + g.flags.map(function (f) { return flagText(f); }).join("，"); });
    var text = "提交草案 #" + id + "，替换本社区现行网格？ Commit draft #" + id + " as the community's grids?";
    if (unsaved()) text += "\n\n本页有未保存的修改，不会提交；要提交它们请先存为草案。" +
      "\nThe page has unsaved edits: they are not committed (save them as a draft first).";
    if (lines.length) text += "\n\n有问题的网格（" + lines.length + " 个） flagged grids (" +
      lines.length + "):\n" + lines.join("\n");
    if (pieces.length) text += "\n\n不连通的网格：" + pieces.join("、") + "，仍要提交？ " +
      "grids in several pieces: " + pieces.join(", ") + ". Commit them anyway?";
    window.gwState.commitQuestion = text;
    return {text: text, pieces: pieces.length > 0};
  }
  // one term for a short-staffed grid: the grid map's 缺员网格 (T71 #3)
  if (commitBtn) commitBtn.addEventListener("click", function () {
    var q = commitQuestion();
    if (!window.confirm(q.text)) return;
    planAction("POST", ["提交", "commit"], function (r) {
      var d = r.duties || {}, gaps = (r.staffing_gaps || []).map(function (g) { return g.grid; });
      return "已提交：第 " + r.version + " 版，" + r.grids + " 个网格；职责 " + (d.carried || 0) +
        " 项随辖区转入，" + (d.ended || 0) + " 项结束" + (gaps.length ? "；缺员网格：" + gaps.join("、") : "") +
        "。刷新页面查看。 committed: version " + r.version + ", " + r.grids + " grids; duties: " +
        (d.carried || 0) + " carried, " + (d.ended || 0) + " ended" +
        (gaps.length ? "; short-staffed grids: " + gaps.join(", ") : "") + ". Reload to see it.";
    }, q.pieces ? {allow_disconnected: true} : null);
  });
  var discardBtn = document.getElementById("gw-discard");
  if (discardBtn) discardBtn.addEventListener("click", function () {
    var id = document.getElementById("gw-plan").dataset.plan;
    if (!window.confirm("放弃草案 #" + id + "？ Discard draft #" + id + "?")) return;
    planAction("DELETE", ["放弃", "discard"], function () { return "草案 #" + id + " 已放弃 draft #" + id + " discarded"; });
  });
  document.getElementById("gw-rebalance").addEventListener("click", function () {
    say("重新平衡中 rebalancing…");
    var sent = payloadOf();
    call("POST", "/plans/rebalance", sent.body).then(function (r) {
      // each result grid continues the grid it was matched to (its code and colour); a
      // grid that continues none is a new one
      var changes = [];
      (r.grids || []).forEach(function (g) {
        var i = g.source === null || g.source === undefined ? undefined : sent.index[g.source];
        if (i === undefined) { S.grids.push({code: g.code, locked: false}); i = S.grids.length - 1; }
        (g.building_ids || []).forEach(function (id) {
          if (S.assign[id] !== i) changes.push([id, S.assign[id], i]);
        });
      });
      if (changes.length) { S.undo.push(changes); S.redo = []; apply(changes, false); } else refresh();
      window.gwState.rebalanced = {moved: changes.length};
      say("已重新平衡：移动 " + changes.length + " 栋楼 rebalanced: " + changes.length + " building(s) moved");
    }).catch(function (e) { sayFailed(["重新平衡", "rebalance"], ["平衡其余", "rebalance the rest"], e); });
  });

  // Opened on a plan (?plan=N): what it is decides what the page offers. A draft on the
  // current grids: commit and discard; a stale draft: discard; the committed plan the
  // community's grids came from: edited and saved as they are. What the start is (a
  // committed plan and its version, replaced or not, a stale draft) the server has already
  // said in the page (maps/editor.py), so it is right before this runs.
  function openedOn(id) {
    call("GET", "/plans/" + encodeURIComponent(id)).then(function (p) {
      // a stale draft, or one made on other buildings, households or streets (T63 #1: its
      // commit is refused; saved again, it counts today's): discard or save, no commit
      var stale = p.base_version !== DATA.current_version || !!p.outdated;
      var grids = ((p.features && p.features.features) || []).map(function (f) {
        return {code: f.properties.code, flags: f.properties.flags || []};
      });
      if (p.status === "draft") showPlan(p.plan_id, grids, {commit: !stale, discard: true, review: false});
      window.gwState.plan = {id: p.plan_id, status: p.status, stale: DATA.stale,
                             commit: p.status === "draft" && !stale, discard: p.status === "draft"};
    }).catch(function (e) {
      window.gwState.plan = {id: Number(id), error: e.message};
      sayFailed(["读取方案", "reading the plan"], ["刷新", "reload"], e);
    });
  }
  refresh();
  S.baseline = snapshot();
  if (DATA.stale) {  // a stale start can only be discarded: saving or rebalancing it only
    // failed, with advice (reload) that reopened the same stale draft (outside tester M2)
    ["gw-save", "gw-rebalance"].forEach(function (id) {
      var b = document.getElementById(id);
      b.disabled = true;
      b.title = "此方案已过期，不能保存或平衡：请放弃它，或打开现行网格编辑 " +
        "stale: it cannot be saved or rebalanced; discard it, or open the current grids";
    });
  }
  var opened = new URLSearchParams(window.location.search).get("plan");
  if (opened) openedOn(opened);
  map.fitBounds(buildings.getBounds().isValid() ? buildings.getBounds() :
                L.geoJSON(DATA.community.geometry).getBounds(), {padding: [10, 10]});
  window.gwEditor = {state: S, move: move, undo: undo, redo: redo, payload: payload, unsaved: unsaved};
  window.gwState.ready = true;
}
