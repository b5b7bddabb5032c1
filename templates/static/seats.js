/* The seat page: draws the map, keeps it live from the server-sent stream, and walks a buyer
   through select -> hold (with a countdown) -> confirm. No dependencies, no inline script:
   everything it needs arrives in data-* attributes of #tk-app. */
(function () {
  "use strict";

  var app = document.getElementById("tk-app");
  if (!app) { return; }

  var eventId = app.dataset.eventId;
  var limit = parseInt(app.dataset.limit, 10);
  var lang = app.dataset.lang || "en";
  var queueUrl = app.dataset.queueUrl;
  var S = JSON.parse(app.dataset.strings);

  var money = new Intl.NumberFormat(lang === "ko" ? "ko-KR" : "en-US",
                                    { style: "currency", currency: app.dataset.currency });
  var minorUnits = Math.pow(10, money.resolvedOptions().maximumFractionDigits);

  var mapEl = document.getElementById("tk-map");
  var noticeEl = document.getElementById("tk-notice");
  var liveEl = document.getElementById("tk-live");
  var liveText = document.getElementById("tk-live-text");
  var countEl = document.getElementById("tk-count");
  var pickedEl = document.getElementById("tk-picked");
  var totalEl = document.getElementById("tk-total");
  var holdBtn = document.getElementById("tk-hold");
  var clearBtn = document.getElementById("tk-clear");
  var pickPanel = document.getElementById("tk-pick");
  var heldPanel = document.getElementById("tk-held");
  var countdownEl = document.getElementById("tk-countdown");
  var heldSeatsEl = document.getElementById("tk-held-seats");
  var confirmBtn = document.getElementById("tk-confirm");
  var releaseBtn = document.getElementById("tk-release");
  var bookingsEl = document.getElementById("tk-bookings");
  var leaveBtn = document.getElementById("tk-leave");

  var seats = new Map();      // id -> {id, label, price, status, version, el}
  var selected = new Set();   // ids picked but not yet held
  var hold = null;            // {hold_id, seat_ids, expires_at (ms)}
  var mapVersion = 0;
  var stream = null;
  var timer = null;
  var busy = false;

  function fmt(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) {
      return values[k] === undefined ? "" : String(values[k]);
    });
  }
  function price(minor) { return money.format(minor / minorUnits); }

  function notify(text, kind) {
    if (!text) { noticeEl.className = "notice hidden"; noticeEl.textContent = ""; return; }
    noticeEl.className = "notice notice-" + (kind || "ok");
    noticeEl.textContent = text;
  }

  function idempotencyKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return (b < 16 ? "0" : "") + b.toString(16);
    }).join("");
  }

  function api(method, path, body, headers) {
    var init = { method: method, credentials: "same-origin",
                 headers: Object.assign({ "Accept": "application/json" }, headers || {}) };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return fetch(path, init).then(function (resp) {
      if (resp.status === 204 || resp.status === 304) { return { status: resp.status, body: null }; }
      return resp.json().then(function (data) { return { status: resp.status, body: data }; },
                              function () { return { status: resp.status, body: null }; });
    });
  }

  function handleError(res) {
    var code = res.body && res.body.error;
    if (res.status === 401) {
      notify(S.session_over, "bad");
      window.setTimeout(function () { window.location.href = queueUrl; }, 2500);
    } else if (code === "seats_unavailable") {
      var labels = (res.body.seat_ids || []).map(function (id) {
        var s = seats.get(id); return s ? s.label : "#" + id;
      });
      (res.body.seat_ids || []).forEach(function (id) {
        selected.delete(id);
        var s = seats.get(id);
        if (s && s.status === "free") { s.status = "held"; paint(s); }
      });
      notify(fmt(S.taken, { seats: labels.join(", ") }), "bad");
    } else if (code === "limit_exceeded" || code === "too_many_seats") {
      notify(fmt(S.limit, { limit: limit }), "warn");
    } else if (code === "busy") {
      notify(S.busy, "warn");
    } else if (code === "hold_expired" || code === "hold_released") {
      notify(S.expired, "warn");
      endHold();
    } else if (code === "sale_not_open" || code === "sale_closed") {
      notify(S[code], "warn");
    } else if (res.status === 503) {
      notify(S.unavailable, "warn");
    } else {
      notify(S.error, "bad");
    }
    refreshBar();
  }

  /* ---- the map ---------------------------------------------------------------------- */
  function seatClass(s) {
    if (hold && hold.seat_ids.indexOf(s.id) >= 0 && s.status === "held") { return "mine"; }
    if (s.status === "free" && selected.has(s.id)) { return "selected"; }
    return s.status;
  }

  function paint(s) {
    var cls = seatClass(s);
    s.el.className = "tk-seat tk-" + cls;
    s.el.dataset.status = s.status;
    s.el.disabled = !(s.status === "free" && !hold);
    s.el.setAttribute("aria-pressed", cls === "selected" ? "true" : "false");
  }

  function build(list) {
    var sectionLabel = mapEl.dataset.labelSection;
    var rowLabel = mapEl.dataset.labelRow;
    mapEl.textContent = "";
    var sections = new Map();
    list.forEach(function (seat) {
      if (!sections.has(seat.section)) { sections.set(seat.section, new Map()); }
      var rows = sections.get(seat.section);
      if (!rows.has(seat.row)) { rows.set(seat.row, []); }
      rows.get(seat.row).push(seat);
    });
    // Seats shrink with the widest row of the map, so every section fits a phone screen at
    // one seat size (seats.css turns --cols into the seat width).
    var widest = 0;
    sections.forEach(function (rows) {
      rows.forEach(function (rowSeats) { widest = Math.max(widest, rowSeats.length); });
    });
    mapEl.style.setProperty("--cols", String(widest));
    sections.forEach(function (rows, name) {
      var sec = document.createElement("div");
      sec.className = "tk-section";
      var title = document.createElement("h3");
      title.className = "tk-section-name";
      var first = rows.values().next().value[0];
      title.textContent = sectionLabel + " " + name + " · " + price(first.price);
      sec.appendChild(title);
      var grid = document.createElement("div");
      grid.className = "tk-rows";

      rows.forEach(function (rowSeats, row) {
        var rowEl = document.createElement("div");
        rowEl.className = "tk-row";
        var label = document.createElement("span");
        label.className = "tk-row-label";
        label.textContent = row;
        label.title = rowLabel + " " + row;
        rowEl.appendChild(label);
        rowSeats.sort(function (a, b) { return a.number - b.number; });
        rowSeats.forEach(function (seat) {
          var el = document.createElement("button");
          el.type = "button";
          el.textContent = seat.number;
          el.dataset.id = seat.id;
          el.setAttribute("aria-label", seat.label + ", " + price(seat.price));
          el.title = seat.label + " · " + price(seat.price);
          var s = { id: seat.id, label: seat.label, price: seat.price, status: seat.status,
                    version: seat.version, el: el };
          seats.set(seat.id, s);
          paint(s);
          rowEl.appendChild(el);
        });
        grid.appendChild(rowEl);
      });
      sec.appendChild(grid);
      mapEl.appendChild(sec);
    });
    mapEl.setAttribute("aria-busy", "false");
    showScrollHint();
  }

  // A hall wider than the screen (seats never shrink below 18px) scrolls sideways: say so.
  function showScrollHint() {
    var hint = document.getElementById("tk-scroll-hint");
    if (hint) { hint.classList.toggle("hidden", mapEl.scrollWidth <= mapEl.clientWidth + 1); }
  }
  window.addEventListener("resize", showScrollHint);

  function applyChange(id, status, version) {
    var s = seats.get(id);
    if (!s || (version !== undefined && version <= s.version)) { return; }
    s.version = version;
    var was = s.status;
    s.status = status;
    if (status !== "free" && selected.has(id)) {
      selected.delete(id);
      notify(fmt(S.taken, { seats: s.label }), "bad");
    }
    if (was !== status) { paint(s); }
  }

  function loadMap() {
    return api("GET", "/api/events/" + eventId + "/seats").then(function (res) {
      if (res.status !== 200) { handleError(res); return; }
      mapVersion = res.body.version;
      if (seats.size === 0) {
        build(res.body.seats);
      } else {
        res.body.seats.forEach(function (seat) { applyChange(seat.id, seat.status, seat.version); });
      }
      refreshBar();
    });
  }

  /* ---- live updates ----------------------------------------------------------------- */
  function setLive(ok) {
    liveEl.dataset.state = ok ? "live" : "connecting";
    liveText.textContent = ok ? S.live : S.reconnecting;
  }

  function openStream() {
    if (!window.EventSource) { return; }
    stream = new EventSource("/api/events/" + eventId + "/seats/stream?since=" + mapVersion);
    stream.addEventListener("open", function () { setLive(true); });
    stream.addEventListener("error", function () { setLive(false); });
    stream.addEventListener("seats", function (e) {
      var data = JSON.parse(e.data);
      data.seats.forEach(function (c) {
        applyChange(c.id, c.status, c.version);
        if (c.version > mapVersion) { mapVersion = c.version; }
      });
      refreshBar();
    });
    stream.addEventListener("resync", function () { loadMap(); });
  }

  /* ---- selection, hold, confirm ------------------------------------------------------ */
  mapEl.addEventListener("click", function (e) {
    var el = e.target.closest ? e.target.closest(".tk-seat") : null;
    if (!el || hold) { return; }
    var s = seats.get(parseInt(el.dataset.id, 10));
    if (!s || s.status !== "free") { return; }
    if (selected.has(s.id)) {
      selected.delete(s.id);
    } else if (selected.size >= limit) {
      notify(fmt(S.limit, { limit: limit }), "warn");
      return;
    } else {
      selected.add(s.id);
    }
    notify("");
    paint(s);
    refreshBar();
  });

  function refreshBar() {
    var ids = Array.from(selected);
    var total = ids.reduce(function (sum, id) { return sum + seats.get(id).price; }, 0);
    countEl.textContent = fmt(S.selected, { n: ids.length, limit: limit });
    pickedEl.textContent = ids.map(function (id) { return seats.get(id).label; }).join(", ");
    totalEl.textContent = ids.length ? price(total) : "–";
    holdBtn.disabled = busy || !ids.length;
    clearBtn.disabled = busy || !ids.length;
    confirmBtn.disabled = busy;
    releaseBtn.disabled = busy;
    pickPanel.classList.toggle("hidden", !!hold);
    heldPanel.classList.toggle("hidden", !hold);
  }

  clearBtn.addEventListener("click", function () {
    var ids = Array.from(selected);
    selected.clear();
    ids.forEach(function (id) { paint(seats.get(id)); });
    refreshBar();
  });

  holdBtn.addEventListener("click", function () {
    var ids = Array.from(selected).sort(function (a, b) { return a - b; });
    if (!ids.length || busy) { return; }
    busy = true;
    holdBtn.textContent = S.holding;
    refreshBar();
    api("POST", "/api/events/" + eventId + "/holds", { seat_ids: ids },
        { "Idempotency-Key": idempotencyKey() }).then(function (res) {
      busy = false;
      holdBtn.textContent = S.hold;
      if (res.status !== 201) { handleError(res); return; }
      notify("");
      startHold(res.body);
    }, function () { busy = false; holdBtn.textContent = S.hold; notify(S.error, "bad"); refreshBar(); });
  });

  function startHold(body) {
    hold = { hold_id: body.hold_id, seat_ids: body.seat_ids,
             expires_at: Date.parse(body.expires_at) };
    selected.clear();
    body.seat_ids.forEach(function (id) {
      var s = seats.get(id);
      if (s) { s.status = "held"; }
    });
    seats.forEach(paint);
    heldSeatsEl.textContent = body.seat_ids.map(function (id) {
      var s = seats.get(id); return s ? s.label : "#" + id;
    }).join(", ");
    tick();
    timer = window.setInterval(tick, 250);
    refreshBar();
  }

  function tick() {
    if (!hold) { return; }
    var left = Math.max(0, Math.round((hold.expires_at - Date.now()) / 1000));
    countdownEl.textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
    countdownEl.classList.toggle("tk-urgent", left <= 30);
    if (left <= 0) {
      notify(S.expired, "warn");
      endHold();
      loadMap();
    }
  }

  function endHold() {
    if (timer) { window.clearInterval(timer); timer = null; }
    hold = null;
    seats.forEach(paint);
    refreshBar();
  }

  confirmBtn.addEventListener("click", function () {
    if (!hold || busy) { return; }
    busy = true;
    refreshBar();
    api("POST", "/api/holds/" + hold.hold_id + "/confirm").then(function (res) {
      busy = false;
      if (res.status !== 201) { handleError(res); return; }
      hold.seat_ids.forEach(function (id) {
        var s = seats.get(id);
        if (s) { s.status = "sold"; }
      });
      endHold();
      notify(fmt(S.booked, { id: res.body.booking_id }), "ok");
      loadBookings();
    }, function () { busy = false; notify(S.error, "bad"); refreshBar(); });
  });

  releaseBtn.addEventListener("click", function () {
    if (!hold || busy) { return; }
    busy = true;
    var ids = hold.seat_ids;
    api("DELETE", "/api/holds/" + hold.hold_id).then(function (res) {
      busy = false;
      if (res.status !== 204) { handleError(res); return; }
      ids.forEach(function (id) { var s = seats.get(id); if (s) { s.status = "free"; } });
      endHold();
      notify("");
    }, function () { busy = false; notify(S.error, "bad"); refreshBar(); });
  });

  /* ---- bookings ---------------------------------------------------------------------- */
  function loadBookings() {
    return api("GET", "/api/bookings").then(function (res) {
      if (res.status !== 200) { return; }
      bookingsEl.textContent = "";
      if (!res.body.bookings.length) {
        var empty = document.createElement("li");
        empty.className = "muted";
        empty.textContent = S.no_bookings;
        bookingsEl.appendChild(empty);
        return;
      }
      res.body.bookings.slice().reverse().forEach(function (b) {
        var li = document.createElement("li");
        li.className = "tk-booking" + (b.status === "cancelled" ? " tk-booking-cancelled" : "");
        li.dataset.bookingId = b.booking_id;
        var info = document.createElement("div");
        var title = document.createElement("strong");
        title.textContent = fmt(S.booking_no, { id: b.booking_id });
        var detail = document.createElement("div");
        detail.className = "muted";
        detail.textContent = b.seats.map(function (s) { return s.label; }).join(", ") +
          " · " + price(b.total);
        info.appendChild(title);
        info.appendChild(detail);
        li.appendChild(info);
        if (b.status === "cancelled") {
          var tag = document.createElement("span");
          tag.className = "tk-tag";
          tag.textContent = S.cancelled;
          li.appendChild(tag);
        } else {
          var btn = document.createElement("button");
          btn.type = "button";
          btn.className = "btn tk-cancel";
          btn.textContent = S.cancel;
          btn.addEventListener("click", function () {
            btn.disabled = true;
            api("POST", "/api/bookings/" + b.booking_id + "/cancel").then(function (r) {
              if (r.status !== 200) { btn.disabled = false; handleError(r); return; }
              notify(fmt(S.booking_cancelled, { id: b.booking_id }), "ok");
              loadBookings();
            });
          });
          li.appendChild(btn);
        }
        bookingsEl.appendChild(li);
      });
    });
  }

  leaveBtn.addEventListener("click", function () {
    leaveBtn.disabled = true;
    api("DELETE", "/api/session").then(function () {
      if (stream) { stream.close(); }
      endHold();
      notify(S.left, "ok");
      seats.forEach(function (s) { s.el.disabled = true; });
      holdBtn.disabled = true;
    });
  });

  loadMap().then(function () { openStream(); loadBookings(); });
})();
