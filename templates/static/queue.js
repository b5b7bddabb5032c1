// The queue page: polls the status at the pace the server asks for, shows the place in line,
// backs off and says so while the server does not answer, and goes in when admitted.
(function () {
  "use strict";

  var root = document.getElementById("queue");
  if (!root) { return; }

  var d = root.dataset;
  var T = JSON.parse(d.strings || "{}");
  var fmt = new Intl.NumberFormat(d.lang || "en");
  var $ = function (id) { return document.getElementById(id); };

  var MIN_POLL_MS = 1000;
  var MAX_POLL_MS = 30000;
  var state = {
    number: d.number ? Number(d.number) : null,
    serving: Number(d.serving || 0),
    ahead: d.ahead === "" ? null : Number(d.ahead),
    opensAt: d.opensAt ? Number(d.opensAt) : null,
    failures: 0,
    timer: null,
    countdown: null,
    stopped: false
  };

  function text(id, value) {
    var el = $(id);
    if (el && el.textContent !== value) { el.textContent = value; }
  }
  function show(id, visible) {
    var el = $(id);
    if (el) { el.classList.toggle("hidden", !visible); }
  }
  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }

  function people(ahead) {
    if (ahead === 0) { return T.next; }
    if (ahead === 1) { return T.person; }
    return fill(T.people, { n: fmt.format(ahead) });
  }
  function wait(seconds) {
    if (seconds === null || seconds === undefined) { return T.eta_none; }
    if (seconds < 60) { return T.eta_soon; }
    var minutes = Math.ceil(seconds / 60);
    if (minutes < 60) { return fill(T.eta_min, { n: minutes }); }
    return fill(T.eta_hour, { h: Math.floor(minutes / 60), m: minutes % 60 });
  }
  // The estimate's range, in whole minutes or hours (the same rules as messages.format_range).
  function span(range) {
    if (!range || range[1] < 60) { return ""; }
    var hiMin = Math.ceil(range[1] / 60);
    if (hiMin >= 120) {
      return fill(T.eta_range_hour, { lo: Math.floor(range[0] / 3600), hi: Math.ceil(range[1] / 3600) });
    }
    var loMin = Math.floor(range[0] / 60);
    if (loMin === 0) { return fill(T.eta_range_soon, { hi: hiMin }); }
    return fill(T.eta_range_min, { lo: loMin, hi: hiMin });
  }
  function clock(seconds) {
    seconds = Math.max(0, Math.ceil(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    return pad(h) + ":" + pad(m) + ":" + pad(s);
  }

  function schedule(ms) {
    clearTimeout(state.timer);
    if (state.stopped) { return; }
    state.timer = setTimeout(poll, Math.max(MIN_POLL_MS / 2, Math.min(MAX_POLL_MS, ms)));
  }

  function reconnecting(on) { show("reconnecting", on); }

  function tickCountdown() {
    if (state.opensAt === null) { return; }
    var left = state.opensAt - Date.now() / 1000;
    text("countdown", left > 0 ? clock(left) : T.drawing);
    if (left <= 0 && state.number === null) {
      // Opening: numbers are being drawn; ask straight away.
      clearInterval(state.countdown);
      state.countdown = null;
      schedule(MIN_POLL_MS / 2 + Math.random() * 1500);
    }
  }

  function render(s) {
    if (s.state === "admitted" && s.redirect_url) {
      state.stopped = true;
      text("heading", T.admitted_title);
      show("numbered", false);
      show("state-note", false);
      var link = $("continue");
      if (link) { link.href = s.redirect_url; }
      show("admitted", true);
      window.location.replace(s.redirect_url);
      return;
    }
    if (s.number === null || s.number === undefined) {
      state.opensAt = s.opens_at || state.opensAt;
      text("heading", T.heading_early);
      show("prequeue", true);
      show("numbered", false);
      if (!state.countdown) { state.countdown = setInterval(tickCountdown, 1000); }
      tickCountdown();
    } else {
      if (state.number !== s.number) { state.ahead = null; }
      state.number = s.number;
      state.opensAt = null;
      if (state.countdown) { clearInterval(state.countdown); state.countdown = null; }
      text("heading", T.heading);
      show("prequeue", false);
      show("numbered", true);
      state.serving = Math.max(state.serving, s.serving || 0);
      // The place shown never goes up, whichever server answered. A lottery has no place.
      if (s.ahead === null || s.ahead === undefined) {
        state.ahead = null;
      } else {
        state.ahead = state.ahead === null ? s.ahead : Math.min(state.ahead, s.ahead);
      }
      text("number", fmt.format(s.number));
      text("serving", fmt.format(state.serving));
      text("ahead", state.ahead === null ? T.draw : people(state.ahead));
      text("eta", wait(s.eta_s));
      text("eta-range", span(s.eta_range_s));
      text("rate", fill(T.per_minute, { n: fmt.format(s.admit_per_minute) }));
      var bar = $("progress");
      if (bar) { bar.value = Math.min(100, Math.floor(100 * state.serving / s.number)); }
    }
    var note = s.state === "paused" ? T.paused : s.state === "closed" ? T.closed : "";
    text("state-note", note);
    show("state-note", note !== "");
  }

  function backoff(retryAfter) {
    state.failures += 1;
    reconnecting(true);
    var ms = Math.min(MAX_POLL_MS, 1000 * Math.pow(2, Math.min(state.failures, 5)));
    if (retryAfter > 0) { ms = Math.max(ms, retryAfter * 1000); }
    schedule(ms * (0.75 + Math.random() * 0.5));
  }

  function poll() {
    if (state.stopped) { return; }
    var req = fetch(d.statusUrl, {
      credentials: "same-origin",
      cache: "no-store",
      headers: { "Accept": "application/json" }
    });
    req.then(function (res) {
      if (res.ok) {
        return res.json().then(function (s) {
          state.failures = 0;
          reconnecting(false);
          render(s);
          if (!state.stopped) { schedule(s.poll_after_ms); }
        });
      }
      if (res.status === 400) {
        // The ticket cookie is gone: reloading the page takes a place again.
        state.stopped = true;
        window.location.replace(d.pageUrl);
        return;
      }
      if (res.status === 404 || res.status === 410) {
        state.stopped = true;
        reconnecting(false);
        text("state-note", res.status === 410 ? T.turn_passed : T.closed);
        show("state-note", true);
        return;
      }
      backoff(Number(res.headers.get("Retry-After") || 0));
    }).catch(function () { backoff(0); });
  }

  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "visible" && !state.stopped) { schedule(300); }
  });

  if (d.redirect) {
    render({ state: "admitted", redirect_url: d.redirect });
    return;
  }
  if (state.opensAt !== null && state.number === null) {
    state.countdown = setInterval(tickCountdown, 1000);
  }
  schedule(Number(d.pollAfter || 2000));
})();
