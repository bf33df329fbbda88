// Web chat page: talks to /webhooks/web/webhook, /webhooks/web/photo and /webhooks/web/inbox,
// and reads the map's settings (map.json) and landmarks (landmarks.geojson) (relative URLs).
"use strict";

(function () {
  const MAX_PHOTO_BYTES = 10 * 1024 * 1024;
  // A photo's preview is kept with the saved log as a copy this many pixels at most on its longer
  // side (some 15 KB): the blob: URL of the file picked dies with the page.
  const KEPT_PREVIEW_PX = 320;
  const HUE_CENTER = [16.4637, 107.5909];
  const TEXT = {
    offline: "Không kết nối được với máy chủ. Bạn vui lòng kiểm tra mạng và thử lại.",
    failed: "Xin lỗi, đã có lỗi xảy ra. Bạn vui lòng thử lại.",
    photoTooBig: "Ảnh quá lớn (tối đa 10 MB), vui lòng chọn ảnh nhỏ hơn.",
    noGps: "Không lấy được vị trí hiện tại. Bạn vui lòng chạm vào bản đồ để chọn.",
    outside: "Điểm này nằm ngoài địa bàn thành phố Huế.",
    pickedLocation: "Vị trí đã chọn trên bản đồ",
    pickOnMap: "🗺️ Chọn trên bản đồ",
    tapToPick: "Chạm vào bản đồ để chọn nơi xảy ra sự việc.",
    noTiles: "Không tải được bản đồ nền: bản đồ chỉ có ranh giới, tên phường, xã và các địa danh.",
    typing: "Trợ lý đang trả lời…",
    photoSent: "(ảnh đã gửi)",
  };
  const SENDER_KEY = "hue-webchat-sender";
  const LOG_KEY = "hue-webchat-log";
  // How often an open page asks for what the assistant said unprompted (a report's code, sent
  // once the report reached the city).
  const INBOX_EVERY_MS = 5000;

  const $ = (id) => document.getElementById(id);
  const log = $("log");
  const form = $("composer");
  const input = $("text");
  const photoInput = $("photo-input");
  const panel = $("map-panel");
  const hint = $("map-hint");
  const sendPick = $("map-send");
  const app = document.querySelector(".app");
  // Wide enough for the map beside the chat (style.css's breakpoint): there it opens by itself.
  const wide = window.matchMedia("(min-width: 64rem)");
  const sender = senderId();
  let busy = false;

  // The server keeps one conversation per sender, so the id must survive reloads.
  function senderId() {
    const fresh = () =>
      Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
    try {
      let id = localStorage.getItem(SENDER_KEY);
      if (!/^[A-Za-z0-9_-]{8,64}$/.test(id || "")) {
        id = fresh();
        localStorage.setItem(SENDER_KEY, id);
      }
      return id;
    } catch (e) {
      return fresh(); // storage blocked (private mode): one conversation per page load
    }
  }

  // Messages ------------------------------------------------------------------------------

  // The emergency numbers the assistant gives (113, 114, 115) are called with one tap on a phone.
  // Links are built as elements, never from markup: the text stays text.
  const CALLABLE = /\b(11[345])\b/;

  function withCallLinks(text) {
    const fragment = document.createDocumentFragment();
    text.split(CALLABLE).forEach((part, i) => {
      if (i % 2) {
        const link = document.createElement("a");
        link.href = "tel:" + part;
        link.textContent = part;
        fragment.appendChild(link);
      } else if (part) {
        fragment.appendChild(document.createTextNode(part));
      }
    });
    return fragment;
  }

  function bubble(role, content) {
    const div = document.createElement("div");
    div.className = "msg " + role;
    if (typeof content === "string" && role === "bot") div.appendChild(withCallLinks(content));
    else if (typeof content === "string") div.textContent = content;
    else div.appendChild(content);
    log.appendChild(div);
    div.scrollIntoView({ block: "end" });
    return div;
  }

  function image(src, alt) {
    const img = document.createElement("img");
    img.src = src;
    img.alt = alt;
    // A photo grows once loaded: keep the newest message, not the photo, in view.
    img.addEventListener("load", () => log.lastElementChild.scrollIntoView({ block: "end" }));
    return img;
  }

  async function keepPreview(img, file) {
    try {
      const bitmap = await createImageBitmap(file);
      const scale = Math.min(1, KEPT_PREVIEW_PX / Math.max(bitmap.width, bitmap.height));
      const canvas = document.createElement("canvas");
      canvas.width = Math.max(1, Math.round(bitmap.width * scale));
      canvas.height = Math.max(1, Math.round(bitmap.height * scale));
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      bitmap.close();
      const picked = img.src;
      img.src = canvas.toDataURL("image/jpeg", 0.6);
      URL.revokeObjectURL(picked);
    } catch (e) {
      // a file the browser cannot draw: its preview is replaced by words after a reload
    }
  }

  function showError(text) {
    const line = bubble("error", text);
    line.setAttribute("role", "alert");
  }

  function chips(buttons) {
    const group = document.createElement("div");
    group.className = "chips";
    for (const b of buttons) {
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "chip";
      chip.textContent = b.title;
      chip.dataset.payload = b.payload;
      group.appendChild(chip);
    }
    log.appendChild(group);
    group.scrollIntoView({ block: "end" });
  }

  // The location question's offer of the map: opens it here, sends nothing.
  function mapChip() {
    const group = document.createElement("div");
    group.className = "chips";
    const chip = document.createElement("button");
    chip.type = "button";
    chip.className = "chip map-chip";
    chip.dataset.action = "map";
    chip.textContent = TEXT.pickOnMap;
    group.appendChild(chip);
    log.appendChild(group);
    group.scrollIntoView({ block: "end" });
  }

  // Delegated, so that chips restored from the saved log work too.
  log.addEventListener("click", async (event) => {
    const chip = event.target.closest(".chip");
    if (chip && chip.dataset.action === "map") {
      openMap();
      return;
    }
    if (!chip || chip.disabled || busy) return;
    const group = chip.parentElement;
    setGroupEnabled(group, false);
    if (await send({ message: chip.dataset.payload }, bubble("user", chip.textContent))) {
      chip.classList.add("chosen");
    } else {
      setGroupEnabled(group, true);
    }
  });

  function setGroupEnabled(group, enabled) {
    for (const chip of group.querySelectorAll("button")) chip.disabled = !enabled;
  }

  // Once the assistant has answered, the buttons of its earlier questions answer nothing any
  // more: a tap on one would be read as an answer to the question asked now.
  function retireChips() {
    for (const group of log.querySelectorAll(".chips")) setGroupEnabled(group, false);
  }

  function render(replies) {
    for (const m of replies) {
      if (m.text) bubble("bot", m.text);
      if (m.image) bubble("bot", image(m.image, "Ảnh từ trợ lý"));
      if (m.buttons && m.buttons.length) chips(m.buttons);
      // The assistant's signals (custom): it asks for the place; the report is over (sent,
      // kept for later, refused or cancelled), so the map and its pin have done their work.
      if (m.custom && m.custom.request_location) {
        mapChip();
        if (wide.matches) openMap();
      }
      if (m.custom && m.custom.report_ended) {
        closeMap();
        forgetPick();
      }
    }
  }

  // A reload, or a phone discarding the tab, must not hide where the conversation stands: the log
  // is kept beside the sender id. Its text went in as textContent, so the saved markup is inert.
  function restoreLog() {
    let saved = null;
    try {
      saved = localStorage.getItem(LOG_KEY);
    } catch (e) {
      return;
    }
    if (!saved) return;
    log.innerHTML = saved;
    log.querySelectorAll(".typing, .error").forEach((e) => e.remove());
    // A preview not yet copied (see keepPreview) was a blob: URL of the previous page.
    log.querySelectorAll('img[src^="blob:"]').forEach((img) => img.replaceWith(TEXT.photoSent));
    log.scrollTop = log.scrollHeight;
  }

  function saveLog() {
    try {
      localStorage.setItem(LOG_KEY, log.innerHTML);
    } catch (e) {
      // full or blocked: the saved log is only a convenience
    }
  }

  restoreLog();
  new MutationObserver(saveLog).observe(log, { childList: true, subtree: true, attributes: true });

  $("restart").addEventListener("click", () => {
    if (!confirm("Bắt đầu cuộc trò chuyện mới? Nội dung đang hiển thị sẽ bị xóa.")) return;
    try {
      localStorage.removeItem(LOG_KEY);
      localStorage.removeItem(SENDER_KEY);
    } catch (e) {
      // nothing was saved
    }
    location.reload();
  });

  // One request at a time, so replies always come back in the order things were sent.
  async function post(url, init) {
    busy = true;
    form.classList.add("busy");
    const typing = bubble("bot typing", TEXT.typing);
    try {
      let res;
      try {
        res = await fetch(url, init);
      } catch (e) {
        throw new Error(TEXT.offline);
      }
      const body = await res.json().catch(() => null);
      if (!res.ok) throw new Error((body && body.error) || TEXT.failed);
      return Array.isArray(body) ? body : [];
    } finally {
      typing.remove();
      busy = false;
      form.classList.remove("busy");
    }
  }

  // Sends and renders the replies; on failure marks the user's bubble and explains, returns false.
  async function send(fields, userBubble, url = "webhook") {
    const init =
      fields instanceof FormData
        ? { method: "POST", body: fields }
        : {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ sender, ...fields }),
          };
    try {
      const replies = await post(url, init);
      retireChips();
      render(replies);
      return true;
    } catch (e) {
      userBubble.classList.add("failed");
      showError(e.message);
      return false;
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text || busy) return;
    // The text stays in the box until the server has it: a failed send loses nothing.
    if (await send({ message: text }, bubble("user", text))) {
      if (input.value.trim() === text) input.value = "";
    }
    input.focus();
  });

  photoInput.addEventListener("change", async () => {
    const files = Array.from(photoInput.files);
    photoInput.value = ""; // lets the same photo be chosen again after a failure
    for (const file of files) {
      while (busy) await new Promise((r) => setTimeout(r, 100));
      const shown = image(URL.createObjectURL(file), "Ảnh bạn gửi: " + file.name);
      const preview = bubble("user photo", shown);
      keepPreview(shown, file);
      if (file.size > MAX_PHOTO_BYTES) {
        preview.classList.add("failed");
        showError(TEXT.photoTooBig);
        continue;
      }
      const data = new FormData();
      data.append("sender", sender);
      data.append("file", file, file.name);
      await send(data, preview, "photo");
    }
  });

  // Messages the assistant sent unprompted wait on the server until the page fetches them.
  // Skipped while a request is under way, so that they never land inside its replies.
  async function checkInbox() {
    if (busy || document.visibilityState === "hidden") return;
    try {
      const res = await fetch("inbox?sender=" + encodeURIComponent(sender), { cache: "no-store" });
      const waiting = res.ok ? await res.json() : [];
      if (Array.isArray(waiting)) render(waiting);
    } catch (e) {
      // offline for now: the messages keep waiting for the next try
    }
  }

  checkInbox();
  setInterval(checkInbox, INBOX_EVERY_MS);
  document.addEventListener("visibilitychange", checkInbox);

  // Map -----------------------------------------------------------------------------------

  let map = null;
  let units = null;
  let marker = null;
  let picked = null;
  // Without tiles, the names a citizen can find their way by: units' and landmarks' labels.
  const names = [];
  let fallback = false;

  $("location-button").addEventListener("click", () => (panel.hidden ? openMap() : closeMap()));
  $("map-close").addEventListener("click", closeMap);

  // On a phone the map takes the lower half of the screen, so the chat above it shrinks: its
  // newest lines (the question, a warning) are brought back into view.
  function openMap() {
    panel.hidden = false;
    app.classList.add("with-map");
    $("location-button").setAttribute("aria-expanded", "true");
    if (!map) initMap();
    map.invalidateSize(); // the container had no size while hidden
    log.scrollTop = log.scrollHeight;
  }

  function closeMap() {
    panel.hidden = true;
    app.classList.remove("with-map");
    $("location-button").setAttribute("aria-expanded", "false");
    log.scrollTop = log.scrollHeight;
  }

  function forgetPick() {
    picked = null;
    if (marker) marker.remove();
    marker = null;
    sendPick.disabled = true;
    hint.textContent = TEXT.tapToPick;
  }

  function initMap() {
    // Quarter zoom steps: Huế's long shape fills more of a small map.
    map = L.map("map", { zoomControl: true, attributionControl: true, zoomSnap: 0.25 }).setView(HUE_CENTER, 12);
    map.attributionControl.setPrefix("Leaflet").addAttribution("Ranh giới: vietnam-3d-map (MIT)");
    fetch("map.json")
      .then((res) => res.json())
      .then((base) => (base.tiles && navigator.onLine ? addTiles(base) : showFallback()))
      .catch(showFallback);
    fetch("static/hue_units.geojson")
      .then((res) => res.json())
      .then((data) => {
        units = data.features;
        const layer = L.geoJSON(data, {
          style: { className: "unit", color: "#1f5f8b", weight: 1, fillColor: "#7fb3d5", fillOpacity: 0.12 },
          onEachFeature: (f, l) => l.bindTooltip(f.properties.name, { sticky: true }),
        }).addTo(map);
        map.fitBounds(layer.getBounds(), { animate: false }); // the first view, not a zoom to watch
        // Units' names before landmarks', the small city wards first: they win where labels would
        // overlap (a large commune has room for its name further in).
        const size = (l) => {
          const b = l.getBounds();
          return (b.getNorth() - b.getSouth()) * (b.getEast() - b.getWest());
        };
        const unitNames = layer.getLayers().sort((a, b) => size(a) - size(b)).map((l) =>
          nameLabel(l.getCenter(), l.feature.properties.name.replace(/^(Phường|Xã) /, ""), "unit-label"));
        names.unshift(...unitNames);
        showNames();
      })
      .catch(() => (hint.textContent = "Không tải được ranh giới phường, xã; bạn vẫn có thể chạm để chọn."));
    fetch("landmarks.geojson")
      .then((res) => res.json())
      .then((data) => {
        for (const f of data.features) {
          const [lng, lat] = f.geometry.coordinates;
          const dot = L.circleMarker([lat, lng], { radius: 5, color: "#8a4b08", weight: 2, fillColor: "#f0a500", fillOpacity: 1 });
          dot.bindTooltip(f.properties.name).on("click", (e) => {
            L.DomEvent.stopPropagation(e);
            pick(lat, lng, f.properties.name);
          });
          names.push(dot, nameLabel([lat, lng], f.properties.name, "place-label"));
        }
        showNames();
      })
      .catch(() => {}); // the boundaries and their names are enough to pick a point
    map.on("click", (e) => pick(e.latlng.lat, e.latlng.lng));
    map.on("zoomend", declutter);
  }

  function nameLabel(latlng, text, kind) {
    const span = document.createElement("span");
    span.textContent = text;
    return L.marker(latlng, {
      icon: L.divIcon({ className: "map-label " + kind, html: span, iconSize: null }),
      interactive: false,
      keyboard: false,
    });
  }

  // Tiles draw the city; they come from MAP_TILE_URL while the tile server answers. Offline, with
  // tiles off or refused, the map draws the names itself and says so.
  function addTiles(base) {
    const credit = document.createElement("span");
    credit.textContent = base.attribution || ""; // Leaflet reads attributions as HTML
    const tiles = L.tileLayer(base.tiles, { maxZoom: 19, attribution: credit.innerHTML }).addTo(map);
    tiles.once("tileerror", () => {
      map.removeLayer(tiles);
      showFallback();
    });
  }

  function showFallback() {
    fallback = true;
    $("map").classList.add("no-tiles");
    $("map-note").textContent = TEXT.noTiles;
    $("map-note").hidden = false;
    showNames();
  }

  function showNames() {
    if (!fallback) return;
    for (const layer of names) if (!map.hasLayer(layer)) layer.addTo(map);
    declutter();
  }

  // Leaflet does not place labels: one that would cover another shown before it (units first,
  // then landmarks) waits for a closer zoom.
  function declutter() {
    if (!fallback) return;
    const shown = [];
    for (const layer of names) {
      const el = layer instanceof L.Marker && layer.getElement();
      if (!el) continue;
      const span = el.firstChild;
      span.style.visibility = "";
      const box = span.getBoundingClientRect();
      const overlaps = shown.some((b) => box.left < b.right && b.left < box.right && box.top < b.bottom && b.top < box.bottom);
      if (overlaps) span.style.visibility = "hidden";
      else shown.push(box);
    }
  }

  function pick(lat, lng, place) {
    picked = { latitude: lat, longitude: lng };
    if (marker) marker.setLatLng([lat, lng]);
    else marker = L.marker([lat, lng], { keyboard: false }).addTo(map);
    const unit = unitAt(lat, lng);
    const where = (place ? place + ", " : "") + unit;
    hint.textContent = unit ? "Đã chọn một điểm ở " + where + "." : units ? TEXT.outside : "Đã chọn một điểm.";
    sendPick.disabled = false;
  }

  // Even-odd test over every ring: the shipped boundaries are flattened, holes included.
  function unitAt(lat, lng) {
    for (const f of units || []) {
      const polygons = f.geometry.type === "Polygon" ? [f.geometry.coordinates] : f.geometry.coordinates;
      let inside = false;
      for (const ring of polygons.flat()) {
        for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
          const [xi, yi] = ring[i];
          const [xj, yj] = ring[j];
          if (yi > lat !== yj > lat && lng < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
        }
      }
      if (inside) return f.properties.name;
    }
    return null;
  }

  $("map-here").addEventListener("click", () => {
    if (!navigator.geolocation) {
      hint.textContent = TEXT.noGps;
      return;
    }
    hint.textContent = "Đang lấy vị trí hiện tại…";
    navigator.geolocation.getCurrentPosition(
      (pos) => {
        pick(pos.coords.latitude, pos.coords.longitude);
        map.setView([pos.coords.latitude, pos.coords.longitude], 16);
      },
      () => (hint.textContent = TEXT.noGps),
      { enableHighAccuracy: true, timeout: 15000, maximumAge: 60000 }
    );
  });

  sendPick.addEventListener("click", async () => {
    if (!picked || busy) return;
    sendPick.disabled = true;
    const unit = unitAt(picked.latitude, picked.longitude);
    const label = bubble("user", unit ? "Vị trí: " + unit : TEXT.pickedLocation);
    if (await send({ location: picked }, label)) {
      // A phone needs its screen back for the chat; beside a desktop's chat the pin may stay.
      if (!wide.matches) closeMap();
    } else {
      sendPick.disabled = false;
    }
  });
})();
