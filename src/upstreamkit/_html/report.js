/* analyze --html: draws the embedded --json document with UKCharts. Reads nothing but the page itself. */
(function () {
  "use strict";
  var C = window.UKCharts;
  var doc = JSON.parse(document.getElementById("data").textContent);
  var DIMENSIONS = ["endpoint", "upstream", "credential", "gateway", "client"];

  function $(id) { return document.getElementById(id); }
  function ms(text) { return Date.parse(text); }
  function kindsText(kinds) {
    return Object.keys(kinds || {}).map(function (k) { return k + " " + kinds[k]; }).join(", ");
  }

  function summary() {
    var host = $("summary"), cards = document.createElement("div");
    cards.className = "cards";
    host.appendChild(cards);
    var requests = 0, failures = 0;
    doc.series.forEach(function (b) { requests += b.requests; failures += b.failures; });
    var items = [
      [String(doc.lines), "lines (" + doc.parsed + " parsed, " + doc.unparsed + " unparsed)"],
      [String(requests), "requests"],
      [String(failures), "failures (" + (requests ? C.fmtPercent(failures / requests) : "-") + ")"],
      [String(doc.incidents.length), doc.incidents.length === 1 ? "incident" : "incidents"],
      [doc.latency.p99 === null ? "-" : doc.latency.p99 + " ms", "latency p99"]
    ];
    items.forEach(function (item) {
      var box = document.createElement("div"), strong = document.createElement("b");
      box.className = "card";
      strong.textContent = item[0];
      box.appendChild(strong);
      box.appendChild(document.createTextNode(item[1]));
      cards.appendChild(box);
    });
  }

  function overTime() {
    var step = doc.bucket_s * 1000;
    var t = doc.series.map(function (b) { return ms(b.t); });
    var xMin = t.length ? t[0] : undefined, xMax = t.length ? t[t.length - 1] + step : undefined;
    var shade = doc.incidents.map(function (incident, i) {
      var end = incident.recovered_at || incident.end;
      var ttr = incident.time_to_recover_s === null ? "not recovered" : "TTR " + incident.time_to_recover_s + " s";
      return { start: ms(incident.start), end: Math.max(ms(end), ms(incident.start)), label: "#" + (i + 1) + " " + ttr };
    });
    C.line($("rate"), {
      name: "rate_600", xMin: xMin, xMax: xMax, yMax: 1, format: C.fmtPercent, shade: shade, height: 220,
      series: [{ name: "600 rate", color: "#d2433b",
                 points: doc.series.map(function (b, i) { return [t[i] + step / 2, b.rate_600]; }) }],
      emptyText: "no requests in the window"
    });
    C.stacked($("volume"), {
      name: "volume", t: t, width_ms: step, emptyText: "no requests in the window",
      stacks: [
        { name: "ok", color: "#2e9e5b",
          values: doc.series.map(function (b) { return Math.max(b.requests - b.failures, 0); }) },
        { name: "failed", color: "#d2433b", values: doc.series.map(function (b) { return b.failures; }) }
      ]
    });
  }

  function latency() {
    var items = ["p50", "p95", "p99"].filter(function (p) { return doc.latency[p] !== null; }).map(function (p) {
      return { label: p, value: doc.latency[p] };
    });
    C.bars($("latency"), items, { name: "latency", format: function (v) { return v + " ms"; },
                                  emptyText: "the log has no durations" });
  }

  function kinds() {
    C.bars($("kinds"), Object.keys(doc.kinds).map(function (k) { return { label: k, value: doc.kinds[k] }; }),
           { name: "kinds", colorIndex: 1, emptyText: "no failures" });
  }

  function incidents() {
    C.table($("incidents"), [
      { key: "n", label: "#", num: true },
      { key: "start", label: "start" },
      { key: "end", label: "last failure" },
      { key: "time_to_recover_s", label: "time to recover",
        format: function (v) { return v === null ? "not recovered" : v + " s"; } },
      { key: "failures", label: "failures", num: true },
      { key: "peak_rate", label: "peak rate", num: true, format: C.fmtPercent },
      { key: "kinds", label: "kinds", format: kindsText },
      { key: "top", label: "top endpoint / upstream / credential / gateway / client", code: true,
        format: function (top) {
          return DIMENSIONS.map(function (d) { return top[d] === null ? "-" : top[d]; }).join(" / ");
        } },
      { key: "events", label: "changes near it",
        format: function (events) {
          return events.map(function (e) { return e.t + " " + e.text; }).join("; ") || "-";
        } }
    ], doc.incidents.map(function (incident, i) { return Object.assign({ n: i + 1 }, incident); }),
    "no incident found");
  }

  function clusters() {
    DIMENSIONS.forEach(function (dimension, i) {
      var rows = doc.clusters["by_" + dimension] || [];
      C.bars($("by_" + dimension), rows.map(function (row) {
        var note = C.fmtPercent(row.rate) + (row.lift !== undefined && row.lift !== null ? " \u00d7" + row.lift : "");
        return { label: row.key, value: row.failures, note: note };
      }), { name: "by_" + dimension, colorIndex: i + 2, emptyText: "no failure carries a " + dimension });
    });
  }

  function templates() {
    C.table($("templates"), [
      { key: "count", label: "count", num: true },
      { key: "template", label: "template", code: true },
      { key: "example", label: "example", code: true }
    ], doc.templates, "no failure messages");
    C.table($("formats"), [
      { key: "path", label: "file", code: true },
      { key: "format", label: "format" },
      { key: "lines", label: "lines", num: true },
      { key: "parsed", label: "parsed", num: true },
      { key: "unparsed", label: "unparsed", num: true }
    ], doc.formats, "no file");
  }

  summary();
  overTime();
  latency();
  kinds();
  incidents();
  clusters();
  templates();
  document.body.setAttribute("data-drawn", "true");
})();
