/* gridward grid map page: gwGridMap(map, DATA) is called by the page. */
function gwGridMap(map, DATA) {
  "use strict";
  var min = DATA.min, max = DATA.max;
  function lo(p) { return p.min === undefined ? min : p.min; }
  function hi(p) { return p.max === undefined ? max : p.max; }
  // Community outlines with their names: grid codes repeat from one community to the next.
  var areaLabels = [];
  var areas = L.geoJSON(DATA.communities, {
    interactive: false,
    style: function () { return {color: "#7b1fa2", weight: 3, dashArray: "8 5", fill: false,
                                 className: "gw-community"}; },
    onEachFeature: function (f, layer) {
      areaLabels.push(L.tooltip({permanent: true, direction: "center", className: "gw-area-label",
                                 interactive: false})
        .setLatLng(layer.getBounds().getCenter()).setContent(gw.esc(f.properties.name)));
    }
  });
  var communities = L.layerGroup([areas].concat(areaLabels));
  gw.count("communities", DATA.communities.features.length);
  // A grid's label is made on the server (maps/grid_map.py grid_labels): its number, after
  // its community's short name on every grid of a map of several communities (T38 L15).
  function label(p) { return p.label || p.code; }
  var labels = L.layerGroup();
  var drawn = 0;
  var level1 = L.geoJSON(DATA.grids, {
    style: function (f) {
      // each grid by its community's current plan's bounds (maps/grid_map.py, T46 #12)
      var band = gw.band(f.properties.households, lo(f.properties), hi(f.properties));
      return {color: "#333", weight: 1.5, fillColor: gw.COLORS[band], fillOpacity: 0.45,
              className: "gw-grid gw-band-" + band};
    },
    onEachFeature: function (f, layer) {
      var p = f.properties;
      drawn += 1;
      var workers = (p.workers || []).map(gw.esc).join("、") || "—";
      layer.bindTooltip(
        '<div class="gw-tip" data-code="' + gw.esc(p.code) + '">' +
        "<b>网格 grid " + gw.esc(p.code) + "</b><br>" +
        (p.community_name ? "社区 community: " + gw.esc(p.community_name) + "<br>" : "") +
        '户数 households: <span class="gw-hh">' + gw.esc(p.households) + "</span><br>" +
        "楼栋 buildings: " + gw.esc(p.building_count) + "<br>" +
        "网格长 leader: " + (p.leader ? gw.esc(p.leader) : "—") + "<br>" +
        "网格员 workers: " + workers + "<br>" +
        '户数范围 bounds: <span class="gw-bounds">' + gw.esc(lo(p)) + "–" + gw.esc(hi(p)) +
        "</span><br>" +
        gw.esc(gw.BAND_LABEL[gw.band(p.households, lo(p), hi(p))]) + "</div>", {sticky: true});
      L.tooltip({permanent: true, direction: "center", className: "gw-label", interactive: false})
        .setLatLng(layer.getBounds().getCenter()).setContent(gw.esc(label(p)))
        .addTo(labels);
    }
  }).addTo(map);
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
              l.bindTooltip("网格 grid " + gw.esc(f.properties.code) + "<br>户数 households: " +
                            gw.esc(f.properties.households), {sticky: true});
            }};
  }
  var level2 = gw.bboxLayer(map, "grids2", "/grids?level=2", {geojson: gridStyle("#6a3d9a", "4 3")});
  var level3 = gw.bboxLayer(map, "grids3", "/grids?level=3", {geojson: gridStyle("#b15928", "2 3")});
  var buildings = gw.bboxLayer(map, "buildings", "/buildings", {minZoom: 14, geojson: {
    style: function () { return {color: "#555", weight: 0.6, fillColor: "#999", fillOpacity: 0.5,
                                 className: "gw-building"}; },
    onEachFeature: function (f, l) {
      l.bindTooltip((f.properties.name ? gw.esc(f.properties.name) + "<br>" : "") +
                    "户数 households: " + gw.esc(f.properties.households));
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
    "网格编号 grid codes": labels,
    "二级网格 level-2 grids": level2,
    "三级网格 level-3 grids": level3,
    "楼栋 buildings": buildings,
    "街 streets": streets,
    "小巷 alleys": alleys
  }).addTo(map);
  // labels that would cover one another are hidden until zoomed in (community names first)
  gw.declutter(map, [communities, labels]);
  gwRangeForm(DATA);
  window.gwState.ready = true;
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
