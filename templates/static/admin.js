// Operator dashboard. Reads the admin API with the session cookie (same origin), draws the
// selected room's figures with the shipped uPlot, and changes settings with PATCH. Every write
// carries the session's CSRF value in X-CSRF-Token (double submit: the server checks it equals
// the one signed into the HttpOnly cookie) and the browser's Origin header.
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root) { return; }
  var api = root.dataset.api;
  var T = JSON.parse(root.dataset.strings || "{}");
  var csrf = root.dataset.csrf;
  var $ = function (id) { return document.getElementById(id); };
  var TICK_MS = 1000;          // stats of the selected room, one chart point each
  var LIST_EVERY = 3;          // the rooms table every third tick
  var AUDIT_EVERY = 5;         // the audit log every fifth tick
  var KEEP = 900;              // chart points kept: 15 minutes at one a second
  var selected = decodeURIComponent(location.hash.slice(1)) || null;
  var ticks = 0;
  var hist = null;
  var plots = {};
  var previewSeq = 0;

  function notice(text, kind) {
    var el = $("notice");
    el.textContent = text || "";
    el.className = "notice" + (text ? " notice-" + (kind || "warn") : " hidden");
  }
  function call(method, url, body) {
    var headers = { "Accept": "application/json" };
    if (method !== "GET") {
      headers["X-CSRF-Token"] = csrf;
      headers["Content-Type"] = "application/json";
    }
    return fetch(url, {
      method: method, headers: headers, cache: "no-store", credentials: "same-origin",
      body: body ? JSON.stringify(body) : undefined
    }).then(function (res) {
      if (res.status === 401) {
        notice(T.expired, "bad");
        setTimeout(function () { location.reload(); }, 1500);
        throw new Error("signed out");
      }
      var type = res.headers.get("Content-Type") || "";
      var parsed = type.indexOf("json") >= 0 ? res.json() : Promise.resolve(null);
      return parsed.then(function (data) { return { ok: res.ok, status: res.status, data: data }; });
    });
  }
  function roomUrl(room) { return api + "/" + encodeURIComponent(room); }
  function fmtWait(s) {
    if (s === null || s === undefined) { return T.never; }
    if (s < 60) { return Math.round(s) + " s"; }
    if (s < 3600) { return Math.round(s / 60) + " min"; }
    return Math.floor(s / 3600) + " h " + Math.round((s % 3600) / 60) + " min";
  }
  function fmtNum(n) { return n === null || n === undefined ? "–" : Math.round(n).toLocaleString(); }
  function td(tr, text, cls) {
    var el = document.createElement("td");
    el.textContent = text;
    if (cls) { el.className = cls; }
    tr.appendChild(el);
    return el;
  }

  // --- the rooms table ------------------------------------------------------------------------
  function renderRooms(rooms, stats) {
    var body = $("room-rows");
    body.textContent = "";
    rooms.forEach(function (room, i) {
      var s = stats[i] || {};
      var tr = document.createElement("tr");
      tr.tabIndex = 0;
      tr.dataset.room = room.room;
      tr.className = room.room === selected ? "selected" : "";
      td(tr, room.room, "name");
      var st = td(tr, "");
      var pill = document.createElement("span");
      pill.className = "pill pill-" + room.state;
      pill.textContent = room.state;
      st.appendChild(pill);
      td(tr, room.mode, "mode");
      td(tr, fmtNum(room.admit_per_minute), "num");
      td(tr, fmtNum(s.admitted_per_minute), "num");
      td(tr, fmtNum(s.queue_length), "num");
      td(tr, fmtNum(s.active) + " / " + fmtNum(room.max_active), "num");
      td(tr, s.last_wait_s === undefined ? "–" : fmtWait(s.last_wait_s), "num");
      var pick = function () { select(room.room); };
      tr.addEventListener("click", pick);
      tr.addEventListener("keydown", function (ev) { if (ev.key === "Enter") { pick(); } });
      body.appendChild(tr);
    });
    $("empty").classList.toggle("hidden", rooms.length > 0);
    if (!selected && rooms.length) { select(rooms[0].room); }
  }
  function refreshRooms() {
    return call("GET", api).then(function (res) {
      if (!res.ok) { throw new Error(res.data && res.data.message); }
      var rooms = res.data.rooms || [];
      return Promise.all(rooms.map(function (r) {
        return call("GET", roomUrl(r.room) + "/stats").then(function (x) { return x.data; });
      })).then(function (stats) { renderRooms(rooms, stats); });
    });
  }

  // --- charts ---------------------------------------------------------------------------------
  function css(name) { return getComputedStyle(document.body).getPropertyValue(name).trim(); }
  function chartSpecs() {
    var accent = css("--accent"), warn = css("--warn"), ok = css("--ok"), muted = css("--muted");
    return {
      queue: [{ label: T.chart_queue, stroke: accent, fill: accent + "22" }],
      rate: [{ label: T.series_measured, stroke: ok, fill: ok + "1a" },
             { label: T.series_knob, stroke: warn, dash: [6, 4], paths: uPlot.paths.stepped({ align: 1 }) }],
      active: [{ label: T.series_active, stroke: accent, fill: accent + "22" },
               { label: T.series_max, stroke: muted, dash: [4, 4], paths: uPlot.paths.stepped({ align: 1 }) }],
      wait: [{ label: T.series_wait, stroke: warn, fill: warn + "1a" },
             { label: T.series_low, stroke: muted, width: 1, dash: [3, 3] },
             { label: T.series_high, stroke: muted, width: 1, dash: [3, 3] }],
      polls: [{ label: T.chart_polls, stroke: ok, fill: ok + "1a" }]
    };
  }
  function emptyHistory() {
    return { t: [], queue: [], measured: [], knob: [], active: [], max: [], wait: [], waitLo: [],
             waitHi: [], polls: [] };
  }
  function seriesData(key) {
    var h = hist;
    switch (key) {
      case "queue": return [h.t, h.queue];
      case "rate": return [h.t, h.measured, h.knob];
      case "active": return [h.t, h.active, h.max];
      case "wait": return [h.t, h.wait, h.waitLo, h.waitHi];
      default: return [h.t, h.polls];
    }
  }
  function plotWidth(el) { return Math.max(260, el.clientWidth); }
  function buildCharts() {
    var specs = chartSpecs();
    var ink = css("--muted"), grid = css("--line");
    Object.keys(specs).forEach(function (key) {
      var el = $("chart-" + key);
      if (plots[key]) { plots[key].destroy(); }
      el.textContent = "";
      var axis = { stroke: ink, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
      plots[key] = new uPlot({
        width: plotWidth(el),
        height: 190,
        cursor: { drag: { x: false, y: false } },
        legend: { live: false },
        scales: { x: { time: true }, y: { range: function (u, lo, hi) { return [0, Math.max(1, hi * 1.15)]; } } },
        axes: [axis, Object.assign({ size: 56 }, axis)],
        series: [{}].concat(specs[key].map(function (s) {
          return Object.assign({ width: 2, spanGaps: true, points: { show: false } }, s);
        }))
      }, seriesData(key), el);
    });
  }
  function pushPoint(s, room) {
    var h = hist;
    h.t.push(s.ts || Date.now() / 1000);
    h.queue.push(s.queue_length);
    h.measured.push(s.admitted_per_minute);
    h.knob.push(room ? room.admit_per_minute : s.admit_per_minute);
    h.active.push(s.active);
    h.max.push(s.max_active);
    var range = s.last_wait_range_s || [null, null];
    h.wait.push(s.last_wait_s === null ? null : s.last_wait_s / 60);
    h.waitLo.push(range[0] === null ? null : range[0] / 60);
    h.waitHi.push(range[1] === null ? null : range[1] / 60);
    h.polls.push(s.polling_visitors);
    if (h.t.length > KEEP) { Object.keys(h).forEach(function (k) { h[k].shift(); }); }
    Object.keys(plots).forEach(function (key) { plots[key].setData(seriesData(key)); });
    var knob = room ? room.admit_per_minute : s.admit_per_minute;
    $("now-rate").textContent = fmtNum(s.admitted_per_minute) + " / " + fmtNum(knob);
    $("now-queue").textContent = fmtNum(s.queue_length);
    $("now-wait").textContent = fmtWait(s.last_wait_s);
    $("now-active").textContent = fmtNum(s.active) + " / " + fmtNum(s.max_active);
    $("now-polls").textContent = fmtNum(s.polling_visitors);
    // The latest point, for tests and for anyone inspecting the page.
    $("chart-rate").dataset.knob = String(knob);
  }

  // --- the selected room ----------------------------------------------------------------------
  var current = null;
  function select(room) {
    if (room === selected && hist) { return; }
    selected = room;
    hist = emptyHistory();
    current = null;
    if (location.hash.slice(1) !== encodeURIComponent(room)) {
      window.history.replaceState(null, "", "#" + encodeURIComponent(room));
    }
    Array.prototype.forEach.call(document.querySelectorAll("#room-rows tr"), function (tr) {
      tr.classList.toggle("selected", tr.dataset.room === room);
    });
    $("room-panel").classList.remove("hidden");
    $("room-title").textContent = room;
    buildCharts();
    refreshRoom(true);
  }
  function showRoom(cfg, fillInputs) {
    current = cfg;
    var pill = $("room-state");
    pill.textContent = cfg.state;
    pill.className = "pill pill-" + cfg.state;
    Array.prototype.forEach.call(document.querySelectorAll(".state-buttons .btn"), function (b) {
      b.disabled = b.dataset.state === cfg.state;
    });
    if (fillInputs || document.activeElement !== $("knob")) { $("knob").value = cfg.admit_per_minute; }
    if (fillInputs || document.activeElement !== $("max-active")) { $("max-active").value = cfg.max_active; }
  }
  function refreshRoom(fillInputs) {
    if (!selected) { return Promise.resolve(); }
    var room = selected;
    return Promise.all([call("GET", roomUrl(room)), call("GET", roomUrl(room) + "/stats")])
      .then(function (res) {
        if (room !== selected) { return; }
        if (!res[0].ok || !res[1].ok) {
          notice((res[0].data || res[1].data || {}).message || "", "warn");
          return;
        }
        showRoom(res[0].data, fillInputs);
        pushPoint(res[1].data, res[0].data);
        if (fillInputs) { preview(); }
      });
  }
  function patch(body, confirmText) {
    if (!selected || (confirmText && !window.confirm(confirmText))) { return; }
    call("PATCH", roomUrl(selected), body).then(function (res) {
      if (res.ok) {
        notice(T.saved, "ok");
        showRoom(res.data, true);
        refreshAudit();
        refreshRooms().catch(function () { notice(T.offline); });
      } else {
        var d = res.data || {};
        var message = d.message || ("HTTP " + res.status);
        // The field, unless the message names it already.
        notice(message + (d.field && message.indexOf(d.field) < 0 ? " (" + d.field + ")" : ""),
               "bad");
      }
    }).catch(function () { notice(T.offline); });
  }

  // --- what if --------------------------------------------------------------------------------
  var previewTimer = null;
  function preview() {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(function () {
      var rate = $("knob").value;
      var seq = ++previewSeq;
      if (!selected || rate === "" || Number(rate) < 0) { $("preview").classList.add("hidden"); return; }
      call("GET", roomUrl(selected) + "/preview?admit_per_minute=" + encodeURIComponent(rate))
        .then(function (res) {
          if (seq !== previewSeq) { return; }
          // Hidden when the preview cannot be had (a refused rate, a room just deleted).
          if (!res.ok || !res.data) { $("preview").classList.add("hidden"); return; }
          var d = res.data, range = d.last_wait_range_s, now = d.current || {};
          var text = T.preview_result
            .replace("{rate}", fmtNum(d.admit_per_minute)).replace("{n}", fmtNum(d.queue_length))
            .replace("{wait}", fmtWait(d.last_wait_s));
          if (range && range[0] !== range[1]) {
            text += T.preview_range.replace("{lo}", fmtWait(range[0])).replace("{hi}", fmtWait(range[1]));
          }
          if (now.admit_per_minute !== d.admit_per_minute) {
            text += T.preview_now.replace("{wait}", fmtWait(now.last_wait_s));
          }
          $("preview-text").textContent = text;
          $("preview").classList.remove("hidden");
        }).catch(function () { $("preview").classList.add("hidden"); });
    }, 250);
  }

  // --- audit log ------------------------------------------------------------------------------
  function describe(e) {
    var parts = [];
    var keys = Object.keys(e.new || e.old || {});
    keys.forEach(function (k) {
      var o = e.old ? e.old[k] : undefined, n = e.new ? e.new[k] : undefined;
      if (o === undefined) { parts.push(k + " = " + JSON.stringify(n)); }
      else if (n === undefined) { parts.push(k + " was " + JSON.stringify(o)); }
      else { parts.push(k + ": " + JSON.stringify(o) + " → " + JSON.stringify(n)); }
    });
    return e.action + (parts.length ? " · " + parts.join(", ") : "");
  }
  function refreshAudit() {
    return call("GET", root.dataset.audit + "?limit=50").then(function (res) {
      if (!res.ok) { return; }
      var body = $("audit-rows");
      body.textContent = "";
      (res.data.entries || []).forEach(function (e) {
        var tr = document.createElement("tr");
        td(tr, new Date(e.ts * 1000).toLocaleString(), "when");
        td(tr, e.actor, "who");
        td(tr, e.target, "name");
        td(tr, describe(e), "what");
        body.appendChild(tr);
      });
      $("audit-empty").classList.toggle("hidden", body.children.length > 0);
    });
  }

  // --- wiring ---------------------------------------------------------------------------------
  function tick() {
    var jobs = [refreshRoom(false)];
    if (ticks % LIST_EVERY === 0) { jobs.push(refreshRooms()); }
    if (ticks % AUDIT_EVERY === 0) { jobs.push(refreshAudit()); }
    ticks += 1;
    Promise.all(jobs).then(function () {
      if ($("notice").classList.contains("notice-warn")) { notice(""); }
    }).catch(function (err) {
      if (!err || err.message !== "signed out") { notice(T.offline); }
    }).then(function () { setTimeout(tick, TICK_MS); });
  }
  $("knob-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    patch({ admit_per_minute: Number($("knob").value) });
  });
  $("knob").addEventListener("input", preview);
  $("max-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    patch({ max_active: Number($("max-active").value) });
  });
  Array.prototype.forEach.call(document.querySelectorAll(".state-buttons .btn"), function (b) {
    b.addEventListener("click", function () {
      patch({ state: b.dataset.state }, b.dataset.state === "closed" ? T.close_confirm : null);
    });
  });
  $("logout").addEventListener("click", function () {
    call("POST", root.dataset.logout).then(function () { location.reload(); });
  });
  var resizeTimer = null;
  window.addEventListener("resize", function () {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(function () {
      Object.keys(plots).forEach(function (key) {
        var el = $("chart-" + key);
        plots[key].setSize({ width: plotWidth(el), height: 190 });
      });
    }, 150);
  });
  if (selected) { select(selected); }
  tick();
})();
