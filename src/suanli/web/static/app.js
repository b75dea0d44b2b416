// The suanli dashboard: a single page over the /v1 API, authenticated by the session
// cookie (HttpOnly; this script never sees it) and the CSRF token from GET /session.
// Every text from the server is put in the page as text (textContent), never as HTML.

import { chinaMap, fmt, lineChart, PALETTE, stackedBars } from "./charts.js";
import { lang, sectorLabel, SECTORS, setLang, statusLabel, t } from "./i18n.js";

const state = { session: null, timers: [], generation: 0 };
const PAGE = 50;

// --- DOM and API helpers ----------------------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.hint = problem.hint || "";
  }
}

async function api(path, { method = "GET", body, raw = false } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && state.session) headers["X-CSRF-Token"] = state.session.csrf_token;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const resp = await fetch(path, {
    method, headers, credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (resp.status === 401 && path !== "/session") { state.session = null; render(); throw new ApiError(401, {}); }
  if (!resp.ok) {
    let problem = {};
    try { problem = await resp.json(); } catch { /* not JSON */ }
    throw new ApiError(resp.status, problem);
  }
  if (raw) return resp;
  return resp.status === 204 ? null : resp.json();
}

/** Whether the session's role has `permission` (or any of a list). */
function can(permission) {
  const wanted = Array.isArray(permission) ? permission : [permission];
  return !!state.session && wanted.some((p) => state.session.permissions.includes(p));
}

function fmtTime(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return d.toLocaleString(lang() === "zh" ? "zh-CN" : "en-GB", { hour12: false });
}

function num(v, digits = 2) {
  return Number(v || 0).toLocaleString(undefined, { maximumFractionDigits: digits });
}

function errorBox(err) {
  return h("div", { class: "error", role: "alert" }, `${t("error")}: ${err.message}`,
    err.hint ? h("div", { class: "hint" }, err.hint) : null);
}

function table(headers, rows, attrs = {}) {
  return h("div", { class: "table-wrap" }, h("table", attrs,
    h("thead", {}, h("tr", {}, headers.map((x) => h("th", {}, x)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headers.length, class: "muted" }, t("none"))))));
}

function badge(status) {
  return h("span", { class: `badge ${String(status).toLowerCase()}` }, statusLabel(status));
}

/** Call `fn` every `ms` while the page that asked is the one shown. */
function every(ms, fn) {
  const generation = state.generation;
  const id = setInterval(() => {
    if (generation !== state.generation) clearInterval(id);
    else fn();
  }, ms);
  state.timers.push(id);
}

function clearTimers() {
  state.timers.forEach(clearInterval);
  state.timers = [];
}

// --- pages --------------------------------------------------------------------------------

const PAGES = [
  { id: "pool", perm: "pool:read", label: "nav_pool", render: poolPage },
  { id: "queue", perm: "job:read", label: "nav_queue", render: queuePage },
  { id: "submit", perm: "job:submit", label: "nav_submit", render: submitPage, tenantOnly: true },
  { id: "utilisation", perm: "pool:read", label: "nav_util", render: utilisationPage },
  { id: "sectors", perm: "usage:read", label: "nav_sectors", render: sectorsPage },
  { id: "market", perm: "market:read", label: "nav_market", render: marketPage },
  { id: "money", perm: ["billing:read", "earnings:read"], label: "nav_money", render: moneyPage },
  { id: "lab", perm: "lab:run", label: "nav_lab", render: labPage },
];

function allowed(page) {
  return can(page.perm) && (!page.tenantOnly || state.session.tenant_id);
}

/** A cluster's measured rating (PFLOPS) for one workload class: each node's rating per
 * device ("gpu:MODEL"; per core for "cpu") times its count. Unrated devices count nothing. */
