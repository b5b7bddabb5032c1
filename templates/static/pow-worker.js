// SHA-256 hashcash search for the queue page's proof of work (pow.js). It runs in a Web Worker,
// where the search neither freezes the page nor is slowed the way a background tab slows page
// timers; it is also loaded as a plain script so the page can fall back to it.
//
// crypto.subtle does the hashing where the page is a secure context (HTTPS, or loopback);
// elsewhere it is missing, and the small SHA-256 below does it (somewhat slower: see
// docs/RELIABILITY.md). The tests check this SHA-256 against crypto.subtle's.
(function (scope) {
  "use strict";

  var K = new Int32Array([
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
  ]);

  function rotr(x, n) { return (x >>> n) | (x << (32 - n)); }

  // SHA-256 of a byte array (FIPS 180-4).
  function sha256(bytes) {
    var H = new Int32Array([0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                            0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19]);
    var len = bytes.length, size = ((len + 9 + 63) >> 6) << 6;
    var m = new Uint8Array(size), W = new Int32Array(64), i, o;
    m.set(bytes);
    m[len] = 0x80;
    var bits = len * 8;
    m[size - 4] = bits >>> 24; m[size - 3] = (bits >>> 16) & 255;
    m[size - 2] = (bits >>> 8) & 255; m[size - 1] = bits & 255;
    for (o = 0; o < size; o += 64) {
      for (i = 0; i < 16; i++) {
        W[i] = (m[o + 4 * i] << 24) | (m[o + 4 * i + 1] << 16) | (m[o + 4 * i + 2] << 8) | m[o + 4 * i + 3];
      }
      for (i = 16; i < 64; i++) {
        var x = W[i - 15], y = W[i - 2];
        var s0 = rotr(x, 7) ^ rotr(x, 18) ^ (x >>> 3);
        var s1 = rotr(y, 17) ^ rotr(y, 19) ^ (y >>> 10);
        W[i] = (W[i - 16] + s0 + W[i - 7] + s1) | 0;
      }
      var a = H[0], b = H[1], c = H[2], dd = H[3], e = H[4], f = H[5], g = H[6], h = H[7];
      for (i = 0; i < 64; i++) {
        var t1 = (h + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + W[i]) | 0;
        var t2 = ((rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) | 0;
        h = g; g = f; f = e; e = (dd + t1) | 0; dd = c; c = b; b = a; a = (t1 + t2) | 0;
      }
      H[0] += a; H[1] += b; H[2] += c; H[3] += dd; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
    }
    var out = new Uint8Array(32);
    for (i = 0; i < 8; i++) {
      out[4 * i] = H[i] >>> 24; out[4 * i + 1] = (H[i] >>> 16) & 255;
      out[4 * i + 2] = (H[i] >>> 8) & 255; out[4 * i + 3] = H[i] & 255;
    }
    return out;
  }

  function zeroBits(digest) {
    var bits = 0;
    for (var i = 0; i < digest.length; i++) {
      var byte = digest[i];
      if (byte) { return bits + Math.clz32(byte) - 24; }
      bits += 8;
    }
    return bits;
  }

  var encoder = new TextEncoder();

  // The first counter in [from, from + count) that solves the challenge, or -1.
  function search(challenge, difficulty, from, count) {
    for (var c = from, end = from + count; c < end; c++) {
      if (zeroBits(sha256(encoder.encode(challenge + ":" + c))) >= difficulty) { return c; }
    }
    return -1;
  }

  scope.FairgatePow = { sha256: sha256, zeroBits: zeroBits, search: search };

  // With crypto.subtle (secure contexts): digests in batches, since each call is
  // asynchronous. Resolves with the solving counter.
  function searchSubtle(subtle, challenge, difficulty) {
    var from = 0, BATCH = 256;
    function batch() {
      var jobs = [];
      for (var i = 0; i < BATCH; i++) {
        jobs.push(subtle.digest("SHA-256", encoder.encode(challenge + ":" + (from + i))));
      }
      return Promise.all(jobs).then(function (digests) {
        for (var j = 0; j < digests.length; j++) {
          if (zeroBits(new Uint8Array(digests[j])) >= difficulty) { return from + j; }
        }
        from += BATCH;
        return batch();
      });
    }
    return batch();
  }

  if (typeof WorkerGlobalScope !== "undefined" && scope instanceof WorkerGlobalScope) {
    scope.onmessage = function (event) {
      var m = event.data, STEP = 100000;
      var subtle = scope.crypto && scope.crypto.subtle;
      if (subtle) {
        searchSubtle(subtle, m.challenge, m.difficulty).then(function (counter) {
          scope.postMessage({ counter: counter });
        });
        return;
      }
      for (var from = 0; ; from += STEP) {
        var found = search(m.challenge, m.difficulty, from, STEP);
        if (found >= 0) { scope.postMessage({ counter: found }); return; }
      }
    };
  }
})(self);
