// Floorwatch reports: day/week/month tables of a queue, of its forecast vs actual and of the
// teams, and the service-level heat map of a queue, for a range of local dates. No build step;
// every value from the server is written with textContent, its raw value kept in data-value. Nothing is computed here: each
// figure is the server's, the total rows too (the same endpoint asked with group=range, one period
// that is the whole range; docs/reports.md). The token comes from ?token= as on the wallboard and
// goes out as "Authorization: Bearer"; the other parameters (queue, from, to, group) are kept in
// the URL with history.replaceState, so a report can be bookmarked or shared.
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  const TOKEN = params.get("token") || "";
  const GROUPS = ["day", "week", "month"];
  const DAY_MS = 86400000;

  const state = { queue: "", from: "", to: "", group: "day" };
  let queueNames = new Map();  // queue id -> name, from GET /api/v1/queues
  let generation = 0;          // the newest load(); older answers are dropped

  const $ = (id) => document.getElementById(id);

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v; else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  // -- formatting (the wallboard's) ----------------------------------------------------------
  const none = (v) => v === null || v === undefined;
  const pct = (r) => (none(r) ? "–" : `${(r * 100).toFixed(1)}%`);
  const count = (n) => (none(n) ? "–" : String(n));
  const tenths = (n) => (none(n) ? "–" : n.toFixed(1));  // forecast volumes, agent-hours
  function dur(s) {
    if (none(s) || !isFinite(s)) return "–";
    s = Math.max(0, Math.round(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(sec).padStart(2, "0");
    return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
  }
  // service level and adherence against a target: at or above green, up to 5 points below
  // amber, further red (the wallboard's bands)
  function slClass(value, target) {
    if (none(value) || none(target)) return "sl-none";
    if (value >= target) return "sl-green";
    if (value >= target - 0.05) return "sl-amber";
    return "sl-red";
  }
  // occupancy: more than 5 points above the team's target red, more than 10 below amber;
  // AHT: at or under the target green, up to 10 % over amber (the wallboard strip's bands)
  function occClass(value, target) {
    if (none(target)) return "";
    if (none(value)) return "sl-none";
    if (value > target + 0.05) return "sl-red";
    if (value < target - 0.1) return "sl-amber";
    return "sl-green";
  }
  function ahtClass(value, target) {
    if (none(target)) return "";
    if (none(value)) return "sl-none";
    if (value <= target) return "sl-green";
    if (value <= target * 1.1) return "sl-amber";
    return "sl-red";
  }
  const adhClass = (value, target) => (none(target) ? "" : slClass(value, target));

  // -- dates: local YYYY-MM-DD strings (calendar arithmetic on UTC midnights) -----------------
  const isDate = (s) => typeof s === "string" && /^\d{4}-\d{2}-\d{2}$/.test(s) && !isNaN(Date.parse(`${s}T00:00:00Z`));
  const addDays = (s, n) => new Date(Date.parse(`${s}T00:00:00Z`) + n * DAY_MS).toISOString().slice(0, 10);
  const weekday = (s) => ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"][new Date(`${s}T00:00:00Z`).getUTCDay()];
  function browserToday() {
    const d = new Date();
    return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, "0")}-${String(d.getDate()).padStart(2, "0")}`;
  }
  // the server's today in its own zone, from the ISO start of a queue's current interval
  function serverToday(queues) {
    for (const q of queues) {
      const start = q && q.interval && q.interval.start;
      if (typeof start === "string" && isDate(start.slice(0, 10))) return start.slice(0, 10);
    }
    return null;
  }

  // -- REST -----------------------------------------------------------------------------------
  const auth = () => ({ Authorization: `Bearer ${TOKEN}` });
  async function failure(r) {
    const body = await r.json().catch(() => ({}));
    let detail = body.detail;
    if (Array.isArray(detail)) detail = detail.map((d) => (d && d.msg) || JSON.stringify(d)).join("; ");
    return new Error(`${r.status} ${detail || r.statusText}`);
  }
  async function api(path) {
    const r = await fetch(path, { headers: auth(), cache: "no-store" });
    if (!r.ok) throw await failure(r);
    return r.json();
  }
  const query = (o) => new URLSearchParams(o).toString();
  const daysUrl = (group) =>
    `/api/v1/queues/${encodeURIComponent(state.queue)}/days?${query({ from: state.from, to: state.to, group })}`;
  const teamsUrl = (group) => `/api/v1/teams?${query({ from: state.from, to: state.to, group })}`;
  const staffingUrl = (group) => `/api/v1/staffing?${query({ queue: state.queue, from: state.from, to: state.to, group })}`;
  function urls() {
    const range = { from: state.from, to: state.to };
    return {
      queue: state.queue ? daysUrl(state.group) : null,
      queueTotal: state.queue ? daysUrl("range") : null,
      forecast: state.queue ? staffingUrl(state.group) : null,
      forecastTotal: state.queue ? staffingUrl("range") : null,
      teams: teamsUrl(state.group),
      teamsTotal: teamsUrl("range"),
      heatmap: state.queue ? `/api/v1/queues/${encodeURIComponent(state.queue)}/heatmap?${query(range)}` : null,
    };
  }

  function banner(text) {
    const b = $("banner");
    b.hidden = !text;
    b.textContent = text || "";
  }
  function sectionError(name, err) {
    const p = $(`${name}-error`);
    p.hidden = !err;
    p.textContent = err ? `Could not load the figures: ${err.message}` : "";
  }

  // -- one figure: <span class="value" data-field data-value> inside its cell -----------------
  function figure(field, value, text, cls, extra) {
    const attrs = { class: `value ${cls || ""}`.trim(), "data-field": field, "data-value": JSON.stringify(none(value) ? null : value) };
    return el("td", {}, el("span", { ...attrs, ...(extra || {}) }, text));
  }
  function periodCell(row, label) {
    const th = el("th", { scope: "row", title: `${row.from} – ${row.to}` }, label);
    if (row.from !== row.to || label !== row.from) th.append(el("span", { class: "dates" }, `${row.from} – ${row.to}`));
    return th;
  }

  // -- queue table: GET /api/v1/queues/{q}/days ------------------------------------------------
  // The total row is the one row of the same endpoint asked with group=range (the whole range
  // as one period, summed by the server: nothing is added up in the browser).

  function queueRow(row, isTotal) {
    const target = (row.rules || {}).sl_target;
    const tr = el("tr", { "data-period": isTotal ? "total" : row.period, "data-from": row.from, "data-to": row.to });
    tr.append(periodCell(row, isTotal ? "Total" : row.period));
    const sl = figure("service_level", row.service_level, pct(row.service_level), slClass(row.service_level, target), {
      "data-target": JSON.stringify(none(target) ? null : target),
    });
    if (!none(target)) sl.append(el("span", { class: "target" }, `target ${pct(target)}`));
    if (row.mixed_rules) {
      sl.append(el("span", { class: "mixed", title: "the queue's rules changed within this period" }, "rules changed"));
    }
    tr.append(
      figure("offered", row.offered, count(row.offered)),
      figure("answered", row.answered, count(row.answered)),
      figure("abandoned", row.abandoned, count(row.abandoned)),
      sl,
      figure("asa", row.asa_s, dur(row.asa_s)),
      figure("aht", row.aht_s, dur(row.aht_s)),
      figure("abandon_rate", row.abandon_rate, pct(row.abandon_rate)),
      figure("transfer_rate", row.transfer_rate, pct(row.transfer_rate)),
    );
    return tr;
  }

  function renderQueue(rows, total) {
    const name = queueNames.get(state.queue) || state.queue;
    $("queue-title").textContent = `Queue ${name} — ${state.from} to ${state.to} by ${state.group}`;
    const body = $("queue-table").tBodies[0];
    body.replaceChildren(...rows.map((r) => queueRow(r, false)));
    if (!rows.length) body.append(el("tr", { class: "empty" }, el("td", { colspan: "9" }, "No periods")));
    $("queue-table").tFoot.replaceChildren(...(total ? [queueRow(total, true)] : []));
  }

  // -- forecast vs actual: GET /api/v1/staffing?queue&from&to&group (STAFFING PERIOD ROWs) ---------
  // The total row is the one row of group=range, like the queue table's.

  function forecastRow(row, isTotal) {
    const tr = el("tr", { "data-period": isTotal ? "total" : row.period, "data-from": row.from, "data-to": row.to });
    tr.append(
      periodCell(row, isTotal ? "Total" : row.period),
      figure("forecast_offered", row.forecast_offered, tenths(row.forecast_offered)),
      figure("actual_offered", row.actual_offered, count(row.actual_offered)),
      figure("wape_offered", row.wape_offered, pct(row.wape_offered)),
      figure("forecast_aht", row.forecast_aht_s, dur(row.forecast_aht_s)),
      figure("actual_aht", row.actual_aht_s, dur(row.actual_aht_s)),
      figure("wape_aht", row.wape_aht, pct(row.wape_aht)),
      figure("required_agent_hours", row.required_agent_hours, tenths(row.required_agent_hours)),
      figure("staffed_agent_hours", row.staffed_agent_hours, tenths(row.staffed_agent_hours)),
    );
    return tr;
  }

  function renderForecast(rows, total) {
    const name = queueNames.get(state.queue) || state.queue;
    $("forecast-title").textContent = `Forecast vs actual ${name} — ${state.from} to ${state.to} by ${state.group}`;
    const body = $("forecast-table").tBodies[0];
    body.replaceChildren(...rows.map((r) => forecastRow(r, false)));
    if (!rows.length) body.append(el("tr", { class: "empty" }, el("td", { colspan: "9" }, "No periods")));
    $("forecast-table").tFoot.replaceChildren(...(total ? [forecastRow(total, true)] : []));
  }

  // -- team table: GET /api/v1/teams?from&to&group, totals from group=range ------------------------
  // total: the team's (or the floor's) one period of the group=range answer, the last row
  function teamBody(id, name, targets, periods, total) {
    const tb = el("tbody", { "data-team": id });
    const tg = targets || {};
    const list = [...(periods || []).map((p) => [p, false]), ...(total ? [[total, true]] : [])];
    if (!list.length) {
      tb.append(el("tr", {}, el("th", { scope: "row" }, name), el("td", { colspan: "8", class: "empty" }, "No periods")));
      return tb;
    }
    list.forEach(([p, isTotal], i) => {
      const tr = el("tr", {
        "data-period": isTotal ? "total" : p.period, "data-from": p.from, "data-to": p.to, class: isTotal ? "total" : null,
      });
      if (i === 0) tr.append(el("th", { scope: "rowgroup", rowspan: String(list.length), class: "team" }, name));
      tr.append(
        periodCell(p, isTotal ? "Total" : p.period),
        figure("agents", p.agents, count(p.agents)),
        figure("occupancy", p.occupancy, pct(p.occupancy), occClass(p.occupancy, tg.occupancy)),
        figure("adherence", p.adherence, pct(p.adherence), adhClass(p.adherence, tg.adherence)),
        figure("aht", p.aht_s, dur(p.aht_s), ahtClass(p.aht_s, tg.aht_s)),
        figure("shrinkage", p.shrinkage, pct(p.shrinkage)),
        figure("absent", p.absent, count(p.absent), p.absent > 0 ? "warn" : ""),
        figure("late_logins", p.late_logins, count(p.late_logins), p.late_logins > 0 ? "sl-amber" : ""),
      );
      tb.append(tr);
    });
    return tb;
  }

  function renderTeams(body, whole) {
    $("team-title").textContent = `Floor and teams — ${state.from} to ${state.to} by ${state.group}`;
    const table = $("team-table");
    for (const tb of [...table.tBodies]) tb.remove();
    const only = (periods) => (Array.isArray(periods) && periods.length === 1 ? periods[0] : null);
    const totals = new Map((whole.teams || []).map((t) => [t.id, only(t.periods)]));
    table.append(teamBody("floor", "Floor", null, (body.floor || {}).periods, only((whole.floor || {}).periods)));
    for (const t of body.teams || []) {
      table.append(teamBody(t.id, t.name || t.id, t.targets, t.periods, totals.get(t.id) || null));
    }
  }

  // -- heat map: GET /api/v1/queues/{q}/heatmap ---------------------------------------------------
  const HEAT = { "sl-green": "hm-green", "sl-amber": "hm-amber", "sl-red": "hm-red", "sl-none": "hm-none" };

  function renderLegend(target) {
    const t = none(target) ? null : target;
    const item = (cls, text) => el("li", {}, el("span", { class: `swatch ${cls}`, "aria-hidden": "true" }), text);
    $("legend").replaceChildren(
      item("hm-green", t === null ? "at or above the target" : `at or above the target (≥ ${pct(t)})`),
      item("hm-amber", t === null ? "up to 5 points below" : `up to 5 points below (${pct(t - 0.05)} – ${pct(t)})`),
      item("hm-red", t === null ? "more than 5 points below" : `more than 5 points below (< ${pct(t - 0.05)})`),
      item("hm-none", "contacts, no service level"),
      item("hm-empty", "no contacts"),
    );
  }

  function renderHeatmap(h) {
    const target = h.sl_target;
    const name = queueNames.get(state.queue) || state.queue;
    $("heatmap-title").textContent =
      `Service level per ${h.slot_minutes === 30 ? "half hour" : `${h.slot_minutes} minutes`} — ${name}, target ${pct(target)}`;
    renderLegend(target);
    const slots = h.slots || [];
    const head = el("tr", {}, el("th", { scope: "col" }, "Date"));
    for (const s of slots) {
      head.append(el("th", { scope: "col", title: s, "aria-label": s, class: s.endsWith(":00") ? "hour" : "part" },
        s.endsWith(":00") ? s.slice(0, 2) : ""));
    }
    const body = el("tbody");
    for (const day of h.days || []) {
      const tr = el("tr", { "data-date": day.date }, el("th", { scope: "row" }, `${weekday(day.date)} ${day.date}`));
      (day.cells || []).forEach((c) => {
        const slot = c.slot;
        const empty = !c.offered;
        const cls = empty ? "hm-empty" : HEAT[slClass(c.service_level, target)];
        const text = empty
          ? `${day.date} ${slot}: no contacts`
          : `${day.date} ${slot}: service level ${pct(c.service_level)} of ${c.offered} offered (target ${pct(target)})`;
        tr.append(el("td", {
          class: `cell ${cls}`, "data-slot": slot, "data-offered": String(c.offered ?? 0),
          "data-value": JSON.stringify(none(c.service_level) ? null : c.service_level), title: text, "aria-label": text,
        }));
      });
      body.append(tr);
    }
    $("heatmap").replaceChildren(el("thead", {}, head), body);
  }

  // -- loading ------------------------------------------------------------------------------------
  async function load() {
    const gen = ++generation;
    const live = () => gen === generation;
    const u = urls();
    $("status").textContent = "loading…";
    // each table and its total row: two requests in parallel, shown together
    const queueTask = u.queue
      ? Promise.all([api(u.queue), api(u.queueTotal)]).then(([rows, whole]) => {
        if (live()) { sectionError("queue", null); renderQueue(rows, whole.length === 1 ? whole[0] : null); }
      })
      : Promise.reject(new Error("no queue chosen"));
    const forecastTask = u.forecast
      ? Promise.all([api(u.forecast), api(u.forecastTotal)]).then(([rows, whole]) => {
        if (live()) { sectionError("forecast", null); renderForecast(rows, whole.length === 1 ? whole[0] : null); }
      })
      : Promise.reject(new Error("no queue chosen"));
    const teamTask = Promise.all([api(u.teams), api(u.teamsTotal)]).then(([body, whole]) => {
      if (live()) { sectionError("team", null); renderTeams(body, whole); }
    });
    const heatTask = u.heatmap
      ? api(u.heatmap).then((h) => { if (live()) { sectionError("heatmap", null); renderHeatmap(h); } })
      : Promise.reject(new Error("no queue chosen"));
    const parts = ["queue", "forecast", "team", "heatmap"];
    const results = await Promise.allSettled([queueTask, forecastTask, teamTask, heatTask]);
    if (!live()) return;
    parts.forEach((name, i) => {
      if (results[i].status === "rejected") sectionError(name, results[i].reason);
    });
    const failed = results.filter((r) => r.status === "rejected").length;
    $("status").textContent = `${state.from} – ${state.to} · ${failed ? `${failed} of ${parts.length} failed` : "loaded"} ${new Date().toLocaleTimeString()}`;
    document.body.dataset.loaded = String(gen);
  }

  // the URL keeps every other parameter (the token first) and the report's own four
  function writeUrl() {
    const p = new URLSearchParams(location.search);
    for (const k of ["queue", "from", "to", "group"]) {
      if (state[k]) p.set(k, state[k]); else p.delete(k);
    }
    history.replaceState(null, "", `${location.pathname}?${p}`);
  }

  function apply() {
    const from = $("from").value, to = $("to").value;
    if (!isDate(from) || !isDate(to)) { banner("Choose both dates."); return; }
    if (from > to) { banner("The first date is after the last."); return; }
    banner(null);
    Object.assign(state, { queue: $("queue").value, from, to, group: $("group").value });
    writeUrl();
    load();
  }

  async function downloadCsv(which, button) {
    const url = urls()[which];
    if (!url) return;
    button.disabled = true;
    try {
      const r = await fetch(`${url}&format=csv`, { headers: auth(), cache: "no-store" });
      if (!r.ok) throw await failure(r);
      const blob = await r.blob();
      const match = /filename="?([^";]+)"?/i.exec(r.headers.get("content-disposition") || "");
      const href = URL.createObjectURL(blob);
      const a = el("a", { href, download: match ? match[1] : `floorwatch-${which}.csv`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(href), 30000);
    } catch (err) {
      banner(`CSV download failed: ${err.message}`);
    } finally {
      button.disabled = false;
    }
  }

  async function start() {
    $("wallboard-link").href = TOKEN ? `/?${query({ token: TOKEN })}` : "/";
    renderLegend(null);
    let queues = [];
    try { queues = await api("/api/v1/queues"); } catch (err) { banner(`Could not load the queues: ${err.message}`); }
    queueNames = new Map(queues.map((q) => [q.queue, q.name || q.queue]));
    const today = serverToday(queues) || browserToday();
    const wanted = params.get("queue");
    state.queue = wanted || (queues[0] && queues[0].queue) || "";
    state.to = isDate(params.get("to")) ? params.get("to") : today;
    state.from = isDate(params.get("from")) ? params.get("from") : addDays(state.to, -6);
    state.group = GROUPS.includes(params.get("group")) ? params.get("group") : "day";
    const select = $("queue");
    const ids = [...queueNames.keys()];
    if (state.queue && !queueNames.has(state.queue)) ids.push(state.queue);  // a bookmarked queue not seen today
    select.replaceChildren(...ids.map((id) => el("option", { value: id }, queueNames.get(id) || id)));
    select.value = state.queue;
    $("from").value = state.from;
    $("to").value = state.to;
    $("group").value = state.group;
    $("controls").addEventListener("submit", (e) => { e.preventDefault(); apply(); });
    $("controls").addEventListener("change", apply);
    for (const b of document.querySelectorAll("button.csv")) b.addEventListener("click", () => downloadCsv(b.dataset.csv, b));
    writeUrl();
    load();
  }

  start();
})();