function clusterRating(cluster, workloadClass = "ai") {
  let total = 0;
  for (const n of cluster.nodes) {
    for (const [device, rating] of Object.entries((n.ratings_pflops || {})[workloadClass] || {})) {
      if (rating == null) continue;
      const count = device === "cpu" ? n.capacity.cpus : n.capacity.gpus[device.replace(/^gpu:/, "")] || 0;
      total += rating * count;
    }
  }
  return total;
}

async function poolPage(view) {
  const [regions, clusters, links] = await Promise.all([
    api("/v1/regions"), api("/v1/clusters"), api("/v1/regions/latency"),
  ]);
  const gpusIn = {};
  for (const c of clusters) {
    const n = Object.values(c.capacity.gpus).reduce((a, b) => a + b, 0);
    gpusIn[c.region_id] = (gpusIn[c.region_id] || 0) + n;
  }
  const regionsWithGpus = regions.map((r) => ({ ...r, gpus: gpusIn[r.id] || 0 }));
  const rows = clusters.map((c) => {
    const models = Object.keys(c.capacity.gpus);
    const gpus = models.length
      ? models.map((m) => `${m} ${num(c.used.gpus[m] || 0, 0)}/${num(c.capacity.gpus[m], 0)}`).join(", ")
      : "—";
    const rating = clusterRating(c);
    return h("tr", { "data-cluster": c.id },
      h("td", {}, c.id), h("td", {}, c.provider_id), h("td", {}, c.region_id), h("td", {}, c.engine),
      h("td", {}, badge(c.state)), h("td", {}, gpus),
      h("td", {}, `${num(c.used.cpus, 1)}/${num(c.capacity.cpus, 1)}`),
      h("td", {}, rating ? num(rating, 4) : "—"),
      h("td", {}, `${num(c.reliability * 100, 0)}%`), h("td", {}, `${num(c.uptime * 100, 0)}%`),
      h("td", {}, c.gpu_hour_price == null ? "—" : num(c.gpu_hour_price)));
  });
  view.append(
    h("h1", {}, t("nav_pool")),
    h("div", { class: "grid2" },
      h("section", {}, chinaMap(regionsWithGpus, links, { title: t("map_title"), rttLabel: t("rtt") })),
      h("section", {}, h("h2", {}, t("regions")), table([t("region"), t("gpus"), t("clusters")],
        regions.map((r) => h("tr", { "data-region": r.id }, h("td", {}, r.name || r.id), h("td", {}, num(gpusIn[r.id] || 0, 0)),
          h("td", {}, clusters.filter((c) => c.region_id === r.id).length)))))),
    h("h2", {}, t("clusters")),
    table([t("cluster"), t("provider"), t("region"), t("engine"), t("state"), `${t("gpus")} ${t("used")}/${t("total")}`,
      `${t("cpus")} ${t("used")}/${t("total")}`, t("rating"), t("reliability"), t("uptime"), t("price")], rows, { id: "clusters" }));
}

async function queuePage(view, params) {
  const tab = params.get("tab") || "pending";
  const statuses = { pending: ["PENDING"], running: ["RUNNING"], recent: ["SUCCEEDED", "FAILED", "CANCELLED", "LOST"], all: [] }[tab] || [];
  const q = new URLSearchParams({ limit: String(PAGE) });
  statuses.forEach((s) => q.append("status", s));
  if (params.get("cursor")) q.set("cursor", params.get("cursor"));
  if (params.get("name")) q.set("name", params.get("name"));
  const page = await api(`/v1/jobs?${q}`);
  const tabs = h("nav", { class: "tabs" }, ["pending", "running", "recent", "all"].map((k) =>
    h("a", { href: `#/queue?tab=${k}`, class: k === tab ? "active" : "" }, t(k))));
  const rows = page.items.map((j) => h("tr", { "data-job": j.id },
    h("td", {}, h("a", { href: `#/jobs/${encodeURIComponent(j.id)}` }, j.id)), h("td", {}, j.name),
    h("td", {}, j.tenant_id), h("td", {}, badge(j.status)), h("td", { class: "reason" }, j.reason),
    h("td", {}, fmtTime(j.submitted_at)),
    h("td", {}, can("job:cancel") && ["PENDING", "RUNNING"].includes(j.status) && !j.cancel_requested
      ? h("button", { class: "small danger", "data-cancel": j.id, onclick: () => cancelJob(j.id) }, t("cancel")) : "")));
  const next = page.next_cursor
    ? h("a", { class: "button", id: "next-page", href: `#/queue?tab=${tab}&cursor=${page.next_cursor}` }, t("more")) : null;
  view.append(h("h1", {}, t("nav_queue")), tabs,
    table([t("job"), t("name"), t("tenant"), t("status"), t("reason"), t("submitted"), t("actions")], rows, { id: "jobs" }), next);
  every(5000, () => { if (!params.get("cursor")) route(); });
}

