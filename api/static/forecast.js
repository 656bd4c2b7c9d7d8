// Floorwatch wallboard: forecast vs actual of the chart's queue (docs/wallboard.md "Forecast vs
// actual"). No build step, no inline style (the CSP allows 'self' only); every server value is
// written with textContent or as an SVG attribute.
//
// The queue: the "floorwatch:queue" event app.js dispatches on document when the chart's queue
// changes, or window.floorwatchForecast.setQueue(q); until either comes, the selected queue tile
// (#queues .tile.selected), else the first tile, else the first of ?queue=.
// Data: GET /api/v1/staffing?queue=Q (today's intervals with a forecast or contacts) every
// POLL_MS. "Now" (which interval is current) is the server's clock, from the answer's Date header.
// The panel shows its own age: the time since its last successful poll.
"use strict";

(() => {
  const POLL_MS = 30000;
  const STALE_MS = 75000;  // two polls missed: the figures are marked stale
  const params = new URLSearchParams(location.search);
  const TOKEN = params.get("token") || "";
  const NS = "http://www.w3.org/2000/svg";
  const W = 960, H = 230, LEFT = 52, TOP = 10, BAND = 90, GAP = 26, BOTTOM = 18;

  let queue = null;        // the queue shown
  let told = false;        // the page told us the queue (event or setQueue): stop reading the DOM
  let rows = null;         // the last answer
  let at = 0;              // Date.now() when it came
  let error = "";          // why the last poll failed ("" when it did not)
  let offsetMs = 0;        // browser clock - server clock (from the Date header)

  const $ = (id) => document.getElementById(id);
  const serverNow = () => Date.now() - offsetMs;

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) node.setAttribute(k, v);
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }
  function svg(tag, attrs, text) {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  const num = (n) => (n === null || n === undefined ? "–" : Number.isInteger(n) ? String(n) : n.toFixed(1));
  const agents = (n) => (n === null || n === undefined ? "–" : n.toFixed(1));
  const hhmm = (iso) => iso.slice(11, 16);
  const required = (r) => (r.required_agents_over_cap ? "over cap" : num(r.required_agents));
  const ageText = (ms) => (ms < 60000 ? `${Math.round(ms / 1000)} s` : `${Math.round(ms / 60000)} min`);

  function queueName(q) {
    const tile = document.querySelector(`#queues .tile[data-queue="${CSS.escape(q)}"] h3 span`);
    return (tile && tile.textContent) || q;
  }

  function domQueue() {
    const tile = document.querySelector("#queues .tile.selected[data-queue]") || document.querySelector("#queues .tile[data-queue]");
    if (tile) return tile.dataset.queue;
    const asked = params.get("queue");
    return asked ? asked.split(",")[0] : null;
  }

  function show(q) {
    if (!q || q === queue) return;
    queue = q;
    rows = null;
    at = 0;
    error = "";
    render();
    load();
  }

  function setQueue(q) {
    told = true;
    show(q);
  }
  window.floorwatchForecast = { setQueue };
  document.addEventListener("floorwatch:queue", (ev) => setQueue(ev.detail && ev.detail.queue));

  async function load() {
    const q = queue;
    if (!q || !TOKEN) return;
    try {
      const r = await fetch(`/api/v1/staffing?queue=${encodeURIComponent(q)}`, {
        headers: { Authorization: `Bearer ${TOKEN}` }, cache: "no-store" });
      if (!r.ok) throw new Error(`${r.status} ${(await r.json().catch(() => ({}))).detail || r.statusText}`);
      const body = await r.json();
      if (q !== queue) return;
      const date = Date.parse(r.headers.get("date") || "");
      if (!Number.isNaN(date)) offsetMs = Date.now() - date;
      rows = Array.isArray(body) ? body : [];
      at = Date.now();
      error = "";
    } catch (e) {
      if (q !== queue) return;
      error = (e && e.message) || "request failed";
    }
    render();
  }

  // -- rendering ----------------------------------------------------------------------
  function isCurrent(r, now) {
    return Date.parse(r.start) <= now && now < Date.parse(r.end);
  }

  function figure(field, label, value, text) {
    return el("span", { class: "fc-fig" }, el("span", { class: "fc-label" }, label),
      el("span", { class: "fc-value", "data-field": field, "data-value": JSON.stringify(value ?? null) }, text));
  }

  function nowLine(current) {
    if (!current) return el("p", { class: "fc-now", "data-current": "" }, "No forecast or contacts in the current interval.");
    const short = current.forecast_offered !== null && current.forecast_offered !== undefined
      && current.actual_offered > current.forecast_offered;
    const under = current.required_agents !== null && current.avg_staffed_agents !== null
      && current.avg_staffed_agents < current.required_agents;
    const line = el("p", { class: "fc-now", "data-current": current.start },
      el("span", { class: "fc-when" }, `now ${hhmm(current.start)}–${hhmm(current.end)}`),
      figure("forecast_offered", "forecast", current.forecast_offered, num(current.forecast_offered)),
      figure("actual_offered", "actual so far", current.actual_offered, num(current.actual_offered)),
      figure("required_agents", "required", current.required_agents, required(current)),
      figure("avg_staffed_agents", "staffed", current.avg_staffed_agents, agents(current.avg_staffed_agents)));
    if (short) line.querySelector('[data-field="actual_offered"]').classList.add("fc-over");
    if (under || current.required_agents_over_cap) line.querySelector('[data-field="avg_staffed_agents"]').classList.add("fc-under");
    return line;
  }

  function chart(list, now) {
    const nodes = [];
    const perDay = list.length ? Math.max(1, Math.round(86400000 / (Date.parse(list[0].end) - Date.parse(list[0].start)))) : 48;
    const slot = (W - LEFT) / perDay;
    const maxOf = (fields) => Math.max(1, ...list.flatMap((r) => fields.map((f) => r[f] ?? 0)));
    const offeredMax = maxOf(["forecast_offered", "actual_offered"]);
    const agentsMax = maxOf(["required_agents", "avg_staffed_agents"]);
    const bandTop = [TOP, TOP + BAND + GAP];
    nodes.push(svg("text", { x: 2, y: bandTop[0] + 12, class: "fc-axis" }, "offered"));
    nodes.push(svg("text", { x: 2, y: bandTop[0] + BAND, class: "fc-axis" }, `0–${num(Math.ceil(offeredMax))}`));
    nodes.push(svg("text", { x: 2, y: bandTop[1] + 12, class: "fc-axis" }, "agents"));
    nodes.push(svg("text", { x: 2, y: bandTop[1] + BAND, class: "fc-axis" }, `0–${num(Math.ceil(agentsMax))}`));
    for (const r of list) {
      const i = Math.floor(((Number(r.start.slice(11, 13)) * 60 + Number(r.start.slice(14, 16))) / 1440) * perDay);
      const x = LEFT + i * slot;
      const current = isCurrent(r, now);
      const g = svg("g", { class: `fc-slot${current ? " fc-current" : ""}`, "data-start": r.start, "data-current": String(current) });
      if (current) g.append(svg("rect", { x, y: 0, width: slot, height: H - BOTTOM + 2, class: "fc-highlight" }));
      const half = Math.max(1, (slot - 2) / 2);
      const bar = (field, value, band, max, left, cls, text) => {
        const h = value === null || value === undefined ? 0 : Math.max(value > 0 ? 1 : 0, (BAND * value) / max);
        const rect = svg("rect", { x: x + 1 + (left ? 0 : half), y: bandTop[band] + BAND - h, width: half, height: h,
          class: cls, "data-field": field, "data-value": JSON.stringify(value ?? null) });
        rect.append(svg("title", {}, `${hhmm(r.start)} · ${text}`));
        g.append(rect);
      };
      bar("forecast_offered", r.forecast_offered, 0, offeredMax, true, "fc-forecast", `forecast ${num(r.forecast_offered)}`);
      bar("actual_offered", r.actual_offered, 0, offeredMax, false, "fc-actual", `actual ${num(r.actual_offered)}`);
      bar("required_agents", r.required_agents, 1, agentsMax, true, "fc-required", `required ${required(r)}`);
      bar("avg_staffed_agents", r.avg_staffed_agents, 1, agentsMax, false, "fc-staffed", `staffed ${agents(r.avg_staffed_agents)}`);
      nodes.push(g);
    }
    for (let hour = 0; hour < 24; hour += 3) {
      nodes.push(svg("text", { x: LEFT + (hour / 24) * (W - LEFT), y: H - 4, class: "fc-axis" }, `${String(hour).padStart(2, "0")}:00`));
    }
    const box = svg("svg", { class: "fc-chart", viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img",
      "aria-label": "forecast and actual offered, required and staffed agents per interval today" });
    box.append(...nodes);
    return box;
  }

  function legend() {
    const item = (cls, text) => el("span", { class: "fc-key" }, el("span", { class: `fc-swatch ${cls}` }), text);
    return el("p", { class: "fc-legend" }, item("fc-forecast", "forecast offered"), item("fc-actual", "actual offered"),
      item("fc-required", "required agents"), item("fc-staffed", "staffed agents (average)"));
  }

  function ageLabel() {
    const node = el("span", { id: "forecast-age", class: "fc-age" });
    paintAge(node);
    return node;
  }

  function paintAge(node) {
    if (!node) return;
    if (!queue) { node.textContent = "no queue yet"; node.className = "fc-age"; return; }
    if (!at) { node.textContent = error ? `no data · ${error}` : "loading…"; node.className = `fc-age${error ? " stale" : ""}`; return; }
    const age = Date.now() - at;
    const stale = age > STALE_MS;
    node.textContent = `${stale ? "stale · " : ""}updated ${ageText(age)} ago${error ? ` · ${error}` : ""}`;
    node.className = `fc-age${stale ? " stale" : error ? " warn" : " ok"}`;
    node.dataset.ageMs = String(Math.round(age));
  }

  function render() {
    const section = $("forecast");
    if (!section) return;
    const title = el("h2", {}, "Forecast vs actual today — ", el("span", { id: "forecast-queue" }, queue ? queueName(queue) : "–"), " ", ageLabel());
    if (!rows) { section.replaceChildren(title); return; }
    if (!rows.length) {
      section.replaceChildren(title, el("p", { class: "fc-empty" }, `No forecast or contacts today for ${queueName(queue)}.`));
      return;
    }
    const now = serverNow();
    section.replaceChildren(title, nowLine(rows.find((r) => isCurrent(r, now))), chart(rows, now), legend());
  }

  function tick() {
    if (!told) show(domQueue());
    paintAge($("forecast-age"));
  }

  function start() {
    if (!$("forecast")) return;
    if (!queue) show(domQueue());
    render();
    setInterval(tick, 1000);
    setInterval(load, POLL_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
