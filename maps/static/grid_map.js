/* gridward grid map page: gwGridMap(map, DATA) is called by the page. */
function gwGridMap(map, DATA) {
  "use strict";
  var min = DATA.min, max = DATA.max;
  function lo(p) { return p.min === undefined ? min : p.min; }
  function hi(p) { return p.max === undefined ? max : p.max; }
  // Community outlines with their names: grid codes repeat from one community to the next.
  // Each name has several spots inside its community (maps/grid_map.py label_spots, the most
  // inward first); gwAreaLabelPlacer picks one per view (T65 F3).
  var areaLabels = [];
  var estimateOf = {};  // community code -> what its level-2/3 grids' hover adds (T65 F4)
  var areas = L.geoJSON(DATA.communities, {
    interactive: false,
    style: function () { return {color: "#7b1fa2", weight: 3, dashArray: "8 5", fill: false,
                                 className: "gw-community"}; },
    onEachFeature: function (f, layer) {
      var spots = (f.properties.label_at || []).length ? f.properties.label_at
        : [layer.getBounds().getCenter()];
      var t = L.tooltip({permanent: true, direction: "center", className: "gw-area-label",
                         interactive: false})
        .setLatLng(spots[0]).setContent(gw.esc(f.properties.name));
      t.gwSpots = spots;
      areaLabels.push(t);
      estimateOf[f.properties.code] = f.properties.estimate || "";
    }
  });
  var communities = L.layerGroup([areas].concat(areaLabels));
  gw.count("communities", DATA.communities.features.length);
  // A grid's label is made on the server (maps/grid_map.py grid_labels): its number, after
  // its community's short name on every grid of a map of several communities (T38 L15).
  function label(p) { return p.label || p.code; }
  var labels = L.layerGroup();
  var drawn = 0, toLabel = [];
  var level1 = L.geoJSON(DATA.grids, {
    style: function (f) {
      // each grid by its community's current plan's bounds (maps/grid_map.py, T46 #12)
      var band = gw.band(f.properties.households, lo(f.properties), hi(f.properties));
      var style = {color: "#333", weight: 1.5, fillColor: gw.COLORS[band], fillOpacity: 0.45,
                   className: "gw-grid gw-band-" + band};
      // short of staff (no leader, or too few full-time workers): a heavy dashed outline
      if (f.properties.short) {
        style = Object.assign(style, DATA.shortLine);
        style.className += " gw-short";
      }
      return style;
    },
    onEachFeature: function (f, layer) {
      var p = f.properties;
      drawn += 1;
      var workers = (p.workers || []).map(gw.esc).join("、") || "—";
      // the names are of full-time and part-time workers together (map_data.grids_geojson);
      // the bare 网格员 beside 专职网格员 read as two kinds of staff (T71 #10)
      var workersLabel = (p.workers || []).length > Number(p.full_time || 0)
        ? "专职、兼职网格员 full- and part-time workers: " : "专职网格员 full-time workers: ";
      layer.bindTooltip(
        '<div class="gw-tip" data-code="' + gw.esc(p.code) + '">' +
        "<b>网格 grid " + gw.esc(p.code) + "</b><br>" +
        (p.community_name ? "社区 community: " + gw.esc(p.community_name) + "<br>" : "") +
        '户数 households: <span class="gw-hh">' + gw.esc(p.households) + "</span>" +
        '<span class="gw-estimate">' + gw.esc(p.estimate || "") + "</span><br>" +
        "楼栋 buildings: " + gw.esc(p.building_count) + "<br>" +
        "网格长 leader: " + (p.leader ? gw.esc(p.leader) : '<span class="gw-bad">无 none</span>') +
        "<br>" +
        workersLabel + workers + "<br>" +
        // what is short first (in red), then the full-time workers against the ratio
        (p.staff || []).map(function (line, i) {
          return '<span class="gw-staff' + (p.short && i === 0 ? " gw-bad" : "") + '">' +
            gw.esc(line) + "</span><br>";
        }).join("") +
        '户数范围 bounds: <span class="gw-bounds">' + gw.esc(lo(p)) + "–" + gw.esc(hi(p)) +
        "</span><br>" +
        gw.esc(gw.BAND_LABEL[gw.band(p.households, lo(p), hi(p))]) + "</div>", {sticky: true});
      toLabel.push({p: p, layer: layer});
    }
  }).addTo(map);
  // A short grid's outline again, in a pane above the streets and alleys: they load later
  // into the same pane as the grids and hid half of its dashes (T66 N5). Not clickable (the
  // grid under it answers the hover); part of the level-1 layer, so it toggles with it.
  map.createPane("gwShort");
  map.getPane("gwShort").style.zIndex = 450;
  map.getPane("gwShort").style.pointerEvents = "none";
  level1.addLayer(L.geoJSON({type: "FeatureCollection", features: DATA.grids.features.filter(
    function (f) { return f.properties.short; })}, {pane: "gwShort", interactive: false,
    style: function () {
      return Object.assign({}, DATA.shortLine, {fill: false, className: "gw-short-edge"});
    }}));
  // Short-staffed grids' labels first, so the declutter keeps them when room is short (it
  // keeps the earlier of two labels), and their outlines on top of their neighbours'.
  toLabel.sort(function (a, b) { return (b.p.short ? 1 : 0) - (a.p.short ? 1 : 0); });
  toLabel.forEach(function (g) {
    // inside its grid: the centre of the widest circle in it (maps/grid_map.py label_point);
    // the bounding box's centre lay in a neighbour for a bent grid (T65 F3)
    L.tooltip({permanent: true, direction: "center", interactive: false,
               className: "gw-label" + (g.p.short ? " gw-label-short" : "")})
      .setLatLng(g.p.label_at || g.layer.getBounds().getCenter()).setContent(gw.esc(label(g.p)))
      .addTo(labels);
    if (g.p.short) g.layer.bringToFront();
  });
  labels.addTo(map);
  // on at first on a map of several communities (a subdistrict's), where codes repeat
  if (!DATA.community) communities.addTo(map);
  gw.count("grids1", drawn);
  // Fitted at once, before the layers below load for the view: they load once, for it (a
  // fit after them loaded everything twice: tester).
  if (drawn > 0) map.fitBounds(level1.getBounds(), {padding: [10, 10], animate: false});

  function gridStyle(color, dash) {
    return {style: function () { return {color: color, weight: 1, dashArray: dash, fillOpacity: 0.05}; },
            onEachFeature: function (f, l) {
              // its buildings' sources are not on the page: its community's are
              l.bindTooltip("网格 grid " + gw.esc(f.properties.code) + "<br>户数 households: " +
                            gw.esc(f.properties.households) +
                            gw.esc(estimateOf[f.properties.community_code] || ""), {sticky: true});
            }};
  }
  var level2 = gw.bboxLayer(map, "grids2", "/grids?level=2", {geojson: gridStyle("#6a3d9a", "4 3")});
  var level3 = gw.bboxLayer(map, "grids3", "/grids?level=3", {geojson: gridStyle("#b15928", "2 3")});
  var buildings = gw.bboxLayer(map, "buildings", "/buildings", {minZoom: 14, geojson: {
    style: function () { return {color: "#555", weight: 0.6, fillColor: "#999", fillOpacity: 0.5,
                                 className: "gw-building"}; },
    onEachFeature: function (f, l) {
      l.bindTooltip((f.properties.name ? gw.esc(f.properties.name) + "<br>" : "") +
                    "户数 households: " + gw.esc(f.properties.households) +
                    (f.properties.household_source === "estimated" ? gw.esc(DATA.estimated) : ""));
    }}});
  function lineLayer(name, kind, color, weight) {
    return gw.bboxLayer(map, name, "/streets?kind=" + kind, {geojson: {
      style: function () { return {color: color, weight: weight, className: "gw-" + kind}; },
      onEachFeature: function (f, l) { if (f.properties.name) l.bindTooltip(gw.esc(f.properties.name)); }
    }});
  }
  var streets = lineLayer("streets", "street", "#666", 2.5);
  var alleys = lineLayer("alleys", "alley", "#e6a100", 1.5);
  buildings.addTo(map); streets.addTo(map); alleys.addTo(map);
  gw.layerControl({
    "社区 communities": communities,
    "一级网格 level-1 grids": level1,
    "网格编号 grid numbers": labels,
    "二级网格 level-2 grids": level2,
    "三级网格 level-3 grids": level3,
    "楼栋 buildings": buildings,
    "街 streets": streets,
    "小巷 alleys": alleys
  }).addTo(map);
  // community names placed for this view first, then labels that would cover one another
  // are hidden until zoomed in (community names first)
  var place = gwAreaLabelPlacer(map, areaLabels, communities, labels);
  place();
  var declutter = gw.declutter(map, [communities, labels]);
  // a pan changes which spots are in view: placed again, then decluttered again
  map.on("moveend", function () { if (place()) declutter(); });
  gwRangeForm(DATA);
  window.gwState.ready = true;
}