async function cancelJob(id) {
  if (!window.confirm(t("cancel_confirm"))) return;
  try {
    await api(`/v1/jobs/${encodeURIComponent(id)}/cancel`, { method: "POST" });
    route();
  } catch (err) { document.getElementById("view").prepend(errorBox(err)); }
}

async function jobPage(view, _params, id) {
  let job;
  try {
    job = await api(`/v1/jobs/${encodeURIComponent(id)}`);
  } catch (err) {
    if (err.status === 404 || err.status === 403) {
      view.append(h("h1", {}, t("not_found")), errorBox(err));
      return;
    }
    throw err;
  }
  const u = job.usage;
  const gpu = Object.entries(job.resources.gpus).map(([m, n]) => `${n}x ${m}`).join(", ");
  const head = h("div", { class: "job-head" },
    h("h1", {}, `${t("job")} ${job.id}`), badge(job.status),
    can("job:cancel") && ["PENDING", "RUNNING"].includes(job.status) && !job.cancel_requested
      ? h("button", { class: "danger", id: "cancel-job", onclick: () => cancelJob(job.id) }, t("cancel")) : null);
  const facts = h("dl", { class: "facts" },
    h("dt", {}, t("name")), h("dd", {}, job.name || "—"),
    h("dt", {}, t("tenant")), h("dd", {}, job.tenant_id),
    h("dt", {}, t("command")), h("dd", {}, h("code", {}, job.command.join(" "))),
    h("dt", {}, t("resources")), h("dd", {}, `${job.resources.cpus} CPU, ${job.resources.memory_mb} MB${gpu ? ", " + gpu : ""}`),
    h("dt", {}, t("sector")), h("dd", {}, sectorLabel(job.sector)),
    h("dt", {}, t("reason")), h("dd", { id: "job-reason" }, job.reason || "—"),
    h("dt", {}, t("cluster")), h("dd", {}, job.cluster_id || "—"),
    h("dt", {}, t("exit_code")), h("dd", {}, job.exit_code ?? "—"),
    h("dt", {}, t("sch")), h("dd", { id: "job-sch", "data-value": u.standard_units }, fmt(u.standard_units)),
    h("dt", {}, t("usage")), h("dd", {}, `${num(u.wall_seconds, 1)} s, ${num(u.cpu_core_seconds, 1)} core-s`));
  const events = (job.events || []).map((e) => h("tr", {},
    h("td", {}, fmtTime(e.at)), h("td", {}, e.from_status ? statusLabel(e.from_status) : "—"),
    h("td", {}, badge(e.to_status)), h("td", {}, e.attempt), h("td", { class: "reason" }, e.reason)));
  const attempts = (job.attempts || []).map((a) => h("tr", {},
    h("td", {}, a.number), h("td", {}, a.cluster_id), h("td", {}, a.region_id), h("td", {}, badge(a.status)),
    h("td", {}, fmtTime(a.started_at)), h("td", {}, fmtTime(a.ended_at)), h("td", {}, a.exit_code ?? "")));
  view.append(head, facts,
    h("h2", {}, t("history")), table([t("time"), "", t("status"), "#", t("reason")], events, { id: "events" }),
    h("h2", {}, t("attempts")), table(["#", t("cluster"), t("region"), t("status"), t("started"), t("ended"), t("exit_code")], attempts));
  if (can("job:logs")) view.append(logsBox(job));
  if (!["SUCCEEDED", "FAILED", "CANCELLED", "LOST"].includes(job.status)) every(1500, async () => {
    try {
      const now = await api(`/v1/jobs/${encodeURIComponent(id)}`);
      if (now.status !== job.status || now.attempt !== job.attempt) route();
    } catch { /* next tick */ }
  });
}

