// The status page: reads /api/v1/status and /api/v1/history every
// REFRESH_MS and redraws. Plain DOM, no framework; everything it shows
// is built with createElement and textContent (names come from the
// config, never parsed as HTML).
"use strict";

const REFRESH_MS = 2000;
// Status samples kept for the pools' answer share: a minute of refreshes.
const SHARE_SAMPLES = 30;
// Lines drawn in the chart (the names with the most answers).
const CHART_LINES = 8;
const COLOURS = ["#3d7bd9", "#e0702d", "#1f8a4c", "#a347ba", "#c8322f", "#2aa3a3", "#b7791f", "#5a6270"];
const TOKEN_KEY = "gslb-api-token";

let refreshes = 0;
// [{t, counts: Map(server -> handed_out)}], oldest first.
const samples = [];

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null) continue;
    if (k === "class") e.className = v;
    // Through the CSSOM: the page's CSP refuses style attributes.
    else if (k === "style") e.style.cssText = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : String(c));
  }
  return e;
}

function svg(tag, attrs) {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  return e;
}

function badge(state) {
  return el("span", { class: "badge " + state }, state.replace("_", " "));
}

// A time span in words: seconds up to 90, minutes after.
function spanText(seconds) {
  return seconds < 90 ? `${Math.round(seconds)} s` : `${(seconds / 60).toFixed(1)} min`;
}

function clock(epochS) {
  return new Date(epochS * 1000).toLocaleTimeString([], { hour12: false });
}

