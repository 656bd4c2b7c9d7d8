// Floorwatch wallboard: one websocket (snapshot + deltas), a little REST, no build step.
// Protocol: docs/api.md "Websocket". Every value from the server is written with textContent.
// The floor/team strip polls GET /api/v1/teams (TEAMS_POLL_MS): the websocket carries queues,
// agents and alerts only. The agent drill-down (supervisor and above) reads
// GET /api/v1/agents/{id}/performance and /api/v1/adherence.
// Boards, filters, definitions and the alarm (docs/wallboard.md): ?board=ID applies a board of
// GET /api/v1/boards; the header's team and queue selects rewrite ?team= and ?queue= in place
// (history.replaceState) and reconnect the websocket with the new filter; every figure's label
// shows its sentence of GET /api/v1/definitions (title on hover, a popover on tap or focus);
// the opt-in alarm beeps (WebAudio) and flashes for a critical alert that is new since the
// page (or its filter) loaded. Whenever the chart's queue changes the page dispatches
// "floorwatch:queue" {detail: {queue}} on document (the forecast panel follows it).
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  const TOKEN = params.get("token") || "";
  const BOARD = params.get("board");
  const STALE_MS = 12000;      // amber freshness after this long without a frame
  const DEAD_MS = 30000;       // ... and the socket is presumed dead after this long
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const TEAMS_POLL_MS = 15000;     // the strip's REST poll (and the open drill-down's refresh)
  const TEAMS_STALE_MS = 40000;    // strip figures older than this (polls failing) are marked stale
  const FLASH_MS = 5000;           // how long the page flashes for a new critical alert
  const ALARM_KEY = "floorwatch.alarm";  // localStorage: "on" when the sound and flash are wanted
  // a board's tiles: the wallboard's sections (the chart's is the box around #chart)
  const TILES = { alerts: "alerts", strip: "strip", queues: "queues", chart: "chartbox", forecast: "forecast", agents: "agents" };

  const state = { queues: new Map(), agents: new Map(), alerts: new Map() };
  const ids = { queues: "queue", agents: "agent_id", alerts: "id" };
  let me = { name: "", roles: [] };
  let offsetMs = 0;            // browser clock - server clock
  let lastServerTs = null;
  let lastFrameAt = 0;
  let ready = true;
  let worker = null;           // the last frame's "worker" ({age_ms, stale_after_ms, dead_after_ms}) + when it came
  let socket = null;
  let attempt = 0;
  let retryTimer = null;
  let retryAt = 0;
  let retryWhy = "Connection lost";  // what the banner says while a reconnect is pending
  let retryKind = "";                // banner style: "" red, "info" amber
  let board = null;            // the board of ?board= (a row of GET /api/v1/boards), or null
  let selectedQueue = null;    // the chart's queue (selectQueue() announces a change)
  let defs = {};               // GET /api/v1/definitions: {key: {label, text}}
  let queueNames = new Map();  // GET /api/v1/queues: queue id -> name (the queue select's options)
  let alarmOn = false;         // the header toggle (localStorage ALARM_KEY)
  let audio = null;            // the AudioContext, made on first use
  let alarmBaseline = true;    // the next snapshot's critical alerts are not new (page load, filter change)
  const criticalSeen = new Set();  // ids of alerts already seen critical (each alarms once)
  let alarms = 0;              // alarms fired (document.body.dataset.alerted)
  let beeps = 0;               // beeps played (document.body.dataset.beeps)
  let flashTimer = null;
  let selectedAgent = null;
  let teams = null;            // the last GET /api/v1/teams body
  let teamsAt = 0;             // Date.now() when it arrived
  let teamsError = "";         // why the last poll failed ("" when it did not)

  const $ = (id) => document.getElementById(id);
  const serverNow = () => Date.now() - offsetMs;
  const isSupervisor = () => me.roles.includes("supervisor");

  // -- filters: ?queue= (comma-separated) and ?team= of the URL, else the board's lists ---------
  const listParam = (name) => (params.get(name) || "").split(",").map((x) => x.trim()).filter(Boolean);
  function queueFilter() { const q = listParam("queue"); return q.length ? q : board ? board.queues : []; }
  function teamFilter() { const t = params.get("team"); return t ? [t] : board ? board.teams : []; }
  const showsQueue = (id) => { const f = queueFilter(); return !f.length || f.includes(id); };
  const showsTeam = (id) => { const f = teamFilter(); return !f.length || f.includes(id); };
  function showsAgent(a) {  // as the websocket's filter: a team's agents, the agents serving a queue
    const qs = queueFilter();
    if (qs.length && Array.isArray(a.queues) && !a.queues.some((q) => qs.includes(q))) return false;
    return showsTeam(a.team);
  }

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  }

  // -- formatting ----------------------------------------------------------------------
  const pct = (r) => (r === null || r === undefined ? "–" : `${(r * 100).toFixed(1)}%`);
  function dur(s) {
    if (s === null || s === undefined || !isFinite(s)) return "–";
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(sec).padStart(2, "0");
    return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
  }
  const secs = (s) => (s === null || s === undefined ? "–" : `${Math.round(s)} s`);
  const since = (iso) => (iso ? (serverNow() - Date.parse(iso)) / 1000 : null);
  function slClass(value, target) {
    if (value === null || value === undefined || target === null || target === undefined) return "sl-none";
    if (value >= target) return "sl-green";
    if (value >= target - 0.05) return "sl-amber";
    return "sl-red";
  }
  const label = (text) => text.replace(/_/g, " ");

  // -- banner & freshness -----------------------------------------------------------------
  function banner(text, kind) {
    const b = $("banner");
    if (!text) { b.hidden = true; b.textContent = ""; return; }
    b.hidden = false;
    b.className = `banner ${kind || ""}`;
    b.textContent = text;
  }

  const ageText = (ms) => `${ms < 10000 ? (ms / 1000).toFixed(1) : Math.round(ms / 1000)} s`;

  // The badge tells how old the newest worker heartbeat is: the server's age of it when it sent
  // the last frame plus the time this page has counted since (its own clock's elapsed time, so a
  // TV whose clock is wrong still shows the truth). Without a frame for STALE_MS, the socket's
  // silence is what it shows.
  function badge() {
    const frameAge = Math.max(0, serverNow() - lastServerTs);
    if (!worker || frameAge > STALE_MS) {
      const cls = frameAge > DEAD_MS ? "dead" : frameAge > STALE_MS || !ready ? "stale" : "ok";
      return { text: frameAge > STALE_MS ? "no update" : ready ? "live" : "catching up", cls, ageMs: frameAge };
    }
    const ageMs = worker.age_ms + Math.max(0, Date.now() - worker.at);
    if (ageMs > worker.dead_after_ms) return { text: "worker not reporting", cls: "dead", ageMs };
    if (ageMs > worker.stale_after_ms) return { text: "worker late", cls: "stale", ageMs };
    return { text: ready ? "live" : "catching up", cls: ready ? "ok" : "stale", ageMs };
  }

  function renderFresh() {
    const f = $("fresh");
    if (lastServerTs === null) { f.textContent = "connecting…"; f.className = "fresh"; }
    else {
      const b = badge();
      f.textContent = `${b.text} · ${ageText(b.ageMs)}`;
      f.className = `fresh ${b.cls}`;
      f.dataset.ageMs = String(Math.round(b.ageMs));
    }
    if (retryTimer) {
      const left = Math.max(0, Math.ceil((retryAt - Date.now()) / 1000));
      banner(`${retryWhy} — reconnecting in ${left} s (attempt ${attempt})`, retryKind);
    }
  }

  // -- websocket ------------------------------------------------------------------------
  function wsUrl() {
    const q = new URLSearchParams({ token: TOKEN });
    const queues = queueFilter(), teamIds = teamFilter();
    if (queues.length) q.set("queue", queues.join(","));
    if (teamIds.length === 1) q.set("team", teamIds[0]);  // several teams: filtered here, not there
    return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws?${q}`;
  }

  function connect() {
    retryTimer = null;
    let opened = false;
    const ws = new WebSocket(wsUrl());
    socket = ws;
    ws.onopen = () => { opened = true; };
    ws.onmessage = (ev) => {
      if (ws !== socket) return;
      let frame;
      try { frame = JSON.parse(ev.data); } catch { return; }
      onFrame(frame);
    };
    ws.onclose = (ev) => {
      if (ws !== socket) return;
      socket = null;
      if (ev.code === 4401 || ev.code === 4403) {
        banner(ev.code === 4401 ? "Invalid or missing token: open the link with ?token=…" : "This token may not view the wallboard");
        return;
      }
      if (ev.code === 4400) { banner(`Bad filter: ${ev.reason || "check ?queue= and ?team="}`); return; }
      if (ev.code === 1013) {  // try again later: the server has reached a client or filter limit
        const why = ev.reason || "wallboard server full";
        scheduleReconnect(`Server busy (${why})`, "info");
        return;
      }
      scheduleReconnect();
    };
  }

  function reconnect() {  // another filter: another socket (a socket's filter is set when it opens)
    const old = socket;
    socket = null;  // its close event is then ignored
    if (old) { try { old.close(); } catch { /* already gone */ } }
    if (retryTimer) { clearTimeout(retryTimer); retryTimer = null; }
    attempt = 0;
    connect();
  }

  function scheduleReconnect(why = "Connection lost", kind = "") {
    retryWhy = why;
    retryKind = kind;
    attempt += 1;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** (attempt - 1));
    const delay = base / 2 + Math.random() * base / 2;  // jitter: 1,000 TVs do not come back at once
    retryAt = Date.now() + delay;
    retryTimer = setTimeout(connect, delay);
    renderFresh();
  }

  function watchdog() {  // a socket that went silent (no frame, not even a ping) is dead
    if (socket && socket.readyState === WebSocket.OPEN && lastFrameAt && Date.now() - lastFrameAt > DEAD_MS) {
      const dead = socket;
      socket = null;
      try { dead.close(); } catch { /* already gone */ }
      scheduleReconnect();
    }
  }

  function onFrame(frame) {
    lastFrameAt = Date.now();
    if (typeof frame.server_ts === "number") {
      offsetMs = Date.now() - frame.server_ts;
      lastServerTs = frame.server_ts;
    }
    if (typeof frame.ready === "boolean") ready = frame.ready;
    const w = frame.worker;
    worker = w && typeof w.age_ms === "number" ? { ...w, at: Date.now() } : null;
    if (frame.type === "snapshot") {
      attempt = 0;
      banner(null);
      for (const section of Object.keys(ids)) {
        state[section] = new Map((frame[section] || []).map((row) => [row[ids[section]], row]));
      }
      noteAlerts([...state.alerts.values()], alarmBaseline);
      alarmBaseline = false;
      renderAll();
      fillFilters();
      loadChart();
    } else if (frame.type === "delta") {
      for (const section of Object.keys(ids)) {
        const change = frame[section];
        if (!change) continue;
        for (const k of change.remove || []) state[section].delete(k);
        for (const row of change.upsert || []) state[section].set(row[ids[section]], row);
      }
      if (frame.alerts) noteAlerts(frame.alerts.upsert || [], false);
      if (frame.queues) renderQueues();
      if (frame.agents) renderAgents();
      if (frame.alerts || frame.agents) renderAlerts();
    }
    renderFresh();
  }

  // -- queues ---------------------------------------------------------------------------
  // a figure: its label (focusable: tap or focus shows the definition) and its value (raw in
  // data-value); ctx tells DEF_OF which figure a data-field is ("queue", "team", "agent");
  // def overrides the definition key(s), space-separated
  function metric(field, labelText, value, text, cls, extra, ctx, def) {
    const key = def || defKey(ctx, field);
    return el("div", { class: "metric", title: defTitle(key) || null },
      el("span", { class: "label", tabindex: "0", "data-def": key }, labelText),
      el("span", { class: `value ${cls || ""}`, "data-field": field, "data-value": JSON.stringify(value ?? null), ...(extra || {}) }, text));
  }

  function liveWait(q) {
    if (!q.waiting || !q.oldest_waiting) return q.longest_wait_s;
    return Math.max(0, since(q.oldest_waiting));
  }

  // staffed agents, next to the required ones when known; "over cap" when the target needs more
  // agents than staffing.max_agents_per_queue (required_agents is then null)
  function staffedMetric(q, a) {
    const staffed = a.staffed ?? 0;
    const both = "staffed required_agents";
    if (q.required_agents_over_cap) return metric("staffed", "staffed / req", a.staffed, `${staffed} / over cap`, "warn", null, "queue", both);
    if (q.required_agents === null || q.required_agents === undefined) return metric("staffed", "staffed", a.staffed, staffed, "", null, "queue");
    return metric("staffed", "staffed / req", a.staffed, `${staffed} / ${q.required_agents}`, a.staffed < q.required_agents ? "warn" : "", null, "queue", both);
  }

  function queueTile(q) {
    const iv = q.interval || {}, today = q.today || {}, a = q.agents || {};
    const target = q.sl_target;
    const tile = el("article", { class: `tile${q.queue === selectedQueue ? " selected" : ""}`, "data-queue": q.queue },
      el("h3", {}, el("span", {}, q.name || q.queue), el("span", { class: "channel" }, q.channel || "")),
      el("div", { class: "big" },
        metric("waiting", "waiting", q.waiting, q.waiting ?? "–", q.waiting > 0 ? "warn" : "", null, "queue"),
        metric("longest_wait", "longest wait", q.longest_wait_s, dur(liveWait(q)), "", null, "queue"),
        metric("sl_interval", `SL interval · target ${pct(target)}`, iv.service_level, pct(iv.service_level), slClass(iv.service_level, target), null, "queue"),
        metric("sl_today", "SL today", today.service_level, pct(today.service_level), slClass(today.service_level, target), null, "queue")),
      el("div", { class: "small" },
        metric("abandon_rate", "abandon today", today.abandon_rate, pct(today.abandon_rate), "", null, "queue"),
        metric("asa", "ASA today", today.asa_s, secs(today.asa_s), "", null, "queue"),
        metric("aht", "AHT today", today.aht_s, dur(today.aht_s), "", null, "queue")),
      el("div", { class: "small quality" },
        metric("fcr", "FCR today", today.fcr, pct(today.fcr), "", null, "queue"),
        metric("repeat_rate", "repeat today", today.repeat_rate, pct(today.repeat_rate), "", null, "queue"),
        metric("csat", "CSAT today", today.csat_satisfied, pct(today.csat_satisfied), "", null, "queue")),
      el("div", { class: "staff" },
        metric("available", "avail", a.available, a.available ?? 0, "sl-green", null, "queue"),
        metric("on_contact", "on contact", a.on_contact, a.on_contact ?? 0, "", null, "queue"),
        metric("wrap_up", "wrap", a.wrap_up, a.wrap_up ?? 0, "", null, "queue"),
        metric("aux", "aux", a.aux, a.aux ?? 0, "sl-amber", null, "queue"),
        staffedMetric(q, a)));
    tile.addEventListener("click", () => selectQueue(q.queue));
    return tile;
  }

  function renderQueues() {
    const box = $("queues");
    const shown = [...state.queues.values()].filter((q) => showsQueue(q.queue));
    keepFocus(box, () => box.replaceChildren(...shown.map(queueTile)));
    if (shown.length && !shown.some((q) => q.queue === selectedQueue)) selectQueue(shown[0].queue);
  }

  // the chart's queue; a change redraws the chart and is announced to the other panels
  function selectQueue(queue) {
    if (queue === selectedQueue) return;
    selectedQueue = queue;
    for (const t of document.querySelectorAll("#queues .tile")) t.classList.toggle("selected", t.dataset.queue === queue);
    document.dispatchEvent(new CustomEvent("floorwatch:queue", { detail: { queue } }));
    loadChart();
  }

  function tickQueues() {
    for (const q of state.queues.values()) {
      const node = document.querySelector(`[data-queue="${CSS.escape(q.queue)}"] [data-field="longest_wait"]`);
      if (node) node.textContent = dur(liveWait(q));
    }
  }

  // -- agents ---------------------------------------------------------------------------
  function agentCard(a) {
    const out = a.in_adherence === false;
    const card = el("article", { class: `agent st-${a.state || "unknown"}`, "data-agent": a.agent_id },
      el("div", { class: "name", title: a.agent_id }, a.name || a.agent_id),
      el("div", { class: "line" },
        el("span", { "data-field": "state" }, label(a.state === "aux" && a.reason ? `aux · ${a.reason}` : a.state || "?")),
        el("span", { "data-field": "in_state", "data-since": a.since || "" }, dur(since(a.since)))),
      el("div", { class: "line" },
        el("span", {}, a.scheduled_activity ? `sched: ${a.scheduled_activity}` : ""),
        el("span", { class: `adh ${out ? "out" : a.in_adherence ? "in" : ""}`, "data-field": "adherence",
          "data-since": out ? a.out_of_adherence_since || "" : "" },
          out ? `✗ ${dur(since(a.out_of_adherence_since))}` : a.in_adherence ? "✓" : "")));
    if (isSupervisor()) {  // viewers get no affordance (no pointer, no focus, no button role)
      card.setAttribute("role", "button");
      card.setAttribute("tabindex", "0");
      card.setAttribute("aria-label", `${a.name || a.agent_id}: today's figures`);
      card.addEventListener("keydown", (ev) => { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); showAgent(a.agent_id); } });
    }
    card.addEventListener("click", () => { if (isSupervisor()) showAgent(a.agent_id); });
    return card;
  }

  function visibleAgents() {
    // logged-out agents clutter a wallboard; keep them only when they matter for adherence
    return [...state.agents.values()]
      .filter((a) => (a.state !== "logged_out" || a.in_adherence === false) && showsAgent(a))
      .sort((x, y) => (x.team || "").localeCompare(y.team || "") || (x.name || "").localeCompare(y.name || ""));
  }

  function renderAgents() { $("agents").replaceChildren(...visibleAgents().map(agentCard)); }

  function tickAgents() {
    for (const node of document.querySelectorAll("#agents [data-since]")) {
      const iso = node.dataset.since;
      if (!iso) continue;
      const text = dur(since(iso));
      node.textContent = node.dataset.field === "adherence" ? `✗ ${text}` : text;
    }
  }

  // -- alerts ---------------------------------------------------------------------------
  function alertSubject(al) {
    if (al.kind === "adherence_break") {
      const a = state.agents.get(al.subject);
      return a ? a.name || al.subject : al.subject;
    }
    const q = state.queues.get(al.subject);
    return q ? q.name || al.subject : al.subject;
  }

  function alertChip(al) {
    const chip = el("div", { class: `alert ${al.severity || ""}${al.acked_by ? " acked" : ""}`, "data-alert": al.id },
      el("span", { class: "kind" }, label(al.kind || "alert")),
      el("span", { class: "subject" }, alertSubject(al)),
      el("span", { class: "age" }, al.started_at ? `since ${al.started_at.slice(11, 19)}` : ""));
    if (isSupervisor()) {
      const d = al.details || {};
      const parts = Object.entries(d).filter(([, v]) => v === null || typeof v !== "object").map(([k, v]) => `${label(k)}: ${v}`);
      if (parts.length) chip.append(el("span", { class: "details" }, parts.join(" · ")));
    }
    if (al.acked_by) chip.append(el("span", { class: "acked-by" }, `acked by ${al.acked_by}`));
    else if (isSupervisor()) {
      const btn = el("button", { class: "ack", type: "button" }, "Acknowledge");
      btn.addEventListener("click", () => ack(al.id, btn));
      chip.append(btn);
    }
    return chip;
  }

  function renderAlerts() {
    const rows = [...state.alerts.values()].sort((x, y) => (y.started_at || "").localeCompare(x.started_at || ""));
    $("alerts").replaceChildren(...rows.map(alertChip));
  }

  async function ack(id, btn) {
    btn.disabled = true;
    try {
      const r = await api(`/api/v1/alerts/${encodeURIComponent(id)}/ack`, { method: "POST" });
      state.alerts.set(id, r);  // the websocket delta follows; show it at once
      renderAlerts();
    } catch (err) {
      btn.disabled = false;
      banner(`Acknowledge failed: ${err.message}`, "info");
      setTimeout(() => banner(null), 4000);
    }
  }

  // -- REST -----------------------------------------------------------------------------
  async function api(path, init) {
    const r = await fetch(path, { ...(init || {}), headers: { Authorization: `Bearer ${TOKEN}` }, cache: "no-store" });
    if (!r.ok) throw new Error(`${r.status} ${(await r.json().catch(() => ({}))).detail || r.statusText}`);
    return r.json();
  }

  async function loadMe() {
    try { me = await api("/api/v1/me"); } catch { me = { name: "", roles: [] }; }
    $("who").textContent = me.name ? `${me.name}${isSupervisor() ? " · supervisor" : ""}` : "";
    document.body.classList.toggle("supervisor", isSupervisor());
    renderAlerts();
    renderAgents();
  }

  function localDate() {
    // the server's "today" in its own zone: take it from an ISO time it sent (its offset)
    const q = state.queues.values().next().value;
    const start = q && q.interval && q.interval.start;
    return start ? start.slice(0, 10) : null;
  }

  async function loadChart() {
    const queue = selectedQueue;
    const day = localDate();
    $("chart-queue").textContent = queue ? (state.queues.get(queue) || {}).name || queue : "–";
    if (!queue || !day) { drawChart([], null); return; }
    try {
      const rows = await api(`/api/v1/intervals?queue=${encodeURIComponent(queue)}&date=${day}`);
      if (queue === selectedQueue) drawChart(rows, (state.queues.get(queue) || {}).sl_target);
    } catch { /* the next refresh retries */ }
  }

  function drawChart(rows, target) {
    const svg = $("chart");
    const NS = "http://www.w3.org/2000/svg";
    const W = 960, H = 200, top = 8, bottom = 22, left = 34, plotH = H - top - bottom;
    const mk = (tag, attrs, text) => {
      const n = document.createElementNS(NS, tag);
      for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
      if (text !== undefined) n.textContent = text;
      return n;
    };
    const nodes = [];
    const y = (r) => top + plotH * (1 - r);
    for (const r of [0, 0.5, 1]) nodes.push(mk("text", { x: 2, y: y(r) + 4, class: "axis" }, `${r * 100}%`));
    const perDay = rows.length ? Math.round(86400000 / (Date.parse(rows[0].end) - Date.parse(rows[0].start))) : 48;
    const slot = (W - left) / perDay;
    for (const row of rows) {
      const hh = Number(row.start.slice(11, 13)), mm = Number(row.start.slice(14, 16));
      const i = Math.floor(((hh * 60 + mm) / 1440) * perDay);
      const sl = row.service_level;
      const h = sl === null ? 2 : Math.max(2, plotH * sl);
      const bar = mk("rect", { x: left + i * slot + 1, y: top + plotH - h, width: Math.max(1, slot - 2), height: h,
        class: `bar-${slClass(sl, target).slice(3)}`, "data-start": row.start, "data-value": JSON.stringify(sl) });
      bar.append(mk("title", {}, `${row.start.slice(11, 16)} · SL ${pct(sl)} · offered ${row.offered}`));
      nodes.push(bar);
    }
    for (let hour = 0; hour < 24; hour += 3) {
      nodes.push(mk("text", { x: left + (hour / 24) * (W - left), y: H - 6, class: "axis" }, `${String(hour).padStart(2, "0")}:00`));
    }
    if (target !== null && target !== undefined) {
      nodes.push(mk("line", { x1: left, x2: W, y1: y(target), y2: y(target), class: "target" }));
    }
    svg.replaceChildren(...nodes);
  }

  // -- floor/team strip: GET /api/v1/teams every TEAMS_POLL_MS ----------------------------------
  // Occupancy against the team's target: more than 5 points above it red (overload, the side the
  // occupancy_high alert watches), more than 10 points below it amber (idle), else green. AHT:
  // at or under the target green, up to 10 % over amber, further red. No target: no colour.
  const noTarget = (t) => t === null || t === undefined;
  function occClass(value, target) {
    if (noTarget(target)) return "";
    if (value === null || value === undefined) return "sl-none";
    if (value > target + 0.05) return "sl-red";
    if (value < target - 0.1) return "sl-amber";
    return "sl-green";
  }
  function ahtClass(value, target) {
    if (noTarget(target)) return "";
    if (value === null || value === undefined) return "sl-none";
    if (value <= target) return "sl-green";
    if (value <= target * 1.1) return "sl-amber";
    return "sl-red";
  }
  const adhClass = (value, target) => (noTarget(target) ? "" : slClass(value, target));
  const countText = (n) => (n === null || n === undefined ? "–" : String(n));

  // a strip figure: metric() plus its target (raw in data-target, text under the value)
  function teamMetric(field, labelText, value, text, cls, target, fmt) {
    const m = metric(field, labelText, value, text, cls, { "data-target": JSON.stringify(target ?? null) }, "team");
    if (!noTarget(target)) m.append(el("span", { class: "target" }, `target ${fmt(target)}`));
    return m;
  }

  function teamCard(t, floor) {
    const day = t.day || {}, tg = t.targets || {};
    const occ = t.rolling_15m ? t.rolling_15m.occupancy : null;
    const attrs = floor ? { class: "team floor", "data-floor": "" } : { class: "team", "data-team": t.id };
    return el("article", attrs,
      el("h3", {}, el("span", {}, floor ? "Floor" : t.name || t.id),
        el("span", { class: "count", "data-field": "agents" }, floor ? "all agents" : `${t.agents ?? 0} agents`)),
      el("div", { class: "big" },
        teamMetric("occupancy_15m", "occupancy 15 min", occ, pct(occ), occClass(occ, tg.occupancy), tg.occupancy, pct),
        teamMetric("adherence", "adherence today", day.adherence, pct(day.adherence),
          adhClass(day.adherence, tg.adherence), tg.adherence, pct)),
      el("div", { class: "small four" },
        metric("occupancy_today", "occupancy today", day.occupancy, pct(day.occupancy), occClass(day.occupancy, tg.occupancy), null, "team"),
        teamMetric("aht", "AHT today", day.aht_s, dur(day.aht_s), ahtClass(day.aht_s, tg.aht_s), tg.aht_s, dur),
        metric("absent", "absent", day.absent, countText(day.absent), day.absent > 0 ? "warn" : "", null, "team"),
        metric("late_logins", "late logins", day.late_logins, countText(day.late_logins), day.late_logins > 0 ? "sl-amber" : "", null, "team")));
  }

  function renderStrip() {
    const box = $("strip");
    if (!teams) {
      box.replaceChildren(el("h2", {}, teamsError ? `Teams — could not load: ${teamsError}` : "Teams — loading…"));
      return;
    }
    // ?team= (or the board's teams) limits the strip to those teams (the floor figure is
    // everyone's, so it goes too)
    const only = teamFilter();
    const rows = (teams.teams || []).filter((t) => showsTeam(t.id));
    const cards = only.length ? [] : [teamCard(teams.floor || {}, true)];
    cards.push(...rows.map((t) => teamCard(t, false)));
    if (only.length && !rows.length) {
      cards.push(el("p", { class: "empty" }, `No figures for team${only.length > 1 ? "s" : ""} ${only.join(", ")} today`));
    }
    keepFocus(box, () => box.replaceChildren(
      el("h2", {}, "Occupancy, adherence and AHT by team ", el("span", { id: "strip-age", class: "strip-age" }, "")),
      el("div", { class: "teams" }, ...cards)));
    tickStrip();
  }

  // the strip's own age: the page's elapsed time since the last answer; polls failing for
  // TEAMS_STALE_MS turn it amber with the reason (the badge still tells the worker's freshness)
  function tickStrip() {
    const node = $("strip-age");
    if (!node || !teams) return;
    const age = Date.now() - teamsAt;
    const stale = age > TEAMS_STALE_MS;
    node.textContent = stale
      ? `· not updated for ${ageText(age)}${teamsError ? ` (${teamsError})` : ""}`
      : `· ${teams.date} · updated ${ageText(age)} ago`;
    node.dataset.ageMs = String(Math.round(age));
    $("strip").classList.toggle("stale", stale);
  }

  async function loadTeams() {
    try {
      teams = await api("/api/v1/teams");
      teamsAt = Date.now();
      teamsError = "";
    } catch (err) {
      teamsError = err.message;
    }
    renderStrip();
    fillFilters();
  }

  // -- drill-down (supervisor and above): one agent's day -------------------------------------
  const STATES = ["available", "on_contact", "wrap_up", "aux"];
  const scoreText = (v) => (v === null || v === undefined ? "–" : v.toFixed(2));
  const hhmm = (iso) => (iso ? iso.slice(11, 16) : "–");

  function closeAgent() {
    const box = $("detail");
    const back = selectedAgent && document.querySelector(`#agents [data-agent="${CSS.escape(selectedAgent)}"]`);
    selectedAgent = null;
    box.hidden = true;
    box.replaceChildren();
    if (back) back.focus();
  }

  function dayFigures(b, rolling) {
    const r15 = rolling ? rolling.occupancy : null;
    return el("div", { class: "perf-day", "data-perf": "day" },
      metric("handled", "handled", b.handled, countText(b.handled), "", null, "agent"),
      metric("aht", "AHT", b.aht_s, dur(b.aht_s), "", null, "agent"),
      metric("talk", "talk", b.talk_s, dur(b.talk_s), "", null, "agent"),
      metric("hold", "hold", b.hold_s, dur(b.hold_s), "", null, "agent"),
      metric("wrap", "wrap", b.wrap_s, dur(b.wrap_s), "", null, "agent"),
      metric("transfers", "transfers", b.transfers, countText(b.transfers), "", null, "agent"),
      metric("occupancy", "occupancy", b.occupancy, pct(b.occupancy), "", null, "agent"),
      metric("occupancy_15m", "occupancy 15 min", r15, pct(r15), "", null, "agent"),
      metric("handle", "handle time", b.handle_s, dur(b.handle_s), "", null, "agent"),
      metric("available", "available", b.available_s, dur(b.available_s), "", null, "agent"),
      metric("adherence", "adherence", b.adherence, pct(b.adherence), "", null, "agent"),
      metric("conformance", "conformance", b.conformance, pct(b.conformance), "", null, "agent"),
      metric("fcr", "FCR", b.fcr, pct(b.fcr), "", null, "agent"),
      metric("csat_avg", "CSAT avg", b.csat_avg, scoreText(b.csat_avg), "", null, "agent"),
      metric("surveys", "surveys", b.surveys, countText(b.surveys), "", null, "agent"));
  }

  function stateFigures(b) {
    const st = b.state_s || {};
    const aux = Object.entries(b.aux_s || {}).sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]));
    return el("div", { class: "perf-states", "data-perf": "states" },
      ...STATES.map((k) => metric(`state_${k}`, label(k), st[k] ?? null, dur(st[k]), `st-${k}`, null, "agent")),
      ...aux.map(([reason, s]) => metric("aux_reason", `aux · ${reason}`, s, dur(s), "st-aux", { "data-reason": reason }, "agent")));
  }

  const INTERVAL_COLUMNS = [  // data-field, heading, value, text
    ["handled", "handled", (r) => r.handled, countText],
    ["aht", "AHT", (r) => r.aht_s, dur],
    ["transfers", "transfers", (r) => r.transfers, countText],
    ["occupancy", "occupancy", (r) => r.occupancy, pct],
    ["on_contact", "on contact", (r) => (r.state_s || {}).on_contact, dur],
    ["wrap_up", "wrap-up", (r) => (r.state_s || {}).wrap_up, dur],
    ["available", "available", (r) => (r.state_s || {}).available, dur],
    ["aux", "aux", (r) => (r.state_s || {}).aux, dur],
    ["adherence", "adherence", (r) => r.adherence, pct],
    ["conformance", "conformance", (r) => r.conformance, pct],
    ["csat_avg", "CSAT", (r) => r.csat_avg, scoreText],
  ];

  function intervalTable(rows) {
    return el("table", { class: "perf-intervals", "data-perf": "intervals" },
      el("thead", {}, el("tr", {}, el("th", {}, "interval"), ...INTERVAL_COLUMNS.map(([field, h]) => {
        const key = defKey("interval", field);
        return el("th", { "data-def": key, tabindex: "0", title: defTitle(key) || null }, h);
      }))),
      el("tbody", {}, ...rows.map((r) => el("tr", { "data-start": r.start },
        el("td", {}, `${hhmm(r.start)}–${hhmm(r.end)}`),
        ...INTERVAL_COLUMNS.map(([field, , get, text]) => {
          const v = get(r);
          return el("td", { "data-field": field, "data-value": JSON.stringify(v ?? null) }, text(v));
        })))));
  }

  function exceptionsPart(agentId, r) {
    if (!r) return [el("p", {}, "No schedule today.")];
    const table = el("table", { "data-agent-exceptions": agentId },
      el("tr", {}, el("th", {}, "exception"), el("th", {}, "from"), el("th", {}, "to"), el("th", {}, "scheduled"), el("th", {}, "actual")),
      ...r.exceptions.map((x) => el("tr", {}, el("td", {}, label(x.kind)),
        el("td", {}, x.start ? x.start.slice(11, 19) : "–"), el("td", {}, x.end ? x.end.slice(11, 19) : "ongoing"),
        el("td", {}, x.scheduled || ""), el("td", {}, x.actual || ""))));
    return [el("h3", {}, `Adherence ${pct(r.adherence)}, conformance ${pct(r.conformance)} — exceptions`),
      r.exceptions.length ? table : el("p", {}, "No exceptions today.")];
  }

  // opens the panel (or, with refresh, redraws it in place while it stays open)
  async function showAgent(agentId, refresh) {
    const box = $("detail");
    const a = state.agents.get(agentId) || { agent_id: agentId };
    const close = el("button", { type: "button", class: "close", "aria-label": "Close" }, "Close");
    close.addEventListener("click", closeAgent);
    if (!refresh) {
      selectedAgent = agentId;
      box.hidden = false;
      box.dataset.agent = agentId;
      box.replaceChildren(el("div", { class: "detail-head" }, el("h2", {}, `${a.name || agentId} — today`), close), el("p", {}, "loading…"));
      close.focus();
    }
    const day = localDate();
    const [perf, adh] = await Promise.allSettled([
      api(`/api/v1/agents/${encodeURIComponent(agentId)}/performance${day ? `?date=${day}` : ""}`),
      api(`/api/v1/adherence?agent_id=${encodeURIComponent(agentId)}${day ? `&date=${day}` : ""}`),
    ]);
    if (selectedAgent !== agentId || box.hidden) return;
    if (refresh && perf.status === "rejected") return;  // keep the figures shown; the next refresh retries
    const p = perf.status === "fulfilled" ? perf.value : null;
    const team = (p && p.team) || a.team;
    const title = `${(p && p.name) || a.name || agentId} (${team || "no team"}) — ${(p && p.date) || day || "today"}`;
    const parts = [el("div", { class: "detail-head" }, el("h2", {}, title), close)];
    if (p) {
      const conc = Object.entries(p.max_concurrent || {}).filter(([, n]) => n > 1);
      if (conc.length) parts.push(el("p", { class: "dim" }, `concurrent contacts: ${conc.map(([ch, n]) => `${ch} ×${n}`).join(", ")}`));
      const rows = p.intervals || [];
      parts.push(dayFigures(p.day || {}, p.rolling_15m), el("h3", {}, "Time in state"), stateFigures(p.day || {}),
        el("h3", {}, "Per interval"), rows.length ? el("div", { class: "scroll-x" }, intervalTable(rows)) : el("p", {}, "No activity yet."));
    } else {
      parts.push(el("p", { class: "error" }, `Could not load the figures: ${perf.reason.message}`));
    }
    if (adh.status === "fulfilled") parts.push(...exceptionsPart(agentId, adh.value[0]));
    else parts.push(el("p", { class: "error" }, `Could not load adherence: ${adh.reason.message}`));
    const focused = document.activeElement && box.contains(document.activeElement);
    box.replaceChildren(...parts);
    if (!refresh || focused) close.focus();
  }

  // -- definitions: the title on hover, a popover on tap or keyboard focus ---------------------
  // data-field (or "ctx.data-field") -> key of GET /api/v1/definitions; others are their own key
  const DEF_OF = {
    sl_interval: "service_level",
    sl_today: "service_level",
    csat: "csat_satisfied",
    occupancy_today: "occupancy",
    handle: "handle_time",
    "queue.available": "agents_available",
    "queue.on_contact": "agents_on_contact",
    "queue.wrap_up": "agents_wrap_up",
    "queue.aux": "agents_aux",
    "agent.available": "time_available",
    state_available: "time_available",
    state_on_contact: "time_on_contact",
    state_wrap_up: "time_wrap_up",
    state_aux: "time_aux",
    aux_reason: "time_aux",
    "interval.available": "time_available",
    "interval.on_contact": "time_on_contact",
    "interval.wrap_up": "time_wrap_up",
    "interval.aux": "time_aux",
  };
  const defKey = (ctx, field) => DEF_OF[`${ctx}.${field}`] || DEF_OF[field] || field;
  // one key: its text; several: "label: text" each on its own line
  function defTitle(keys) {
    const known = String(keys || "").split(" ").filter((k) => defs[k]);
    if (known.length === 1) return defs[known[0]].text;
    return known.map((k) => `${defs[k].label}: ${defs[k].text}`).join("\n");
  }

  async function loadDefinitions() {
    try {
      const body = await api("/api/v1/definitions");
      defs = body && typeof body === "object" && !Array.isArray(body) ? body : {};
    } catch { defs = {}; }  // figures without definitions still work
    for (const a of document.querySelectorAll("[data-def]")) {
      const t = defTitle(a.dataset.def);
      if (t) (a.closest(".metric") || a).title = t;
    }
  }

  let defAnchor = null;
  function showDef(anchor) {
    const box = $("definition");
    const keys = (anchor.dataset.def || "").split(" ").filter((k) => defs[k]);
    if (!keys.length) { hideDef(); return; }
    box.replaceChildren(...keys.map((k) => el("p", { "data-def-key": k },
      el("strong", { class: "def-label" }, defs[k].label), " ", el("span", { class: "def-text" }, defs[k].text))));
    if (defAnchor && defAnchor !== anchor) defAnchor.removeAttribute("aria-describedby");
    defAnchor = anchor;
    anchor.setAttribute("aria-describedby", "definition");
    box.hidden = false;
    const r = anchor.getBoundingClientRect();
    const w = box.offsetWidth, h = box.offsetHeight;
    box.style.left = `${Math.max(8, Math.min(r.left, window.innerWidth - w - 8))}px`;
    box.style.top = `${r.bottom + 6 + h > window.innerHeight ? Math.max(8, r.top - h - 6) : r.bottom + 6}px`;
  }
  function hideDef() {
    const box = $("definition");
    box.hidden = true;
    if (defAnchor) defAnchor.removeAttribute("aria-describedby");
    defAnchor = null;
  }

  // a re-render keeps the keyboard focus on the same figure (same tile/card, key and label)
  function keepFocus(box, render) {
    const a = document.activeElement;
    const holderOf = (n) => n.closest("[data-queue], [data-team], [data-floor]");
    let was = null;
    if (a && a.dataset && a.dataset.def && box.contains(a)) {
      const h = holderOf(a);
      was = { h: h ? [...h.attributes].find((x) => x.name.startsWith("data-")) : null, def: a.dataset.def, text: a.textContent };
    }
    render();
    if (!was) return;
    const hit = [...box.querySelectorAll("[data-def]")].find((n) => {
      if (n.dataset.def !== was.def || n.textContent !== was.text) return false;
      const h = holderOf(n);
      return was.h ? h && h.getAttribute(was.h.name) === was.h.value : !h;
    });
    if (hit) hit.focus({ preventScroll: true });
  }

  // -- boards and the header's filters ---------------------------------------------------------
  function notice(text) {
    const n = $("notice");
    n.hidden = !text;
    n.textContent = text || "";
  }

  async function loadBoard() {
    if (BOARD === null) return;
    let boards;
    try { boards = await api("/api/v1/boards"); } catch (err) {
      notice(`Could not load board “${BOARD}” (${err.message}): showing the default board`);
      return;
    }
    board = (Array.isArray(boards) ? boards : []).find((b) => b && b.id === BOARD) || null;
    if (board) board = { ...board, queues: board.queues || [], teams: board.teams || [], tiles: board.tiles || [] };
    else notice(`Unknown board “${BOARD}”: showing the default board`);
  }

  function applyBoard() {
    const tiles = board && board.tiles.length ? board.tiles : null;
    for (const [name, id] of Object.entries(TILES)) {
      const node = $(id);
      if (node) node.hidden = tiles !== null && !tiles.includes(name);
    }
    const cols = board && board.columns;
    $("queues").style.gridTemplateColumns = cols ? `repeat(${cols}, minmax(0, 1fr))` : "";
    $("scope").textContent = board ? board.name || board.id : "";
    if (board) document.title = `Floorwatch — ${board.name || board.id}`;
    document.body.dataset.board = board ? board.id : "";
  }

  async function loadQueueNames() {
    try {
      const rows = await api("/api/v1/queues");
      queueNames = new Map((Array.isArray(rows) ? rows : []).map((q) => [q.queue, q.name || q.queue]));
    } catch { /* the queues the websocket shows still fill the list */ }
    fillFilters();
  }

  // (value, text) options after "all"; the current value stays listed even when unknown; the
  // list is rebuilt only when it changed (an open list stays open)
  function setOptions(sel, allText, pairs, current) {
    const opts = current && !pairs.some(([v]) => v === current) ? [...pairs, [current, current]] : pairs;
    const sig = JSON.stringify([allText, opts]);
    if (sel.dataset.options !== sig) {
      sel.replaceChildren(el("option", { value: "" }, allText), ...opts.map(([v, t]) => el("option", { value: v }, t)));
      sel.dataset.options = sig;
    }
    sel.value = current;
  }

  function fillFilters() {
    const bq = board && board.queues.length ? board.queues : null;
    const qids = bq || [...new Set([...queueNames.keys(), ...state.queues.keys()])];
    const qname = (id) => queueNames.get(id) || (state.queues.get(id) || {}).name || id;
    setOptions($("filter-queue"), bq ? "All board queues" : "All queues", qids.map((id) => [id, qname(id)]), params.get("queue") || "");
    const bt = board && board.teams.length ? board.teams : null;
    const rows = (teams && teams.teams) || [];
    const tname = new Map(rows.map((t) => [t.id, t.name || t.id]));
    const tids = bt || rows.map((t) => t.id);
    setOptions($("filter-team"), bt ? "All board teams" : "All teams", tids.map((id) => [id, tname.get(id) || id]), params.get("team") || "");
  }

  // a select changed: the URL (no reload, no history entry), the view, and the socket's filter
  function setFilter(name, value) {
    const before = wsUrl();
    if (value) params.set(name, value); else params.delete(name);
    history.replaceState(history.state, "", `${location.pathname}?${params}${location.hash}`);
    followFilter();
    renderAll();
    renderStrip();
    fillFilters();
    if (wsUrl() !== before) { alarmBaseline = true; reconnect(); }
  }
  function followFilter() {  // the chart's queue follows a queue filter that leaves it out
    const q = queueFilter();
    if (q.length && !q.includes(selectedQueue)) selectQueue(q[0]);
  }

  // -- alarm: an opt-in beep and flash for a critical alert that is new ------------------------------
  function readAlarm() {
    try { return localStorage.getItem(ALARM_KEY) === "on"; } catch { return false; }
  }
  function setAlarm(on, save) {
    alarmOn = on;
    const b = $("alarm");
    b.setAttribute("aria-pressed", String(on));
    b.textContent = on ? "Alarm on" : "Alarm off";
    b.classList.toggle("on", on);
    if (save) { try { localStorage.setItem(ALARM_KEY, on ? "on" : "off"); } catch { /* private mode */ } }
  }

  // critical alerts not seen critical before alarm once; a snapshot with the baseline flag (the
  // page's first, or the first after a filter change) only records what is already there
  function noteAlerts(rows, baseline) {
    let fresh = false;
    for (const al of rows) {
      if (!al || al.severity !== "critical" || criticalSeen.has(al.id)) continue;
      criticalSeen.add(al.id);
      if (!baseline && !al.acked_by && al.state !== "resolved") fresh = true;
    }
    if (fresh) alarm();
  }

  function alarm() {
    if (!alarmOn) return;
    alarms += 1;
    document.body.dataset.alerted = String(alarms);
    beep(3);
    document.body.classList.add("flash");
    clearTimeout(flashTimer);
    flashTimer = setTimeout(() => document.body.classList.remove("flash"), FLASH_MS);
  }

  // n short 880 Hz beeps made by WebAudio (no sound file); a browser that blocks audio until a
  // click gets its context unlocked by the toggle's click
  function beep(n) {
    try {
      const Ctx = window.AudioContext || window.webkitAudioContext;
      if (!Ctx) return;
      audio = audio || new Ctx();
      if (audio.state === "suspended") audio.resume().catch(() => {});
      const t0 = audio.currentTime + 0.02;
      for (let i = 0; i < n; i += 1) {
        const at = t0 + i * 0.3;
        const osc = audio.createOscillator(), gain = audio.createGain();
        osc.type = "square";
        osc.frequency.value = 880;
        gain.gain.setValueAtTime(0.0001, at);
        gain.gain.exponentialRampToValueAtTime(0.25, at + 0.01);
        gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.18);
        osc.connect(gain).connect(audio.destination);
        osc.start(at);
        osc.stop(at + 0.2);
        beeps += 1;
      }
      document.body.dataset.beeps = String(beeps);
    } catch { /* no audio here: the flash still shows */ }
  }

  // -- start ----------------------------------------------------------------------------
  function renderAll() { renderQueues(); renderAgents(); renderAlerts(); }

  function wire() {
    $("filter-queue").addEventListener("change", (ev) => setFilter("queue", ev.target.value));
    $("filter-team").addEventListener("change", (ev) => setFilter("team", ev.target.value));
    $("alarm").addEventListener("click", () => { setAlarm(!alarmOn, true); if (alarmOn) beep(1); });
    document.addEventListener("focusin", (ev) => {
      const a = ev.target.closest && ev.target.closest("[data-def]");
      if (a) showDef(a);
    });
    document.addEventListener("focusout", (ev) => {
      if (ev.target === defAnchor && !(ev.relatedTarget && $("definition").contains(ev.relatedTarget))) hideDef();
    });
    // capture: a tap on a figure's label shows its definition and does not also select the tile
    document.addEventListener("click", (ev) => {
      const a = ev.target.closest && ev.target.closest("[data-def]");
      if (a) { ev.stopPropagation(); showDef(a); return; }
      if (!$("definition").contains(ev.target)) hideDef();
    }, true);
    document.addEventListener("mouseover", (ev) => {  // figures of other panels: title on first hover
      const a = ev.target.closest && ev.target.closest("[data-def]");
      if (a && !a.closest(".metric") && !a.title) { const t = defTitle(a.dataset.def); if (t) a.title = t; }
    });
    window.floorwatch = { get queue() { return selectedQueue; } };
  }

  async function start() {
    document.body.dataset.alerted = "0";
    setAlarm(readAlarm(), false);
    wire();
    if (!TOKEN) { banner("Open this page with ?token=<your token> in the URL"); return; }
    loadMe();
    loadDefinitions();
    await loadBoard();
    applyBoard();
    const first = queueFilter()[0];
    if (first) selectQueue(first);
    fillFilters();
    connect();
    loadTeams();
    loadQueueNames();
    document.addEventListener("keydown", (ev) => {
      if (ev.key !== "Escape") return;
      if (!$("definition").hidden) { hideDef(); return; }
      if (!$("detail").hidden) closeAgent();
    });
    setInterval(() => { renderFresh(); watchdog(); }, 250);
    setInterval(() => { tickAgents(); tickQueues(); tickStrip(); }, 1000);
    setInterval(loadChart, 30000);
    setInterval(() => { loadTeams(); if (selectedAgent) showAgent(selectedAgent, true); }, TEAMS_POLL_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