function logsBox(job) {
  const out = h("pre", { class: "logs", id: "logs", "aria-live": "polite" });
  const select = h("select", { id: "log-stream" }, h("option", { value: "stdout" }, t("stdout")), h("option", { value: "stderr" }, t("stderr")));
  let offset = 0;
  let stream = "stdout";
  let done = false;
  async function pull() {
    if (done) return;
    try {
      const resp = await api(`/v1/jobs/${encodeURIComponent(job.id)}/logs?stream=${stream}&offset=${offset}`, { raw: true });
      const text = await resp.text();
      offset = Number(resp.headers.get("X-Suanli-Next-Offset") || offset + text.length);
      if (text) out.append(document.createTextNode(text));
      const status = resp.headers.get("X-Suanli-Status");
      if (["SUCCEEDED", "FAILED", "CANCELLED", "LOST"].includes(status) && !text) done = true;
    } catch (err) {
      if (err.status === 404) { done = true; } // no attempt has run yet / nothing stored
    }
  }
  select.addEventListener("change", () => { stream = select.value; offset = 0; done = false; out.textContent = ""; pull(); });
  pull();
  every(1000, pull);
  return h("section", {}, h("h2", {}, t("logs"), " ", select, h("span", { class: "muted" }, ` (${t("live")})`)), out);
}

async function submitPage(view) {
  const form = h("form", { id: "submit-form", class: "form" },
    h("label", {}, t("name"), h("input", { name: "name", maxlength: 200, placeholder: "train-1" })),
    h("label", {}, t("command"), h("input", { name: "command", required: true, placeholder: "python train.py" }),
      h("small", {}, t("command_hint"))),
    h("div", { class: "row" },
      h("label", {}, t("cpus"), h("input", { name: "cpus", type: "number", min: "0.1", step: "0.1", value: "1" })),
      h("label", {}, t("memory"), h("input", { name: "memory", value: "1G" })),
      h("label", {}, t("gpu_count"), h("input", { name: "gpus", placeholder: "0" })),
      h("label", {}, t("time_limit"), h("input", { name: "time_limit", placeholder: "1h" }))),
    h("div", { class: "row" },
      h("label", {}, t("sector"), h("select", { name: "sector" }, Object.keys(SECTORS).map((s) =>
        h("option", { value: s, selected: s === "other" }, sectorLabel(s))))),
      h("label", {}, t("priority"), h("select", { name: "priority_class" },
        ["standard", "guaranteed", "preemptible"].map((p) => h("option", { value: p }, p)))),
      h("label", {}, t("regions_hint"), h("input", { name: "regions", placeholder: "" }))),
    h("button", { type: "submit", id: "submit-button" }, t("submit")));
  const msg = h("div", { id: "submit-message" });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const body = {
      name: f.get("name") || "",
      command: ["sh", "-c", String(f.get("command"))],
      cpus: Number(f.get("cpus") || 1),
      memory: f.get("memory") || "1G",
      sector: f.get("sector"),
      priority_class: f.get("priority_class"),
      regions: String(f.get("regions") || "").split(",").map((s) => s.trim()).filter(Boolean),
    };
    const gpus = String(f.get("gpus") || "").trim();
    if (gpus && gpus !== "0") body.gpus = gpus.replace(/^(\d+)x(.+)$/i, "$2:$1");
    const limit = String(f.get("time_limit") || "").trim();
    if (limit) body.time_limit = limit;
    msg.textContent = "";
    try {
      const job = await api("/v1/jobs", { method: "POST", body });
      location.hash = `#/jobs/${encodeURIComponent(job.id)}`;
    } catch (err) { msg.append(errorBox(err)); }
  });
  view.append(h("h1", {}, t("submit_title")), form, msg);
}

