// The list's map: one pin a listed report, overdue ones in red. Tiles are a bonus: when none are
// configured, or they fail to load (offline), the pins stay on a plain background with a note.
(function () {
  "use strict";
  const element = document.getElementById("map");
  const pins = JSON.parse(document.getElementById("pins").textContent || "[]");
  if (!element || typeof L === "undefined") return;
  const note = document.getElementById("map-note");
  const map = L.map(element, { scrollWheelZoom: false });
  // Huế's centre when no listed report has a place.
  map.setView([16.4637, 107.5909], 12);
  const tileUrl = element.dataset.tiles;
  if (tileUrl) {
    // Leaflet reads an attribution as HTML; the configured one is plain text.
    const credit = document.createElement("span");
    credit.textContent = element.dataset.attribution || "";
    const tiles = L.tileLayer(tileUrl, { maxZoom: 19, attribution: credit.innerHTML });
    tiles.once("tileerror", () => { map.removeLayer(tiles); note.hidden = false; });
    tiles.addTo(map);
  } else {
    note.hidden = false;
  }
  const points = [];
  for (const pin of pins) {
    const icon = L.divIcon({ className: "map-pin" + (pin.overdue ? " late" : ""), iconSize: [14, 14] });
    const marker = L.marker([pin.lat, pin.long], { icon: icon, title: pin.code }).addTo(map);
    const link = document.createElement("a");
    link.href = "/console/" + pin.url;
    link.textContent = pin.code + " · " + pin.state;
    marker.bindPopup(link);
    points.push([pin.lat, pin.long]);
  }
  if (points.length) map.fitBounds(points, { padding: [24, 24], maxZoom: 16 });
})();
