/* gridward grid map page: gwGridMap(map, DATA) is called by the page. */
function gwGridMap(map, DATA) {
  "use strict";
  var min = DATA.min, max = DATA.max;
  var labels = L.layerGroup();
  var drawn = 0;
  var level1 = L.geoJSON(DATA.grids, {
    style: function (f) {
      var band = gw.band(f.properties.households, min, max);
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
        '户数 households: <span class="gw-hh">' + gw.esc(p.households) + "</span><br>" +
        "楼栋 buildings: " + gw.esc(p.building_count) + "<br>" +
        "网格长 leader: " + (p.leader ? gw.esc(p.leader) : "—") + "<br>" +
        "网格员 workers: " + workers + "<br>" +
        gw.esc(gw.BAND_LABEL[gw.band(p.households, min, max)]) + "</div>", {sticky: true});
      L.tooltip({permanent: true, direction: "center", className: "gw-label", interactive: false})
        .setLatLng(layer.getBounds().getCenter()).setContent(gw.esc(p.code.slice(-3)))
        .addTo(labels);
    }
  }).addTo(map);
  labels.addTo(map);
  gw.count("grids1", drawn);

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
    "一级网格 level-1 grids": level1,
    "网格编号 grid codes": labels,
    "二级网格 level-2 grids": level2,
    "三级网格 level-3 grids": level3,
    "楼栋 buildings": buildings,
    "街道 streets": streets,
    "小巷 alleys": alleys
  }).addTo(map);
  if (drawn > 0) map.fitBounds(level1.getBounds(), {padding: [10, 10]});
  window.gwState.ready = true;
}