async function utilisationPage(view, params) {
  const hours = Number(params.get("hours") || 24);
  const hist = await api(`/v1/pool/history?hours=${hours}`);
  const picker = h("nav", { class: "tabs" }, [1, 6, 24, 168].map((n) =>
    h("a", { href: `#/utilisation?hours=${n}`, class: n === hours ? "active" : "" }, `${n} ${t("hours")}`)));
  view.append(h("h1", {}, t("nav_util")), picker);
  if (!hist.queue.length && !hist.pool.length) { view.append(h("p", { class: "muted" }, t("no_samples"))); return; }
  // GPUs and CPU cores are never added together: each region has a GPU and a CPU line.
  const kind = (s) => (s.resource === "cpu" ? "CPU" : "GPU");
  const sum = (groupKey) => {
    const groups = new Map();
    for (const s of hist.pool) {
      const key = groupKey(s);
      const g = groups.get(key) || new Map();
      for (const [at, total, used] of s.points) {
        const prev = g.get(at) || [0, 0];
        g.set(at, [prev[0] + total, prev[1] + used]);
      }
      groups.set(key, g);
    }
    return [...groups.entries()].map(([label, g]) => ({
      label,
      points: [...g.entries()].map(([at, [total, used]]) => [Date.parse(at), total ? (100 * used) / total : 0]).sort((a, b) => a[0] - b[0]),
    }));
  };
  view.append(
    h("div", { class: "grid2" },
      lineChart(sum((s) => `${s.region} ${kind(s)}`), { title: `${t("util_title")} (${t("by_region")})`, yLabel: "%", yMax: 100 }),
      lineChart(sum((s) => (s.resource === "cpu" ? "CPU" : s.resource.slice(4))), { title: `${t("util_title")} (${t("by_model")})`, yLabel: "%", yMax: 100 })),
    lineChart([
      { label: t("pending"), points: hist.queue.map(([at, p]) => [Date.parse(at), p]) },
      { label: t("running"), points: hist.queue.map(([at, , r]) => [Date.parse(at), r]) },
    ], { title: t("queue_title"), yLabel: t("jobs_n") }));
}

async function sectorsPage(view) {
  const since = new Date();
  since.setUTCMonth(since.getUTCMonth() - 11, 1);
  since.setUTCHours(0, 0, 0, 0);
  const holder = h("div", { id: "sector-chart" });
  view.append(h("h1", {}, t("nav_sectors")), holder);
  async function draw() {
    const rows = await api(`/v1/usage?by=sector,day&since=${since.toISOString()}`);
    const months = [];
    for (let d = new Date(since); months.length < 12; d.setUTCMonth(d.getUTCMonth() + 1)) months.push(d.toISOString().slice(0, 7));
    const by = {};
    const seen = new Map(); // one group's SCH once per (key, class): dimensions repeat it
    for (const r of rows) {
      const [sector, day] = r.key.split("/");
      const k = `${r.key}|${r.workload_class}`;
      if (seen.has(k)) continue;
      seen.set(k, true);
      const m = (day || "").slice(0, 7);
      by[sector] = by[sector] || {};
      by[sector][m] = (by[sector][m] || 0) + r.standard_units;
    }
    const series = Object.keys(by).sort().map((s, i) => ({
      label: sectorLabel(s), color: PALETTE[i % PALETTE.length], values: months.map((m) => by[s][m] || 0),
    }));
    const total = series.reduce((a, s) => a + s.values.reduce((x, y) => x + y, 0), 0);
    holder.replaceChildren(stackedBars(months.map((m) => m.slice(2)), series, { title: t("sectors_title"), yLabel: "SCH" }),
      table([t("sector"), t("sch")], series.map((s) => h("tr", { "data-sector": s.label }, h("td", {}, s.label),
        h("td", {}, fmt(s.values.reduce((x, y) => x + y, 0))))), { id: "sector-table" }),
      h("p", { class: "muted", id: "sector-total", "data-total": total }, `Σ ${fmt(total)} SCH`));
  }
  await draw();
  every(4000, () => draw().catch(() => {}));
}

