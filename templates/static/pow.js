// The queue page's proof of work: find a counter whose SHA-256 with the challenge starts with
// `difficulty` zero bits (pow-worker.js does the search), send it with the join, then show the
// queue page. A 428 answer carries a new challenge, which is solved in turn.
(function () {
  "use strict";

  var root = document.getElementById("pow");
  if (!root || !window.FairgatePow) { return; }
  var d = root.dataset;
  var SLICE_MS = 40;  // main-thread fallback: hashing time between paints

  // Without workers: search on the page in short slices so it keeps painting.
  function sliced(challenge, difficulty) {
    var from = 0;
    return new Promise(function (resolve) {
      (function slice() {
        var until = performance.now() + SLICE_MS;
        while (performance.now() < until) {
          var found = FairgatePow.search(challenge, difficulty, from, 1000);
          if (found >= 0) { resolve(found); return; }
          from += 1000;
        }
        setTimeout(slice, 0);
      })();
    });
  }

  // Resolves with the solving counter.
  function solve(challenge, difficulty) {
    if (!window.Worker) { return sliced(challenge, difficulty); }
    return new Promise(function (resolve) {
      var worker;
      try {
        worker = new Worker(d.workerUrl);
      } catch (e) {
        resolve(sliced(challenge, difficulty));
        return;
      }
      worker.onmessage = function (event) { worker.terminate(); resolve(event.data.counter); };
      worker.onerror = function () { worker.terminate(); resolve(sliced(challenge, difficulty)); };
      worker.postMessage({ challenge: challenge, difficulty: difficulty });
    });
  }

  function failed() { document.getElementById("pow-failed").classList.remove("hidden"); }

  function attempt(challenge, difficulty) {
    solve(challenge, difficulty).then(function (counter) {
      return fetch(d.joinUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json" },
        body: JSON.stringify({ pow: { challenge: challenge, solution: String(counter) } })
      });
    }).then(function (resp) {
      if (resp.ok) {
        root.dataset.state = "joined";
        window.location.replace(d.pageUrl);
        return null;
      }
      return resp.json().then(function (body) {
        failed();
        if (resp.status === 428 && body.pow) {
          attempt(body.pow.challenge, body.pow.difficulty);
          return;
        }
        var wait = Number(resp.headers.get("Retry-After") || 5) * 1000;
        setTimeout(function () { window.location.reload(); }, wait);
      });
    }).catch(function () {
      failed();
      setTimeout(function () { window.location.reload(); }, 5000);
    });
  }

  document.getElementById("pow-lead").classList.remove("hidden");
  document.getElementById("pow-working").classList.remove("hidden");
  attempt(d.challenge, Number(d.difficulty));
})();
