/* gridward steward map page: gwStewardMap(map, DATA) is called by the page. */
function gwStewardMap(map, DATA) {
  "use strict";
  var colorOf = {};
  // each steward's colour: chosen on the server so that neighbours differ (steward_map.py)
  DATA.stewards.forEach(function (s, i) { colorOf[s.id] = s.color || gw.palette(i); });
  window.gwState.colours = colorOf;
  var byPerson = {};
  var drawn = 0, unstaffed = 0;
  var alleys = L.geoJSON(DATA.alleys, {
    style: function (f) {
      var ids = f.properties.stewards;
      if (!ids.length && !f.properties.community) {  // outside every community: nobody's
        return {color: DATA.outside, weight: 3, dashArray: "2 4",
                className: "gw-alley gw-unstaffed gw-outside"};
      }
      if (!ids.length) return {color: DATA.noSteward, weight: 4, dashArray: "6 4",
                               className: "gw-alley gw-unstaffed"};
      return {color: colorOf[ids[0]] || "#888", weight: 4, className: "gw-alley gw-staffed"};
    },
    onEachFeature: function (f, layer) {
      drawn += 1;
      var ids = f.properties.stewards;
      if (!ids.length) unstaffed += 1;
      ids.forEach(function (id) { (byPerson[id] = byPerson[id] || []).push(layer); });
      var names = ids.map(function (id) { return gw.esc(DATA.names[id] || id); }).join("、");
      // hover: all of this steward's alleys stand out (colours repeat far apart, T65 F9)
      if (ids.length) {
        layer.on("mouseover", function () { highlight(ids[0]); });
        layer.on("mouseout", function () { highlight(null); });
      }
      layer.bindTooltip("<b>" + (f.properties.name ? gw.esc(f.properties.name) : "无名小巷 unnamed alley") +
        "</b><br>长度 length: " + gw.esc(f.properties.length_m) + " m<br>小巷管家 steward: " +
        (names || (f.properties.community ? '<span class="gw-bad">无 none</span>'
          : "无 none · 社区外 not in any community")), {sticky: true});
    }
  }).addTo(map);
  gw.count("alleys", drawn);
  gw.count("unstaffed", unstaffed);
  var selected = null, hovered = null;
  /* One steward's alleys drawn wide, the rest faded, while the pointer is on one of them or
     on the steward's row; off it, back to the selection (select below) or to all. */
  function highlight(id) {
    if (id === hovered) return;
    hovered = id;
    var shown = id === null ? selected : id;
    alleys.eachLayer(function (l) {
      alleys.resetStyle(l);
      l.setStyle({opacity: shown === null ? 1 : 0.25});
    });
    (byPerson[shown] || []).forEach(function (l) { l.setStyle({opacity: 1, weight: 8}); l.bringToFront(); });
    window.gwState.highlighted = id === null ? null : {person: id, alleys: (byPerson[id] || []).length};
  }
  function select(id) {
    alleys.eachLayer(function (l) { alleys.resetStyle(l); l.setStyle({opacity: id === null ? 1 : 0.25}); });
    document.querySelectorAll("tr.gw-click").forEach(function (tr) {
      tr.classList.toggle("gw-sel", String(tr.dataset.person) === String(id));
    });
    selected = id;
    if (id === null) return;
    var mine = byPerson[id] || [];
    mine.forEach(function (l) { l.setStyle({opacity: 1, weight: 8}); l.bringToFront(); });
    if (mine.length) map.fitBounds(L.featureGroup(mine).getBounds(), {padding: [30, 30], maxZoom: 18});
    window.gwState.selected = {person: id, alleys: mine.length};
  }
  document.querySelectorAll("tr.gw-click").forEach(function (tr) {
    tr.addEventListener("click", function () {
      var id = Number(tr.dataset.person);
      hovered = null;
      select(selected === id ? null : id);
    });
    tr.addEventListener("mouseenter", function () { highlight(Number(tr.dataset.person)); });
    tr.addEventListener("mouseleave", function () { highlight(null); });
  });
  var sel = document.getElementById("gw-person");
  if (sel) sel.addEventListener("change", function () { select(sel.value === "" ? null : Number(sel.value)); });
  var streets = gw.bboxLayer(map, "streets", "/streets?kind=street", {geojson: {
    style: function () { return {color: "#999", weight: 2}; }}});
  // fitted before the street layer loads, so it loads once for the fitted view
  if (drawn > 0) map.fitBounds(alleys.getBounds(), {padding: [10, 10], animate: false});
  streets.addTo(map);
  gw.layerControl({"小巷 alleys": alleys, "街 streets": streets}).addTo(map);
  window.gwState.ready = true;
}