async function marketPage(view) {
  const [book, prices, clearings, trades] = await Promise.all([
    api("/v1/market/book"), api("/v1/market/prices"), api("/v1/market/clearings"), api("/v1/market/trades"),
  ]);
  const byProduct = new Map();
  for (const c of [...clearings].reverse()) {
    for (const [product, price] of Object.entries(c.prices)) {
      const s = byProduct.get(product) || [];
      s.push([Date.parse(c.at), Number(price)]);
      byProduct.set(product, s);
    }
  }
  view.append(h("h1", {}, t("nav_market")),
    h("h2", {}, t("book")),
    table([t("product"), t("reserve"), t("device_hours")], book.asks.map((a) => h("tr", {},
      h("td", {}, a.product), h("td", {}, a.reserve), h("td", {}, a.device_hours))), { id: "book" }),
    h("p", { class: "muted" }, `${t("bids_open")}: ${book.bids_open}`),
    lineChart([...byProduct.entries()].slice(0, 12).map(([label, points]) => ({ label, points })), { title: t("clearing_prices"), yLabel: "CNY" }),
    h("h2", {}, t("posted_prices")),
    table([t("cluster"), t("product"), t("lane"), t("price"), t("utilisation")], prices.posted.map((p) => h("tr", {},
      h("td", {}, p.cluster), h("td", {}, p.resource), h("td", {}, p.lane), h("td", {}, p.price), h("td", {}, `${num(p.utilisation * 100, 0)}%`)))),
    h("h2", {}, t("my_reservations")),
    table([t("product"), t("cluster"), t("start"), t("end"), t("device_hours"), t("price"), t("amount")], trades.map((x) => h("tr", {},
      h("td", {}, `${x.model || "cpu"}@${x.region}/${x.lane}`), h("td", {}, x.cluster), h("td", {}, fmtTime(x.start)), h("td", {}, fmtTime(x.end)),
      h("td", {}, x.device_hours), h("td", {}, x.price), h("td", {}, x.amount))), { id: "trades" }));
}

