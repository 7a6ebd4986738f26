/* upstreamkit's chart layer: plain SVG drawn from plain data, shared by the gateway's /dashboard and the
 * analyze --html report. No framework, no network: callers hand in data they already hold.
 * Every text from the data goes in through textContent / setAttribute, never innerHTML: log lines and paths
 * are untrusted. Each drawn element carries data-* attributes (values, times) so a test reading the DOM can
 * check what was drawn against what was measured. */
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var PALETTE = ["#2f6fd0", "#d2433b", "#2e9e5b", "#8a56c2", "#d99a1e", "#1aa3a3", "#c2569a", "#6b7a8f"];
  var STATE_COLORS = { closed: "#2e9e5b", half_open: "#d99a1e", open: "#d2433b" };
  var PAD_L = 48, PAD_R = 12, PAD_T = 10, PAD_B = 24;
  var W = 640;  // the chart being drawn's width in px: its box's, so text keeps one size in every box

  function el(tag, attrs, parent) {
    var node = document.createElementNS(NS, tag);
    for (var name in attrs) {
      if (Object.prototype.hasOwnProperty.call(attrs, name) && attrs[name] !== undefined && attrs[name] !== null) {
        node.setAttribute(name, String(attrs[name]));
      }
    }
    if (parent) parent.appendChild(node);
    return node;
  }

  function text(parent, x, y, content, attrs) {
    var node = el("text", Object.assign({ x: x, y: y }, attrs || {}), parent);
    node.textContent = content;
    return node;
  }

  function clear(host) {
    while (host.firstChild) host.removeChild(host.firstChild);
  }

  function canvas(host, height, name) {
    clear(host);
    var width = Math.round(host.clientWidth || 0);
    W = width >= 320 ? width : 640;
    return el("svg", { "class": "chart", viewBox: "0 0 " + W + " " + height, "data-chart": name || host.id,
                       role: "img" }, host);
  }

  function empty(host, message) {
    clear(host);
    var note = document.createElement("div");
    note.className = "empty";
    note.textContent = message || "no data yet";
    host.appendChild(note);
  }

  function color(index) {
    return PALETTE[index % PALETTE.length];
  }

  function pad2(n) {
    return (n < 10 ? "0" : "") + n;
  }

  function fmtTime(ms, withDate) {
    var d = new Date(ms);
    var t = pad2(d.getUTCHours()) + ":" + pad2(d.getUTCMinutes()) + ":" + pad2(d.getUTCSeconds());
    return withDate ? d.toISOString().slice(0, 10) + " " + t : t;
  }

  function iso(ms) {
    return new Date(ms).toISOString();
  }

  function niceMax(value) {
    if (!(value > 0)) return 1;
    var power = Math.pow(10, Math.floor(Math.log10(value)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) {
      if (steps[i] * power >= value) return steps[i] * power;
    }
    return 10 * power;
  }

  function fmtNumber(value) {
    if (value === null || value === undefined) return "-";
    if (Math.abs(value) >= 1000) return (value / 1000).toFixed(value >= 10000 ? 0 : 1) + "k";
    return String(Math.round(value * 100) / 100);
  }

  function fmtPercent(value) {
    return value === null || value === undefined ? "-" : (Math.round(value * 1000) / 10) + "%";
  }

  var TICK_STEPS = [100, 250, 500, 1e3, 2e3, 5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 72e5,
                    108e5, 216e5, 432e5, 864e5, 1728e5, 6048e5];

  /* Time labels at round moments (whole seconds, minutes, hours...), at most six of them, in UTC. */
  function timeTicks(svg, xMin, xMax, sx, y) {
    var span = Math.max(xMax - xMin, 1), step = TICK_STEPS[TICK_STEPS.length - 1];
    for (var i = 0; i < TICK_STEPS.length; i++) {
      if (span / TICK_STEPS[i] <= 6) { step = TICK_STEPS[i]; break; }
    }
    var withDate = step >= 864e5;
    for (var t = Math.ceil(xMin / step) * step, n = 0; t <= xMax && n < 8; t += step, n++) {
      var label = withDate ? new Date(t).toISOString().slice(0, 10) : fmtTime(t);
      if (step < 1000) label += "." + String(t % 1000 + 1000).slice(1);
      el("line", { "class": "grid", x1: sx(t), x2: sx(t), y1: y - 8, y2: y - 12 }, svg);
      text(svg, sx(t), y, label, { "text-anchor": sx(t) > W - 45 ? "end" : "middle" });  // never cut at the edge
    }
  }

  /* The frame of a time chart: y grid with labels, x ticks with UTC times; returns the two scales. */
  function frame(svg, height, xMin, xMax, yMax, format) {
    var x0 = PAD_L, x1 = W - PAD_R, y0 = height - PAD_B, y1 = PAD_T;
    var span = Math.max(xMax - xMin, 1);
    var sx = function (t) { return x0 + (t - xMin) / span * (x1 - x0); };
    var sy = function (v) { return y0 - v / yMax * (y0 - y1); };
    for (var i = 0; i <= 4; i++) {
      var v = yMax * i / 4, y = sy(v);
      el("line", { "class": "grid", x1: x0, x2: x1, y1: y, y2: y }, svg);
      text(svg, x0 - 4, y + 3, format(v), { "text-anchor": "end" });
    }
    timeTicks(svg, xMin, xMax, sx, height - 8);
    el("line", { "class": "axis", x1: x0, x2: x1, y1: y0, y2: y0 }, svg);
    return { sx: sx, sy: sy, x0: x0, x1: x1, y0: y0, y1: y1 };
  }

  function legend(host, names, colors) {
    var box = document.createElement("div");
    box.className = "legend";
    names.forEach(function (name, i) {
      var item = document.createElement("span");
      var swatch = document.createElement("i");
      swatch.style.background = colors[i];
      item.appendChild(swatch);
      item.appendChild(document.createTextNode(name));
      box.appendChild(item);
    });
    host.appendChild(box);
  }

  /* Lines over time. opts: series [{name, points [[t_ms, value|null]...]}], shade [{start, end, label}] (ms),
   * xMin, xMax (ms), yMax (else from the data), format (a value's label). A null value breaks the line. */
  function line(host, opts) {
    var series = opts.series || [];
    var height = opts.height || 200;
    var format = opts.format || fmtNumber;
    var xMin = opts.xMin, xMax = opts.xMax, top = 0, count = 0;
    series.forEach(function (s) {
      s.points.forEach(function (p) {
        if (xMin === undefined || p[0] < xMin) xMin = p[0];
        if (xMax === undefined || p[0] > xMax) xMax = p[0];
        if (p[1] !== null && p[1] !== undefined) { top = Math.max(top, p[1]); count++; }
      });
    });
    if (!count && !(opts.shade || []).length) return empty(host, opts.emptyText);
    var svg = canvas(host, height, opts.name);
    var f = frame(svg, height, xMin, xMax, opts.yMax || niceMax(top), format);
    (opts.shade || []).forEach(function (s) {
      var a = Math.max(f.sx(s.start), f.x0), b = Math.min(f.sx(s.end), f.x1);
      el("rect", { "class": "shade", x: a, y: f.y1, width: Math.max(b - a, 2), height: f.y0 - f.y1,
                   "data-start": iso(s.start), "data-end": iso(s.end) }, svg);
      if (s.label) text(svg, a + 2, f.y1 + 10, s.label, { "class": "shade-label" });
    });
    var colors = [];
    series.forEach(function (s, i) {
      var c = s.color || color(i), d = "", pen = "M", drawn = 0, peak = null;
      colors.push(c);
      s.points.forEach(function (p) {
        if (p[1] === null || p[1] === undefined) { pen = "M"; return; }
        d += pen + f.sx(p[0]).toFixed(1) + "," + f.sy(p[1]).toFixed(1) + " ";
        pen = "L";
        drawn++;
        peak = peak === null ? p[1] : Math.max(peak, p[1]);
      });
      var path = el("path", { "class": "series", d: d.trim(), stroke: c, "data-name": s.name, "data-points": drawn,
                              "data-max": peak }, svg);
      if (drawn === 1) path.setAttribute("stroke-linecap", "round");
      if (drawn === 1) path.setAttribute("stroke-width", "5");
    });
    legend(host, series.map(function (s) { return s.name; }), colors);
  }

  /* Stacked columns over time. opts: t [ms...], width_ms (a column's time), stacks [{name, values [...]}]. */
  function stacked(host, opts) {
    var t = opts.t || [], stacks = opts.stacks || [], height = opts.height || 200;
    var totals = t.map(function (_, i) {
      return stacks.reduce(function (sum, s) { return sum + (s.values[i] || 0); }, 0);
    });
    var top = Math.max.apply(null, [0].concat(totals));
    if (!t.length || top === 0) return empty(host, opts.emptyText);
    var widthMs = opts.width_ms || 1000;
    var svg = canvas(host, height, opts.name);
    var f = frame(svg, height, t[0], t[t.length - 1] + widthMs, niceMax(top), fmtNumber);
    var colors = stacks.map(function (s, i) { return s.color || color(i); });
    var w = Math.max(f.sx(t[0] + widthMs) - f.sx(t[0]) - 0.5, 0.8);
    t.forEach(function (moment, i) {
      var base = 0;
      stacks.forEach(function (s, k) {
        var v = s.values[i] || 0;
        if (!v) return;
        var yTop = f.sy(base + v), yBottom = f.sy(base);
        el("rect", { "class": "bar", x: f.sx(moment).toFixed(1), y: yTop.toFixed(1), width: w.toFixed(1),
                     height: Math.max(yBottom - yTop, 0.5).toFixed(1), fill: colors[k], "data-name": s.name,
                     "data-t": iso(moment), "data-value": v }, svg);
        base += v;
      });
    });
    legend(host, stacks.map(function (s) { return s.name; }), colors);
  }

  /* Horizontal bars. items [{label, value, note}]; opts.format labels the value. */
  function bars(host, items, opts) {
    opts = opts || {};
    if (!items.length) return empty(host, opts.emptyText);
    var format = opts.format || fmtNumber, rowH = 20, height = items.length * rowH + 6;
    var longest = Math.max.apply(null, items.map(function (it) { return Math.min(String(it.label).length, 36); }));
    var labelW = Math.min(230, longest * 6.5 + 12);
    var top = Math.max.apply(null, items.map(function (it) { return it.value || 0; }).concat([0]));
    var svg = canvas(host, height, opts.name);
    var scale = (W - labelW - 90) / (top || 1);
    items.forEach(function (it, i) {
      var y = 3 + i * rowH, label = String(it.label);
      var shown = label.length > 36 ? label.slice(0, 35) + "\u2026" : label;
      var node = text(svg, labelW - 6, y + 14, shown, { "class": "bar-label", "text-anchor": "end" });
      el("title", {}, node).textContent = label;
      el("rect", { "class": "bar", x: labelW, y: y + 3, width: Math.max((it.value || 0) * scale, 1).toFixed(1),
                   height: rowH - 6, fill: it.color || color(opts.colorIndex || 0), "data-label": label,
                   "data-value": it.value }, svg);
      text(svg, labelW + Math.max((it.value || 0) * scale, 1) + 5, y + 14,
           format(it.value) + (it.note ? "  " + it.note : ""), {});
    });
  }

  /* State over time, one row per name. opts: rows [{name, spans [{start, end, state}]}], xMin, xMax (ms). */
  function states(host, opts) {
    var rows = opts.rows || [];
    if (!rows.length) return empty(host, opts.emptyText);
    var rowH = 22, height = rows.length * rowH + PAD_B + 4, labelW = 150;
    var svg = canvas(host, height, opts.name);
    var span = Math.max(opts.xMax - opts.xMin, 1), x0 = labelW, x1 = W - PAD_R;
    var sx = function (t) { return x0 + (Math.min(Math.max(t, opts.xMin), opts.xMax) - opts.xMin) / span * (x1 - x0); };
    rows.forEach(function (row, i) {
      var y = 2 + i * rowH;
      var name = String(row.name);
      text(svg, labelW - 6, y + 14, name.length > 24 ? name.slice(0, 23) + "\u2026" : name,
           { "class": "bar-label", "text-anchor": "end" });
      row.spans.forEach(function (s) {
        el("rect", { "class": "state state-" + s.state, x: sx(s.start).toFixed(1), y: y + 2,
                     width: Math.max(sx(s.end) - sx(s.start), 1).toFixed(1), height: rowH - 6,
                     fill: STATE_COLORS[s.state] || "#9aa5b1", "data-upstream": name, "data-state": s.state,
                     "data-start": iso(s.start), "data-end": iso(s.end) }, svg);
      });
    });
    timeTicks(svg, opts.xMin, opts.xMax, sx, height - 6);
    legend(host, ["closed", "half_open", "open"], [STATE_COLORS.closed, STATE_COLORS.half_open, STATE_COLORS.open]);
  }

  /* A table. columns [{key, label, num, format}], rows [objects]. */
  function table(host, columns, rows, emptyText) {
    clear(host);
    if (!rows.length) return empty(host, emptyText);
    var tableNode = document.createElement("table");
    var head = tableNode.createTHead().insertRow();
    columns.forEach(function (c) {
      var th = document.createElement("th");
      th.textContent = c.label;
      if (c.num) th.className = "num";
      head.appendChild(th);
    });
    var body = tableNode.createTBody();
    rows.forEach(function (row) {
      var tr = body.insertRow();
      columns.forEach(function (c) {
        var td = tr.insertCell();
        var value = row[c.key];
        td.textContent = c.format ? c.format(value, row) : value === null || value === undefined ? "-" : String(value);
        if (c.num) td.className = "num";
        if (c.code) { var code = document.createElement("code"); code.textContent = td.textContent; td.textContent = "";
                      td.appendChild(code); }
      });
    });
    host.appendChild(tableNode);
  }

  window.UKCharts = {
    line: line, stacked: stacked, bars: bars, states: states, table: table, empty: empty,
    color: color, fmtTime: fmtTime, fmtNumber: fmtNumber, fmtPercent: fmtPercent, iso: iso,
    STATE_COLORS: STATE_COLORS
  };
})();