/* Where each community's name goes in the current view: of its spots (inside it, the most
   inward first) the first whose label stays in the map, clear of the map's controls and of
   the names placed before it, covering the fewest grid labels. WHY: one fixed spot put
   清华园东南社区 on another community's name at the opening zoom, so the declutter hid it on
   desktop, tablet and phone (T65 F3). Returns whether a label moved. gwState.areaLabels:
   {shown, crowded, away}: crowded = names with no free spot in view, away = none in view. */
function gwAreaLabelPlacer(map, areaLabels, communities, gridLabels) {
  "use strict";
  function hit(a) {
    return function (b) { return a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom; };
  }
  function rectAt(latlng, el) {  // the label's box if centred on latlng (direction "center")
    var pt = map.latLngToContainerPoint(latlng), w = el.offsetWidth, h = el.offsetHeight;
    return {left: pt.x - w / 2, right: pt.x + w / 2, top: pt.y - h / 2, bottom: pt.y + h / 2};
  }
  function controls() {
    var box = map.getContainer().getBoundingClientRect();
    return Array.from(map.getContainer().querySelectorAll(".leaflet-control")).map(function (c) {
      var r = c.getBoundingClientRect();
      return {left: r.left - box.left, right: r.right - box.left, top: r.top - box.top,
              bottom: r.bottom - box.top};
    }).filter(function (r) { return r.right > r.left && r.bottom > r.top; });
  }
  function place() {
    if (!map.hasLayer(communities)) return false;
    var size = map.getSize(), blocked = controls(), taken = [], grids = [], moved = false;
    var state = {shown: 0, crowded: 0, away: 0};
    if (map.hasLayer(gridLabels)) {
      gridLabels.eachLayer(function (t) {
        var el = t.getElement && t.getElement();
        if (el) grids.push(rectAt(t.getLatLng(), el));
      });
    }
    areaLabels.forEach(function (t) {
      var el = t.getElement && t.getElement();
      if (!el) return;
      var best = null, bestScore = Infinity, bestRect = null, inView = false;
      t.gwSpots.forEach(function (spot, i) {
        var r = rectAt(spot, el), score = i * 0.001;
        var off = r.left < 0 || r.top < 0 || r.right > size.x || r.bottom > size.y;
        if (off) score += 1e6; else inView = true;
        if (taken.some(hit(r)) || blocked.some(hit(r))) score += 1e3;
        score += grids.filter(hit(r)).length;
        if (score < bestScore) { bestScore = score; best = spot; bestRect = r; }
      });
      var now = t.getLatLng(), to = L.latLng(best);
      if (!now || !now.equals(to)) { t.setLatLng(to); moved = true; }
      taken.push(bestRect);
      if (!inView) state.away += 1;
      else if (bestScore >= 1e3) state.crowded += 1;
      else state.shown += 1;
    });
    window.gwState.areaLabels = state;
    var note = document.getElementById("gw-area-note");
    if (note) {
      note.textContent = state.crowded ? state.crowded + " 个社区名称在此缩放级别下放不下，放大后可见 " +
        state.crowded + " community name(s) have no room at this zoom: zoom in to see them" : "";
    }
    return moved;
  }
  map.on("zoomend resize overlayadd", place);  // before the declutter's own run (deferred)
  return place;
}