async function moneyPage(view) {
  view.append(h("h1", {}, t("nav_money")));
  const tenant = state.session.tenant_id;
  if (can("earnings:read") && state.session.provider_id) {
    const provider = state.session.provider_id;
    const earned = await api(`/v1/billing/providers/${encodeURIComponent(provider)}/balance`);
    view.append(h("h2", {}, t("earnings")), h("dl", { class: "facts", id: "earnings" },
      h("dt", {}, t("provider")), h("dd", {}, earned.provider),
      h("dt", {}, t("payable")), h("dd", { "data-field": "payable" }, `¥ ${earned.payable}`)));
  }
  const month = new Date().toISOString().slice(0, 7);
  if (tenant && can("billing:read")) {
    const [bal, statement] = await Promise.all([api("/v1/billing/balance"), api(`/v1/billing/statement?month=${month}`)]);
    view.append(h("h2", {}, t("balance")), h("dl", { class: "facts", id: "balance" },
      ...["cash", "escrow", "credit", "available", "payable"].flatMap((k) => [h("dt", {}, t(k)), h("dd", { "data-field": k }, `¥ ${bal[k]}`)])),
    h("h2", {}, `${t("statement")} ${statement.month}`),
    h("p", {}, `${t("opening")} ¥ ${statement.opening} → ${t("closing")} ¥ ${statement.closing}`),
    table([t("time"), "", t("amount"), ""], statement.lines.map((l) => h("tr", {},
      h("td", {}, fmtTime(l.at)), h("td", {}, l.kind), h("td", {}, l.amount), h("td", {}, l.memo)))),
    h("p", {}, h("a", { href: `/v1/billing/statement?month=${month}&format=html`, target: "_blank" }, "HTML"), " · ",
      h("a", { href: `/v1/billing/statement?month=${month}&format=csv` }, "CSV")));
  }
  if (can("voucher:read")) {
    const vouchers = await api("/v1/vouchers");
    view.append(h("h2", {}, t("vouchers")), table([t("tenant"), t("share"), t("cap_invoice"), t("cap_year"), t("used_year"), t("expires")],
      vouchers.map((v) => h("tr", { "data-voucher": v.id }, h("td", {}, v.tenant), h("td", {}, `${num(Number(v.share) * 100, 0)}%`),
        h("td", {}, v.cap_per_invoice), h("td", {}, v.cap_per_year), h("td", {}, v.used_this_year), h("td", {}, fmtTime(v.expires_at)))), { id: "vouchers" }));
  }
}

async function labPage(view) {
  const samples = await api("/v1/lab/samples");
  const form = h("form", { id: "lab-form", class: "form" },
    h("label", {}, t("sample"), h("select", { name: "sample" }, h("option", { value: "" }, "—"),
      samples.map((s) => h("option", { value: s.name }, `${s.name} (${s.rows})`)))),
    h("label", {}, t("upload"), h("input", { name: "file", type: "file", accept: ".csv,.txt,.json" })),
    h("div", { class: "row" },
      h("label", {}, t("policies"), h("input", { name: "policies", value: "fifo,default" })),
      h("label", {}, t("jobs_n"), h("input", { name: "jobs", type: "number", min: "1", max: "2000", value: "100" }))),
    h("button", { type: "submit", id: "lab-run" }, t("run")));
  const msg = h("div", { id: "lab-message" });
  const runs = h("div", { id: "lab-runs" });
  const report = h("div", { id: "lab-report" });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const body = {
      policies: String(f.get("policies") || "").split(",").map((s) => s.trim()).filter(Boolean),
      jobs: Number(f.get("jobs") || 100),
    };
    const file = f.get("file");
    if (file && file.size) { body.trace_text = await file.text(); body.filename = file.name; } else body.sample = f.get("sample");
    msg.textContent = "";
    try { await api("/v1/lab/runs", { method: "POST", body }); await drawRuns(); } catch (err) { msg.append(errorBox(err)); }
  });
  async function drawRuns() {
    const list = await api("/v1/lab/runs");
    runs.replaceChildren(table([t("runs"), t("state"), t("policies"), t("progress"), t("report")], list.map((r) => {
      const bars = Object.entries(r.progress || {}).map(([p, [done, total]]) =>
        h("div", { class: "progress" }, h("span", {}, p), h("progress", { max: total || 1, value: done }), ` ${done}/${total}`));
      return h("tr", { "data-run": r.id }, h("td", {}, r.id, h("div", { class: "muted" }, r.trace)), h("td", {}, badge(r.state)),
        h("td", {}, (r.policies || []).join(", ")), h("td", {}, bars, r.error ? h("div", { class: "error" }, r.error) : null),
        h("td", {}, r.state === "SUCCEEDED" ? h("button", { class: "small", "data-report": r.id, onclick: () => {
          report.replaceChildren(h("iframe", { src: `/v1/lab/runs/${encodeURIComponent(r.id)}/report`, title: t("report"), class: "report" }));
        } }, t("report")) : ""));
    })));
  }
  view.append(h("h1", {}, t("lab_title")), form, msg, h("h2", {}, t("runs")), runs, report);
  await drawRuns();
  every(1500, () => drawRuns().catch(() => {}));
}

