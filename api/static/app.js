// Floorwatch wallboard: one websocket (snapshot + deltas), a little REST, no build step.
// Protocol: docs/api.md "Websocket". Every value from the server is written with textContent.
// The floor/team strip polls GET /api/v1/teams (TEAMS_POLL_MS): the websocket carries queues,
// agents and alerts only. The agent drill-down (supervisor and above) reads
// GET /api/v1/agents/{id}/performance and /api/v1/adherence.
"use strict";

(() => {
  const params = new URLSearchParams(location.search);
  const TOKEN = params.get("token") || "";
  const QUEUE = params.get("queue");
  const TEAM = params.get("team");
  const STALE_MS = 12000;      // amber freshness after this long without a frame
  const DEAD_MS = 30000;       // ... and the socket is presumed dead after this long
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const TEAMS_POLL_MS = 15000;     // the strip's REST poll (and the open drill-down's refresh)
  const TEAMS_STALE_MS = 40000;    // strip figures older than this (polls failing) are marked stale

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
  let selectedQueue = QUEUE ? QUEUE.split(",")[0] : null;
  let selectedAgent = null;
  let teams = null;            // the last GET /api/v1/teams body
  let teamsAt = 0;             // Date.now() when it arrived
  let teamsError = "";         // why the last poll failed ("" when it did not)

  const $ = (id) => document.getElementById(id);
  const serverNow = () => Date.now() - offsetMs;
  const isSupervisor = () => me.roles.includes("supervisor");

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
    if (QUEUE) q.set("queue", QUEUE);
    if (TEAM) q.set("team", TEAM);
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
      renderAll();
      loadChart();
    } else if (frame.type === "delta") {
      for (const section of Object.keys(ids)) {
        const change = frame[section];
        if (!change) continue;
        for (const k of change.remove || []) state[section].delete(k);
        for (const row of change.upsert || []) state[section].set(row[ids[section]], row);
      }
      if (frame.queues) renderQueues();
      if (frame.agents) renderAgents();
      if (frame.alerts || frame.agents) renderAlerts();
    }
    renderFresh();
  }

  // -- queues ---------------------------------------------------------------------------
  function metric(field, labelText, value, text, cls, extra) {
    return el("div", { class: "metric" }, el("span", { class: "label" }, labelText),
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
    if (q.required_agents_over_cap) return metric("staffed", "staffed / req", a.staffed, `${staffed} / over cap`, "warn");
    if (q.required_agents === null || q.required_agents === undefined) return metric("staffed", "staffed", a.staffed, staffed);
    return metric("staffed", "staffed / req", a.staffed, `${staffed} / ${q.required_agents}`, a.staffed < q.required_agents ? "warn" : "");
  }

  function queueTile(q) {
    const iv = q.interval || {}, today = q.today || {}, a = q.agents || {};
    const target = q.sl_target;
    const tile = el("article", { class: `tile${q.queue === selectedQueue ? " selected" : ""}`, "data-queue": q.queue },
      el("h3", {}, el("span", {}, q.name || q.queue), el("span", { class: "channel" }, q.channel || "")),
      el("div", { class: "big" },
        metric("waiting", "waiting", q.waiting, q.waiting ?? "–", q.waiting > 0 ? "warn" : ""),
        metric("longest_wait", "longest wait", q.longest_wait_s, dur(liveWait(q))),
        metric("sl_interval", `SL interval · target ${pct(target)}`, iv.service_level, pct(iv.service_level), slClass(iv.service_level, target)),
        metric("sl_today", "SL today", today.service_level, pct(today.service_level), slClass(today.service_level, target))),
      el("div", { class: "small" },
        metric("abandon_rate", "abandon today", today.abandon_rate, pct(today.abandon_rate)),
        metric("asa", "ASA today", today.asa_s, secs(today.asa_s)),
        metric("aht", "AHT today", today.aht_s, dur(today.aht_s))),
      el("div", { class: "small quality" },
        metric("fcr", "FCR today", today.fcr, pct(today.fcr)),
        metric("repeat_rate", "repeat today", today.repeat_rate, pct(today.repeat_rate)),
        metric("csat", "CSAT today", today.csat_satisfied, pct(today.csat_satisfied))),
      el("div", { class: "staff" },
        metric("available", "avail", a.available, a.available ?? 0, "sl-green"),
        metric("on_contact", "on contact", a.on_contact, a.on_contact ?? 0),
        metric("wrap_up", "wrap", a.wrap_up, a.wrap_up ?? 0),
        metric("aux", "aux", a.aux, a.aux ?? 0, "sl-amber"),
        staffedMetric(q, a)));
    tile.addEventListener("click", () => { selectedQueue = q.queue; renderQueues(); loadChart(); });
    return tile;
  }

  function renderQueues() {
    const box = $("queues");
    box.replaceChildren(...[...state.queues.values()].map(queueTile));
    if (!selectedQueue || !state.queues.has(selectedQueue)) {
      const first = state.queues.keys().next();
      if (!first.done && first.value !== selectedQueue) { selectedQueue = first.value; loadChart(); }
    }
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
      .filter((a) => a.state !== "logged_out" || a.in_adherence === false)
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
    const m = metric(field, labelText, value, text, cls, { "data-target": JSON.stringify(target ?? null) });
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
        metric("occupancy_today", "occupancy today", day.occupancy, pct(day.occupancy), occClass(day.occupancy, tg.occupancy)),
        teamMetric("aht", "AHT today", day.aht_s, dur(day.aht_s), ahtClass(day.aht_s, tg.aht_s), tg.aht_s, dur),
        metric("absent", "absent", day.absent, countText(day.absent), day.absent > 0 ? "warn" : ""),
        metric("late_logins", "late logins", day.late_logins, countText(day.late_logins), day.late_logins > 0 ? "sl-amber" : "")));
  }

  function renderStrip() {
    const box = $("strip");
    if (!teams) {
      box.replaceChildren(el("h2", {}, teamsError ? `Teams — could not load: ${teamsError}` : "Teams — loading…"));
      return;
    }
    // ?team= limits the strip to that team (the floor figure is everyone's, so it goes too)
    const rows = (teams.teams || []).filter((t) => !TEAM || t.id === TEAM);
    const cards = TEAM ? [] : [teamCard(teams.floor || {}, true)];
    cards.push(...rows.map((t) => teamCard(t, false)));
    if (TEAM && !rows.length) cards.push(el("p", { class: "empty" }, `No figures for team ${TEAM} today`));
    box.replaceChildren(
      el("h2", {}, "Occupancy, adherence and AHT by team ", el("span", { id: "strip-age", class: "strip-age" }, "")),
      el("div", { class: "teams" }, ...cards));
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
      metric("handled", "handled", b.handled, countText(b.handled)),
      metric("aht", "AHT", b.aht_s, dur(b.aht_s)),
      metric("talk", "talk", b.talk_s, dur(b.talk_s)),
      metric("hold", "hold", b.hold_s, dur(b.hold_s)),
      metric("wrap", "wrap", b.wrap_s, dur(b.wrap_s)),
      metric("transfers", "transfers", b.transfers, countText(b.transfers)),
      metric("occupancy", "occupancy", b.occupancy, pct(b.occupancy)),
      metric("occupancy_15m", "occupancy 15 min", r15, pct(r15)),
      metric("handle", "handle time", b.handle_s, dur(b.handle_s)),
      metric("available", "available", b.available_s, dur(b.available_s)),
      metric("adherence", "adherence", b.adherence, pct(b.adherence)),
      metric("conformance", "conformance", b.conformance, pct(b.conformance)),
      metric("fcr", "FCR", b.fcr, pct(b.fcr)),
      metric("csat_avg", "CSAT avg", b.csat_avg, scoreText(b.csat_avg)),
      metric("surveys", "surveys", b.surveys, countText(b.surveys)));
  }

  function stateFigures(b) {
    const st = b.state_s || {};
    const aux = Object.entries(b.aux_s || {}).sort((x, y) => y[1] - x[1] || x[0].localeCompare(y[0]));
    return el("div", { class: "perf-states", "data-perf": "states" },
      ...STATES.map((k) => metric(`state_${k}`, label(k), st[k] ?? null, dur(st[k]), `st-${k}`)),
      ...aux.map(([reason, s]) => metric("aux_reason", `aux · ${reason}`, s, dur(s), "st-aux", { "data-reason": reason })));
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
      el("thead", {}, el("tr", {}, el("th", {}, "interval"), ...INTERVAL_COLUMNS.map(([, h]) => el("th", {}, h)))),
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

  // -- start ----------------------------------------------------------------------------
  function renderAll() { renderQueues(); renderAgents(); renderAlerts(); }

  function start() {
    const scope = [QUEUE && `queue ${QUEUE}`, TEAM && `team ${TEAM}`].filter(Boolean).join(" · ");
    $("scope").textContent = scope;
    if (!TOKEN) { banner("Open this page with ?token=<your token> in the URL"); return; }
    loadMe();
    connect();
    loadTeams();
    document.addEventListener("keydown", (ev) => { if (ev.key === "Escape" && !$("detail").hidden) closeAgent(); });
    setInterval(() => { renderFresh(); watchdog(); }, 250);
    setInterval(() => { tickAgents(); tickQueues(); tickStrip(); }, 1000);
    setInterval(loadChart, 30000);
    setInterval(() => { loadTeams(); if (selectedAgent) showAgent(selectedAgent, true); }, TEAMS_POLL_MS);
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