function rate(x) {
  if (x === 0) return "0";
  if (x >= 100) return x.toFixed(0);
  if (x >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

// --- the token: from the address's fragment (#token=...) or the form,
// kept in this tab's sessionStorage.

function takeTokenFromFragment() {
  const m = location.hash.match(/^#token=(.+)$/);
  if (!m) return;
  sessionStorage.setItem(TOKEN_KEY, decodeURIComponent(m[1]));
  history.replaceState(null, "", location.pathname + location.search);
}

class NeedToken extends Error {}

async function getJson(path) {
  const headers = { Accept: "application/json" };
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = "Bearer " + token;
  const r = await fetch(path, { headers, cache: "no-store" });
  if (r.status === 401 || r.status === 403) throw new NeedToken(path + ": " + r.status);
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  const j = await r.json();
  // The control protocol's envelope, when a reply has one.
  return j && typeof j === "object" && "ok" in j ? j.ok : j;
}

function showTokenForm(show) {
  document.getElementById("token-form").hidden = !show;
}

document.getElementById("token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  const t = document.getElementById("token").value.trim();
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  document.getElementById("token").value = "";
  refresh();
});

// --- answer share per pool member, from the status samples.

function remember(status) {
  const counts = new Map(status.servers.map((s) => [s.name, s.handed_out]));
  samples.push({ t: Date.now(), counts });
  while (samples.length > SHARE_SAMPLES) samples.shift();
}

// Each member's hand-outs over the samples kept; the daemon's own
// window (fewest_selected_window, a minute by default) while the page
// has seen none (just loaded, or no traffic since).
function handOuts(status, members) {
  const first = samples[0];
  const last = samples[samples.length - 1];
  const seen = members.map((m) =>
    first.counts.has(m) && last.counts.has(m) ? Math.max(0, last.counts.get(m) - first.counts.get(m)) : 0);
  if (seen.some((n) => n > 0)) return seen;
  const byName = new Map(status.servers.map((s) => [s.name, s]));
  return members.map((m) => (byName.has(m) ? byName.get(m).handed_out_window : 0));
}

// --- drawing.

function renderSummary(status) {
  const up = status.servers.filter((s) => s.health === "up").length;
  document.getElementById("summary").textContent =
    `${status.servers.length} servers (${up} up), ${status.pools.length} pools, ${status.names.length} names`;
}

function monitorText(m) {
  const parts = [m.monitor + (m.up ? "" : " (down)")];
  if (m.last_latency_ms !== null && m.last_latency_ms !== undefined) parts.push(m.last_latency_ms.toFixed(1) + " ms");
  if (m.last_message) parts.push(m.last_message);
  return parts.join(": ");
}

function renderDatacenters(status) {
  const byDc = new Map();
  for (const s of status.servers) {
    if (!byDc.has(s.datacenter)) byDc.set(s.datacenter, []);
    byDc.get(s.datacenter).push(s);
  }
  const out = [];
  for (const [dc, servers] of byDc) {
    const up = servers.filter((s) => s.health === "up").length;
    out.push(el("h3", { "data-datacenter": dc }, dc, " ", el("span", { class: "muted" }, `${up}/${servers.length} up`)));
    const rows = servers.map((s) =>
      el("tr", {
          "data-server": s.name,
          "data-health": s.health,
          "data-admin": s.admin,
          "data-availability": s.availability,
        },
        el("td", {}, s.name),
        el("td", {}, el("code", {}, s.address)),
        el("td", { class: "health" }, badge(s.health)),
        el("td", { class: "admin" }, badge(s.admin)),
        el("td", { class: "availability" }, badge(s.availability)),
        el("td", { class: "monitors" }, s.monitors.length ? s.monitors.map(monitorText).join("; ") : el("span", { class: "muted" }, "none")),
        el("td", { class: "num" }, s.handed_out)));
    out.push(el("table", { class: "servers" },
      el("thead", {}, el("tr", {}, ...["server", "address", "health", "admin", "availability", "monitors"].map((h) => el("th", {}, h)), el("th", { class: "num" }, "handed out"))),
      el("tbody", {}, ...rows)));
  }
  if (!out.length) out.push(el("p", { class: "empty" }, "no servers configured"));
  document.getElementById("datacenters").replaceChildren(...out);
}

function renderPools(status) {
  const byName = new Map(status.servers.map((s) => [s.name, s]));
  const out = [];
  for (const p of status.pools) {
    const counts = handOuts(status, p.members);
    const total = counts.reduce((a, b) => a + b, 0);
    out.push(el("h3", { "data-pool": p.name, "data-available": String(p.available) },
      p.name, " ", el("span", { class: "muted" }, `${p.methods.join(" → ")}; ${p.available_members}/${p.members.length} available`)));
    const rows = p.members.map((m, i) => {
      const share = total > 0 ? counts[i] / total : 0;
      const s = byName.get(m);
      return el("tr", { "data-pool-member": m, "data-share": share.toFixed(3) },
        el("td", {}, m),
        el("td", {}, s ? badge(s.availability) : ""),
        el("td", {}, el("span", { class: "bar" }, el("span", { style: `width:${(share * 100).toFixed(1)}%` }))),
        el("td", { class: "num" }, (share * 100).toFixed(1) + " %"),
        el("td", { class: "num" }, counts[i]));
    });
    out.push(el("table", { class: "pool" },
      el("thead", {}, el("tr", {}, el("th", {}, "member"), el("th", {}, "availability"), el("th", {}, "share"), el("th", { class: "num" }, ""), el("th", { class: "num" }, "answers"))),
      el("tbody", {}, ...rows)));
  }
  if (!out.length) out.push(el("p", { class: "empty" }, "no pools configured"));
  document.getElementById("pools").replaceChildren(...out);
}

function lastQps(history) {
  const m = new Map();
  for (const n of history.names) m.set(n.name, n.qps.length ? n.qps[n.qps.length - 1] : 0);
  return m;
}

function renderNames(status, history) {
  const qps = lastQps(history);
  const rows = status.names.map((n) =>
    el("tr", { "data-name": n.name },
      el("td", {}, el("code", {}, n.name)),
      el("td", {}, n.pools.join(", ")),
      el("td", {}, n.a_pool ? n.a_pool + ": " : "", n.a),
      el("td", {}, n.aaaa_pool ? n.aaaa_pool + ": " : "", n.aaaa),
      el("td", { class: "num" }, qps.has(n.name) ? rate(qps.get(n.name)) : "–")));
  if (!rows.length) rows.push(el("tr", {}, el("td", { colspan: "5", class: "empty" }, "no gslb names with pools")));
  document.querySelector("#names tbody").replaceChildren(...rows);
}

// A rounded top for the y axis: 1, 2 or 5 times a power of ten.
function niceMax(x) {
  if (x <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(x)));
  for (const m of [1, 2, 5, 10]) if (m * p >= x) return m * p;
  return 10 * p;
}

function renderChart(history) {
  const W = 1000, H = 200, L = 48, R = 10, T = 10, B = 22;
  const times = history.times;
  const names = [...history.names].sort((a, b) => b.answers - a.answers).slice(0, CHART_LINES);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", role: "img", "aria-label": "answers per second per name" });
  let top = 0;
  for (const n of names) for (const q of n.qps) top = Math.max(top, q);
  top = niceMax(top);
  const t0 = times.length ? times[0] : 0;
  const t1 = times.length ? times[times.length - 1] : 1;
  const span = Math.max(t1 - t0, 1);
  const x = (t) => L + ((t - t0) / span) * (W - L - R);
  const y = (q) => T + (1 - q / top) * (H - T - B);
  for (const frac of [0, 0.5, 1]) {
    chart.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: y(top * frac), y2: y(top * frac) }));
    const label = svg("text", { x: L - 6, y: y(top * frac) + 4, "text-anchor": "end" });
    label.textContent = rate(top * frac);
    chart.append(label);
  }
  const ago = svg("text", { x: L, y: H - 6 });
  ago.textContent = times.length ? `${spanText(span)} ago` : "no data yet";
  const now = svg("text", { x: W - R, y: H - 6, "text-anchor": "end" });
  now.textContent = "now";
  chart.append(ago, now);
  const legend = [];
  names.forEach((n, i) => {
    const colour = COLOURS[i % COLOURS.length];
    const points = n.qps.map((q, j) => `${x(times[j]).toFixed(1)},${y(q).toFixed(1)}`).join(" ");
    chart.append(svg("polyline", { points, stroke: colour, "data-name": n.name }));
    const current = n.qps.length ? n.qps[n.qps.length - 1] : 0;
    legend.push(el("li", { "data-name": n.name, "data-qps": current.toFixed(2) },
      el("span", { class: "swatch", style: `background:${colour}` }),
      n.name, " ", el("span", { class: "muted" }, rate(current) + "/s")));
  });
  if (!names.length) legend.push(el("li", { class: "empty" }, "no gslb names with pools"));
  document.getElementById("qps-chart").replaceChildren(chart);
  document.getElementById("qps-legend").replaceChildren(...legend);
  document.getElementById("qps-span").textContent = times.length ? `last ${spanText(span)}` : "";
}