// --- shell: login, navigation, routing ----------------------------------------------------

function loginView() {
  const msg = h("div", { id: "login-message" });
  const form = h("form", { id: "login-form", class: "form login" },
    h("h1", {}, t("login_title")),
    h("label", {}, t("token"), h("input", { name: "token", type: "password", autocomplete: "off", required: true, id: "token" })),
    h("button", { type: "submit", id: "login-button" }, t("login")),
    h("p", { class: "muted" }, t("login_hint")), msg);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    msg.textContent = "";
    try {
      state.session = await api("/session", { method: "POST", body: { token: new FormData(form).get("token") } });
      if (!location.hash || location.hash === "#/") location.hash = "#/pool";
      render();
    } catch (err) { msg.append(errorBox(err)); }
  });
  return form;
}

function header() {
  const s = state.session;
  const nav = h("nav", { id: "nav", class: "nav" }, s ? PAGES.filter(allowed).map((p) =>
    h("a", { href: `#/${p.id}`, "data-page": p.id }, t(p.label))) : []);
  const langButton = h("button", { id: "lang", class: "small ghost", onclick: () => { setLang(lang() === "zh" ? "en" : "zh"); render(); } }, t("lang"));
  const who = s ? h("span", { class: "who", id: "who" }, `${s.user_id} · ${t(s.role)}${s.tenant_id ? " · " + s.tenant_id : ""}`) : null;
  const out = s ? h("button", { id: "logout", class: "small ghost", onclick: logout }, t("logout")) : null;
  return h("header", {}, h("a", { class: "brand", href: "#/pool" }, t("brand")), nav, h("div", { class: "right" }, who, langButton, out));
}

async function logout() {
  try { await api("/session", { method: "DELETE" }); } catch { /* already ended */ }
  state.session = null;
  location.hash = "";
  render();
}

async function route() {
  clearTimers();
  const view = document.getElementById("view");
  if (!view || !state.session) return;
  // a page still loading when the next navigation starts must not overwrite it
  const generation = ++state.generation;
  const [path, query = ""] = location.hash.replace(/^#\/?/, "").split("?");
  const params = new URLSearchParams(query);
  const parts = path.split("/").filter(Boolean);
  const fresh = h("div", { id: "view-inner" });
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === (parts[0] || "pool")));
  try {
    if (parts[0] === "jobs" && parts[1]) {
      if (!can("job:read")) fresh.append(h("p", { class: "error" }, t("forbidden_page")));
      else await jobPage(fresh, params, decodeURIComponent(parts[1]));
    } else {
      const page = PAGES.find((p) => p.id === (parts[0] || "pool")) || PAGES[0];
      if (!allowed(page)) fresh.append(h("p", { class: "error", id: "forbidden" }, t("forbidden_page")));
      else await page.render(fresh, params);
    }
  } catch (err) {
    if (err.status === 401) return;
    fresh.append(errorBox(err));
  }
  if (generation !== state.generation) return;
  view.replaceChildren(fresh);
  document.body.dataset.ready = location.hash || "#/pool";
}

function render() {
  clearTimers();
  document.documentElement.lang = lang() === "zh" ? "zh-CN" : "en";
  document.title = t("brand");
  const main = h("main", { id: "view" }, state.session ? h("p", { class: "muted" }, t("loading")) : loginView());
  document.body.replaceChildren(header(), main);
  if (state.session) route();
  else document.body.dataset.ready = "login";
}

window.addEventListener("hashchange", () => route());

(async function start() {
  try { state.session = await api("/session"); } catch { state.session = null; }
  render();
})();