/* The household range form: checked here before it is sent, as the editor checks its
   bounds (min > max reached the server, which answered with an error page). */
function gwRangeForm(DATA) {
  "use strict";
  var form = document.getElementById("gw-range");
  if (!form) return;
  var lo = document.getElementById("gw-range-min"), hi = document.getElementById("gw-range-max");
  var msg = document.getElementById("gw-range-msg");
  function problem() {
    var a = Number(lo.value), b = Number(hi.value), top = DATA.maxHouseholds;
    if (lo.value === "" || !Number.isInteger(a) || a < 0 || a > top) {
      return "户数下限须为 0–" + top + " 的整数 min must be a whole number 0–" + top;
    }
    if (hi.value === "" || !Number.isInteger(b) || b < 1 || b > top) {
      return "户数上限须为 1–" + top + " 的整数 max must be a whole number 1–" + top;
    }
    // worded as the server's refusal of the same range, the values in the Chinese too (T38 L5)
    if (a > b) {
      return "户数下限大于上限：min（" + a + "）大于 max（" + b + "） min (" + a + ") is greater than max (" + b + ")";
    }
    return "";
  }
  function check() {
    var p = problem();
    lo.setCustomValidity(p);  // the browser's own bubble, and no submit
    msg.textContent = p;
    msg.className = p ? "gw-msg gw-bad" : "";
    window.gwState.rangeProblem = p;
    return !p;
  }
  [lo, hi].forEach(function (el) { el.addEventListener("input", check); });
  form.addEventListener("submit", function (ev) { if (!check()) ev.preventDefault(); });
}
