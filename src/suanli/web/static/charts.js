// Small SVG charts drawn in the page (no library, no CDN): a line chart over time, stacked
// bars by category, and a schematic map of China with regions and round-trip times.

const NS = "http://www.w3.org/2000/svg";
export const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#d97706", "#7c3aed", "#0891b2",
  "#db2777", "#65a30d", "#475569", "#ea580c", "#0d9488", "#9333ea"];

export function svg(tag, attrs = {}, text) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = String(text);
  return el;
}

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** A number for people: thousands grouped, small values to three significant digits. */
export function fmt(v) {
  const a = Math.abs(v);
  if (a >= 1000) return v.toLocaleString(undefined, { maximumFractionDigits: 0 });
  if (a === 0 || a >= 0.01) return Number(v.toFixed(2)).toString();
  return Number(v.toPrecision(3)).toString();
}

function legend(series) {
  const box = document.createElement("div");
  box.className = "legend";
  series.forEach((s, i) => {
    const item = document.createElement("span");
    const dot = document.createElement("i");
    dot.style.background = s.color || PALETTE[i % PALETTE.length];
    item.append(dot, document.createTextNode(s.label));
    box.append(item);
  });
  return box;
}

/** series: [{label, points: [[timeMs, value], ...]}]; returns a figure element. */
export function lineChart(series, { title = "", yLabel = "", yMax = null, height = 220 } = {}) {
  const W = 640, H = height, L = 48, R = 12, T = 12, B = 28;
  const fig = document.createElement("figure");
  fig.className = "chart";
  if (title) { const c = document.createElement("figcaption"); c.textContent = title; fig.append(c); }
  const all = series.flatMap((s) => s.points);
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  if (all.length === 0) { fig.append(root); return fig; }
  const t0 = Math.min(...all.map((p) => p[0])), t1 = Math.max(...all.map((p) => p[0]));
  const top = yMax ?? niceMax(Math.max(...all.map((p) => p[1])));
  const x = (t) => L + (t1 === t0 ? (W - L - R) / 2 : ((t - t0) / (t1 - t0)) * (W - L - R));
  const y = (v) => T + (1 - v / top) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    root.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    root.append(svg("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end", class: "tick" }, fmt(v)));
  }
  for (let i = 0; i <= 3; i++) {
    const t = t0 + ((t1 - t0) * i) / 3;
    const d = new Date(t);
    const label = `${String(d.getHours()).padStart(2, "0")}:${String(d.getMinutes()).padStart(2, "0")}`;
    root.append(svg("text", { x: x(t), y: H - 8, "text-anchor": "middle", class: "tick" }, label));
  }
  if (yLabel) root.append(svg("text", { x: 4, y: 10, class: "tick" }, yLabel));
  series.forEach((s, i) => {
    const color = s.color || PALETTE[i % PALETTE.length];
    const d = s.points.map((p, j) => `${j ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join("");
    root.append(svg("path", { d, fill: "none", stroke: color, "stroke-width": 2, "data-series": s.label }));
    if (s.points.length === 1) {
      const [p] = s.points;
      root.append(svg("circle", { cx: x(p[0]), cy: y(p[1]), r: 3, fill: color }));
    }
  });
  fig.append(root, legend(series));
  return fig;
}

/** categories: x labels; series: [{label, values: [...] per category}], stacked. */
export function stackedBars(categories, series, { title = "", yLabel = "", height = 240 } = {}) {
  const W = 640, H = height, L = 56, R = 12, T = 12, B = 30;
  const fig = document.createElement("figure");
  fig.className = "chart";
  if (title) { const c = document.createElement("figcaption"); c.textContent = title; fig.append(c); }
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  const sums = categories.map((_, i) => series.reduce((a, s) => a + (s.values[i] || 0), 0));
  const top = niceMax(Math.max(0, ...sums));
  const y = (v) => T + (1 - v / top) * (H - T - B);
  for (let i = 0; i <= 4; i++) {
    const v = (top * i) / 4;
    root.append(svg("line", { x1: L, x2: W - R, y1: y(v), y2: y(v), class: "grid" }));
    root.append(svg("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end", class: "tick" }, fmt(v)));
  }
  if (yLabel) root.append(svg("text", { x: 4, y: 10, class: "tick" }, yLabel));
  const slot = (W - L - R) / Math.max(1, categories.length);
  const bw = Math.min(48, slot * 0.7);
  categories.forEach((cat, i) => {
    let base = 0;
    const cx = L + slot * i + slot / 2;
    series.forEach((s, k) => {
      const v = s.values[i] || 0;
      if (v <= 0) return;
      const rect = svg("rect", {
        x: cx - bw / 2, y: y(base + v), width: bw, height: Math.max(1, y(base) - y(base + v)),
        fill: s.color || PALETTE[k % PALETTE.length], "data-series": s.label, "data-category": cat,
        "data-value": v,
      });
      rect.append(svg("title", {}, `${s.label} ${cat}: ${fmt(v)}`));
      root.append(rect);
      base += v;
    });
    root.append(svg("text", { x: cx, y: H - 10, "text-anchor": "middle", class: "tick" }, cat));
  });
  fig.append(root, legend(series));
  return fig;
}

// A coarse outline of China (longitude, latitude), for orientation only; Hainan and Taiwan
// as small islands. The map is schematic: regions are placed by their coordinates.
const OUTLINE = [[122.5, 53.5], [127.5, 50.2], [134.7, 48.4], [131, 44.9], [130.4, 42.9],
  [124.4, 40.1], [121.6, 38.9], [117.7, 39], [121.4, 37.5], [120.4, 36.1], [119.2, 34.6],
  [121.9, 31.2], [121.9, 29.9], [120.7, 28], [119.6, 26], [118.1, 24.5], [116.7, 23.4],
  [114.2, 22.3], [110.4, 21.2], [108, 21.5], [106.7, 22], [103.9, 22.5], [101.5, 21.2],
  [97.8, 24], [98.5, 25], [98.7, 27.8], [97, 28.2], [92, 27.8], [89, 27.3], [88, 28],
  [85, 28.3], [81.5, 30.2], [79, 31], [78.7, 32.5], [79.5, 35.5], [77.8, 35.5], [75, 37],
  [73.6, 39.5], [74, 40.5], [76.5, 40.8], [80.2, 42.2], [80.3, 44.2], [82.7, 45.2],
  [83, 47.2], [85.5, 47.1], [87.3, 49.1], [90, 47.8], [91, 45.5], [95, 44.3], [96.4, 42.7],
  [100, 42.6], [105, 41.6], [107.5, 42.4], [111.8, 43.7], [114.5, 44.8], [117.8, 46.6],
  [119.9, 46.7], [115.6, 47.9], [117.4, 49.6], [119.2, 50.3], [120.8, 52.5]];
const HAINAN = [[108.6, 19.2], [109.5, 18.2], [110.5, 18.8], [111, 19.7], [110.2, 20.1], [109.2, 20]];
const TAIWAN = [[120.1, 23], [120.7, 22], [121.9, 24.5], [121.5, 25.3], [121, 25]];

/** regions: [{id, name, latitude, longitude, gpus}], links: [{a, b, rtt_ms}]. */
export function chinaMap(regions, links, { title = "", rttLabel = "RTT" } = {}) {
  const W = 640, H = 470, K = 10.2, COS = Math.cos((35 * Math.PI) / 180);
  const px = (lon) => 14 + (lon - 73) * COS * K * 1.18;
  const py = (lat) => 10 + (54 - lat) * K * 1.2;
  const fig = document.createElement("figure");
  fig.className = "chart map";
  if (title) { const c = document.createElement("figcaption"); c.textContent = title; fig.append(c); }
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": title });
  for (const shape of [OUTLINE, HAINAN, TAIWAN]) {
    root.append(svg("polygon", { points: shape.map(([lo, la]) => `${px(lo).toFixed(1)},${py(la).toFixed(1)}`).join(" "), class: "land" }));
  }
  const placed = new Map(regions.filter((r) => r.latitude != null && r.longitude != null).map((r) => [r.id, r]));
  const sorted = [...links].sort((p, q) => p.rtt_ms - q.rtt_ms);
  // label only the shorter links when there are many (a dense map is unreadable)
  const labelled = new Set(sorted.slice(0, Math.max(8, placed.size)).map((l) => `${l.a}|${l.b}`));
  for (const l of sorted) {
    const a = placed.get(l.a), b = placed.get(l.b);
    if (!a || !b) continue;
    const x1 = px(a.longitude), y1 = py(a.latitude), x2 = px(b.longitude), y2 = py(b.latitude);
    const line = svg("line", { x1, y1, x2, y2, class: "link", "data-link": `${l.a}-${l.b}` });
    line.append(svg("title", {}, `${l.a} ↔ ${l.b}: ${rttLabel} ${l.rtt_ms.toFixed(1)} ms`));
    root.append(line);
    if (labelled.has(`${l.a}|${l.b}`)) {
      root.append(svg("text", { x: (x1 + x2) / 2, y: (y1 + y2) / 2 - 3, class: "rtt", "text-anchor": "middle" }, `${l.rtt_ms.toFixed(0)} ms`));
    }
  }
  const most = Math.max(1, ...[...placed.values()].map((r) => r.gpus || 0));
  for (const r of placed.values()) {
    const x = px(r.longitude), y = py(r.latitude);
    const dot = svg("circle", { cx: x, cy: y, r: 5 + 9 * Math.sqrt((r.gpus || 0) / most), class: "region", "data-region": r.id });
    dot.append(svg("title", {}, `${r.name || r.id}: ${r.gpus || 0} GPU`));
    root.append(dot, svg("text", { x: x + 10, y: y + 4, class: "region-label" }, r.name || r.id));
  }
  fig.append(root);
  return fig;
}
