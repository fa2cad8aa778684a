// tug's dashboard: live parts over Server-Sent Events, chart tooltips,
// the theme toggle and the viewer's time zone. Pages work without it.
(function () {
  "use strict";
  var root = document.documentElement;
  var saved = localStorage.getItem("tug-theme");
  if (saved) root.dataset.theme = saved;
  var tz = "";
  try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) {}
  var had = document.cookie.split("; ").some(function (c) { return c.indexOf("tz=") === 0; });
  if (tz) document.cookie = "tz=" + encodeURIComponent(tz) + "; path=/; SameSite=Strict; max-age=31536000";
  if (tz && !had && tz !== "UTC" && tz !== "Etc/UTC") { location.reload(); return; }

  document.addEventListener("DOMContentLoaded", function () {
    var theme = document.getElementById("theme");
    if (theme) {
      theme.hidden = false;
      theme.addEventListener("click", function () {
        var dark = root.dataset.theme ? root.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
        root.dataset.theme = dark ? "light" : "dark";
        localStorage.setItem("tug-theme", root.dataset.theme);
      });
    }
    document.querySelectorAll("form[data-busy]").forEach(function (f) {
      f.addEventListener("submit", function () {
        f.querySelectorAll("button").forEach(function (b) { b.disabled = true; });
      });
    });
    if (document.body.dataset.live) live();
  });

  // live follows the page's event stream: each message replaces a part
  // (id) or appends to one (append). EventSource reconnects by itself.
  function live() {
    var badge = document.getElementById("live");
    var es = new EventSource(location.href);
    es.onopen = function () { badge.hidden = false; badge.className = "live"; badge.textContent = "live"; };
    es.onerror = function () { badge.hidden = false; badge.className = "live off"; badge.textContent = "reconnecting"; };
    es.onmessage = function (m) {
      var e = JSON.parse(m.data);
      var el = document.getElementById(e.id || e.append);
      if (!el) return;
      var stick = el.scrollHeight - el.scrollTop - el.clientHeight < 30;
      if (e.id) el.innerHTML = e.html; else el.insertAdjacentHTML("beforeend", e.html);
      if (stick) el.scrollTop = el.scrollHeight;
    };
  }

  // Tooltips: the values of every line at the pointer's time, read back
  // from the points through the scales the SVG carries.
  var tip = null;
  document.addEventListener("mousemove", function (ev) {
    var svg = ev.target.closest && ev.target.closest("figure.chart > svg");
    if (!svg) { if (tip) tip.hidden = true; return; }
    var d = svg.dataset, box = svg.getBoundingClientRect();
    var vb = svg.viewBox.baseVal, sx = vb.width / box.width;
    var x = (ev.clientX - box.left) * sx, l = +d.l, r = +d.r, t = +d.t, b = +d.b;
    if (x < l || x > r) { if (tip) tip.hidden = true; return; }
    var when = +d.t0 + (x - l) / (r - l) * (d.t1 - d.t0);
    var rows = [new Date(when * 1000).toLocaleString()];
    svg.querySelectorAll("polyline").forEach(function (pl) {
      var pts = pl.points, best = null;
      for (var i = 0; i < pts.numberOfItems; i++) {
        var p = pts.getItem(i);
        if (!best || Math.abs(p.x - x) < Math.abs(best.x - x)) best = p;
      }
      if (!best) return;
      var v = +d.y0 + (b - best.y) / (b - t) * (d.y1 - d.y0);
      rows.push(pl.dataset.name + ": " + fmt(v, d.unit));
    });
    if (!tip) { tip = document.createElement("div"); tip.className = "tip"; }
    var fig = svg.parentNode;
    if (tip.parentNode !== fig) fig.appendChild(tip);
    tip.textContent = "";
    rows.forEach(function (s, i) { if (i) tip.appendChild(document.createElement("br")); tip.appendChild(document.createTextNode(s)); });
    tip.hidden = false;
    tip.style.left = (ev.clientX - fig.getBoundingClientRect().left + 12) + "px";
    tip.style.top = (ev.clientY - fig.getBoundingClientRect().top + 12) + "px";
  });

  function fmt(v, unit) {
    var a = Math.abs(v), s = v.toPrecision(3);
    if (unit === "seconds") return a < 1 ? (v * 1000).toPrecision(3) + "ms" : s + "s";
    if (unit === "ratio") return (v * 100).toPrecision(3) + "%";
    if (unit === "percent") return s + "%";
    if (unit === "bytes") { var u = ["B", "KiB", "MiB", "GiB"], i = 0; while (Math.abs(v) >= 1024 && i < 3) { v /= 1024; i++; } return v.toPrecision(3) + " " + u[i]; }
    if (unit === "per_second") return s + "/s";
    if (unit === "per_minute") return s + "/min";
    return s + (unit && unit !== "count" ? " " + unit : "");
  }
})();
