/* The gateway's /dashboard: polls /series and /status on its own origin and draws them with UKCharts.
 * One poll at a time (the next is scheduled when one ends), so a slow gateway is never piled on. */
(function () {
  "use strict";
  var C = window.UKCharts;
  var POLL_MS = 2000;
  var CLASS_COLORS = { "2xx": "#2e9e5b", "3xx": "#2f6fd0", "4xx": "#d99a1e", "5xx": "#d2433b", "600": "#8a56c2" };
  var polls = 0;

  function $(id) { return document.getElementById(id); }
  function ms(text) { return Date.parse(text); }

  function get(path) {
    return fetch(path, { cache: "no-store", credentials: "same-origin" }).then(function (response) {
      if (!response.ok) throw new Error(path + ": HTTP " + response.status);
      return response.json();
    });
  }

  function upstreamNames(series, status) {
    var names = {};
    series.buckets.forEach(function (b) { Object.keys(b.upstreams).forEach(function (n) { names[n] = true; }); });
    Object.keys(status.upstreams).forEach(function (n) { names[n] = true; });
    return Object.keys(names).sort();
  }

  function incidentShades(status, now) {
    var shades = [];
    Object.keys(status.upstreams).sort().forEach(function (name) {
      var u = status.upstreams[name];
      if (u.last_incident) {
        shades.push({ start: ms(u.last_incident.started), end: ms(u.last_incident.recovered),
                      label: name + ": TTR " + u.last_incident.time_to_recover_s + " s" });
      }
      if (u.incident) shades.push({ start: ms(u.incident.started), end: now, label: name + ": ongoing" });
    });
    return shades;
  }

  function card(host, label, value, css) {
    var box = document.createElement("div");
    box.className = "card";
    var strong = document.createElement("b");
    strong.textContent = value;
    if (css) strong.className = css;
    box.appendChild(strong);
    box.appendChild(document.createTextNode(label));
    host.appendChild(box);
    return box;
  }

  function drawNow(series, status, names) {
    var host = $("now");
    while (host.firstChild) host.removeChild(host.firstChild);
    var cards = document.createElement("div");
    cards.className = "cards";
    host.appendChild(cards);
    var recent = series.buckets.slice(-10), requests = 0, failures = 0;
    recent.forEach(function (b) { requests += b.requests; failures += b.failures; });
    card(cards, "requests", String(requests));
    card(cards, "600 rate", requests ? C.fmtPercent(failures / requests) : "-", failures ? "state-open" : "");
    names.forEach(function (name) {
      var state = series.breakers[name] !== undefined ? series.breakers[name] : null;
      var u = status.upstreams[name];
      if (u && u.breaker !== undefined) state = u.breaker;
      var box = card(cards, name + " breaker", state === null ? "no breaker" : state, "state-" + state);
      box.setAttribute("data-upstream", name);
      box.setAttribute("data-breaker", String(state));
    });
  }

  function drawBreakers(series, names, xMin, xMax) {
    var rows = [];
    names.forEach(function (name) {
      var now = series.breakers[name];
      if (now === undefined || now === null) return;
      var changes = series.breaker_changes.filter(function (c) { return c.upstream === name; });
      var spans = [], start = xMin, state = changes.length ? changes[0].old : now;
      changes.forEach(function (c) {
        var at = ms(c.t);
        if (at > start) spans.push({ start: start, end: at, state: state });
        start = Math.max(start, at);
        state = c["new"];
      });
      spans.push({ start: start, end: xMax, state: now });
      rows.push({ name: name, spans: spans });
    });
    C.states($("breakers"), { name: "breakers", rows: rows, xMin: xMin, xMax: xMax,
                              emptyText: "no route has a circuit breaker" });
  }

  function draw(series, status) {
    var buckets = series.buckets, step = series.step_s * 1000;
    var t = buckets.map(function (b) { return ms(b.t); });
    var xMin = t[0], xMax = t[t.length - 1] + step, now = ms(status.time);
    var names = upstreamNames(series, status);
    // a second's value is drawn at its middle, so it lines up with the incident shading's exact times
    var values = function (pick) { return buckets.map(function (b, i) { return [t[i] + step / 2, pick(b)]; }); };
    var perUpstream = function (name, key) {
      return values(function (b) { var u = b.upstreams[name]; return u && u[key] !== undefined ? u[key] : null; });
    };

    drawNow(series, status, names);
    C.line($("rate"), {
      name: "rate_600", xMin: xMin, xMax: xMax, yMax: 1, format: C.fmtPercent, shade: incidentShades(status, now),
      // one line per upstream under the total when there are several; the total alone when there is one
      series: [{ name: "all", points: values(function (b) { return b.rate_600; }), color: "#1d2330" }].concat(
        names.length < 2 ? [] : names.map(function (name) { return { name: name, points: perUpstream(name, "rate_600") }; })),
      emptyText: "no requests in the window yet"
    });
    var latency = [];
    names.forEach(function (name, i) {
      latency.push({ name: name + " p50", points: perUpstream(name, "p50_ms"), color: C.color(i) });
      latency.push({ name: name + " p99", points: perUpstream(name, "p99_ms"), color: C.color(i + 3) });
    });
    C.line($("latency"), { name: "latency", series: latency, xMin: xMin, xMax: xMax,
                           emptyText: "no upstream attempts in the window yet" });
    var classes = {}, kinds = {};
    buckets.forEach(function (b) {
      Object.keys(b.by_class).forEach(function (c) { classes[c] = true; });
      Object.keys(b.by_kind).forEach(function (k) { kinds[k] = (kinds[k] || 0) + b.by_kind[k]; });
    });
    C.stacked($("classes"), {
      name: "classes", t: t, width_ms: step, emptyText: "no requests in the window yet",
      stacks: Object.keys(classes).sort().map(function (c) {
        return { name: c, color: CLASS_COLORS[c], values: buckets.map(function (b) { return b.by_class[c] || 0; }) };
      })
    });
    C.bars($("kinds"), Object.keys(kinds).sort(function (a, b) { return kinds[b] - kinds[a]; }).map(function (k) {
      return { label: k, value: kinds[k] };
    }), { name: "kinds", colorIndex: 1, emptyText: "no failures in the window" });
    drawBreakers(series, names, xMin, xMax);
    C.table($("incidents"), [
      { key: "name", label: "upstream", code: true },
      { key: "breaker", label: "breaker" },
      { key: "requests", label: "requests (60 s)", num: true },
      { key: "error_rate", label: "error rate (60 s)", num: true, format: C.fmtPercent },
      { key: "ongoing", label: "ongoing incident since" },
      { key: "last", label: "last incident" },
      { key: "ttr", label: "time to recover", num: true },
      { key: "failed", label: "failed attempts", num: true },
      { key: "recovered", label: "incidents recovered", num: true }
    ], Object.keys(status.upstreams).sort().map(function (name) {
      var u = status.upstreams[name], last = u.last_incident;
      return {
        name: name, breaker: u.breaker === null ? "none" : u.breaker, requests: u.recent.requests,
        error_rate: u.recent.error_rate,
        ongoing: u.incident ? u.incident.started + " (" + u.incident.ongoing_s + " s)" : "-",
        last: last ? last.started + " \u2192 " + last.recovered : "-",
        ttr: last ? last.time_to_recover_s + " s" : "-", failed: last ? last.failed_attempts : "-",
        recovered: u.incidents_recovered
      };
    }), "no upstream yet");
    polls += 1;
    document.body.setAttribute("data-polls", String(polls));
    document.body.setAttribute("data-updated", status.time);
    $("meta").textContent = "updated " + status.time + " \u00b7 every " + POLL_MS / 1000 + " s \u00b7 last " +
      buckets.length + " s kept";
  }

  function poll() {
    Promise.all([get("/series"), get("/status")]).then(function (both) {
      draw(both[0], both[1]);
    }).catch(function (error) {
      $("meta").textContent = "not updated: " + error.message;
      document.body.setAttribute("data-error", error.message);
    }).then(function () {
      setTimeout(poll, POLL_MS);
    });
  }

  poll();
})();
