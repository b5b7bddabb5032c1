// Operator dashboard: reads the admin API with the token typed in (kept in sessionStorage),
// refreshes every two seconds, and changes a room's knob or state with PATCH.
(function () {
  "use strict";
  var root = document.getElementById("dashboard");
  if (!root) { return; }
  var api = root.dataset.api;
  var T = JSON.parse(root.dataset.strings || "{}");
  var $ = function (id) { return document.getElementById(id); };
  var token = sessionStorage.getItem("fairgate-admin-token") || "";
  var timer = null;
  var editing = false;

  function notice(text, ok) {
    var el = $("notice");
    el.textContent = text || "";
    el.classList.toggle("hidden", !text);
    el.classList.toggle("notice-ok", !!ok);
    el.classList.toggle("notice-warn", !ok);
  }
  function call(method, url, body) {
    return fetch(url, {
      method: method,
      cache: "no-store",
      headers: { "Authorization": "Bearer " + token, "Content-Type": "application/json" },
      body: body ? JSON.stringify(body) : undefined
    });
  }
  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }
  function render(rooms, stats) {
    var body = $("room-rows");
    body.textContent = "";
    rooms.forEach(function (room, i) {
      var s = stats[i] || {};
      var tr = document.createElement("tr");
      tr.dataset.room = room.room;
      cell(tr, room.room);
      var state = document.createElement("select");
      ["open", "paused", "closed"].forEach(function (v) {
        var o = document.createElement("option");
        o.value = v; o.textContent = v; o.selected = room.state === v;
        state.appendChild(o);
      });
      cell(tr, "").appendChild(state);
      var knob = document.createElement("input");
      knob.type = "number"; knob.min = "0"; knob.value = room.admit_per_minute;
      cell(tr, "").appendChild(knob);
      cell(tr, s.admitted_per_minute === null || s.admitted_per_minute === undefined
        ? "–" : String(Math.round(s.admitted_per_minute)));
      cell(tr, String(s.queue_length || 0));
      cell(tr, (s.serving || 0) + " / " + (s.issued || 0));
      cell(tr, (s.active || 0) + " / " + room.max_active);
      var save = document.createElement("button");
      save.className = "btn"; save.type = "button"; save.textContent = T.save;
      save.addEventListener("click", function () {
        call("PATCH", api + "/" + encodeURIComponent(room.room),
             { admit_per_minute: Number(knob.value), state: state.value })
          .then(function (res) {
            return res.json().then(function (data) {
              notice(res.ok ? T.saved : data.message, res.ok);
              editing = false;
              refresh();
            });
          }).catch(function () { notice(T.offline); });
      });
      [state, knob].forEach(function (el) {
        el.addEventListener("focus", function () { editing = true; });
        el.addEventListener("blur", function () {
          setTimeout(function () { editing = false; }, 5000);
        });
      });
      cell(tr, "").appendChild(save);
      body.appendChild(tr);
    });
    $("empty").classList.toggle("hidden", rooms.length > 0);
  }
  function refresh() {
    clearTimeout(timer);
    timer = setTimeout(refresh, 2000);
    if (!token || editing) { return; }
    call("GET", api).then(function (res) {
      if (res.status === 401) {
        notice(T.unauthorized);
        $("login").classList.remove("hidden");
        return null;
      }
      return res.json().then(function (data) {
        var rooms = data.rooms || [];
        return Promise.all(rooms.map(function (r) {
          return call("GET", api + "/" + encodeURIComponent(r.room) + "/stats")
            .then(function (x) { return x.json(); });
        })).then(function (stats) {
          $("login").classList.add("hidden");
          $("rooms").classList.remove("hidden");
          if (!editing) { render(rooms, stats); }
        });
      });
    }).catch(function () { notice(T.offline); });
  }
  $("login").addEventListener("submit", function (ev) {
    ev.preventDefault();
    token = $("token").value.trim();
    sessionStorage.setItem("fairgate-admin-token", token);
    notice("");
    refresh();
  });
  refresh();
})();