function renderChanges(history) {
  const items = history.changes.map((c) =>
    el("li", { "data-server": c.server, "data-kind": c.kind, "data-from": c.from, "data-to": c.to },
      el("time", { datetime: new Date(c.at * 1000).toISOString() }, clock(c.at)),
      el("strong", {}, c.server), " ",
      c.monitor ? `(${c.kind}, ${c.monitor}) ` : `(${c.kind}) `,
      badge(c.from), " → ", badge(c.to),
      c.message ? el("span", { class: "muted" }, " " + c.message) : null));
  if (!items.length) items.push(el("li", { class: "empty" }, "no changes since the daemon started"));
  document.getElementById("changes").replaceChildren(...items);
}

function setUpdated(state, text) {
  const u = document.getElementById("updated");
  u.dataset.state = state;
  u.dataset.refreshes = String(refreshes);
  u.textContent = text;
}

let timer = null;

async function refresh() {
  clearTimeout(timer);
  try {
    const [status, history] = await Promise.all([getJson("/api/v1/status"), getJson("/api/v1/history")]);
    showTokenForm(false);
    remember(status);
    renderSummary(status);
    renderChart(history);
    renderDatacenters(status);
    renderPools(status);
    renderNames(status, history);
    renderChanges(history);
    refreshes += 1;
    setUpdated("ok", "updated " + clock(Date.now() / 1000));
  } catch (e) {
    if (e instanceof NeedToken) {
      showTokenForm(true);
      setUpdated("token", "a token is needed");
    } else {
      setUpdated("error", "not updated: " + e.message);
    }
  }
  timer = setTimeout(refresh, REFRESH_MS);
}

takeTokenFromFragment();
refresh();
