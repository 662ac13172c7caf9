// The CEO page: one EventSource on /api/dashboard/events; every update carries the whole view (coalesced by the
// server to a few a second), so a page that missed updates, or reconnects after a restart, is right at once.
"use strict";

const $ = (id) => document.getElementById(id);
const fmt = new Intl.NumberFormat("en-US");
const HEARTBEAT_SILENCE_MS = 15000; // the server pushes at least every 5 s; three missed beats = reconnect

// What tests and the benchmark read: each change of the customer count as painted, with the time (ms since 1970).
window.dashboard = { countChanges: [], lastView: null };

// ---------- map ----------
const map = { svg: null, paths: new Map(), ready: false }; // ISO numeric -> its shapes (Australia has two)

async function drawMap() {
  const world = await (await fetch("/lib/countries-50m.json")).json();
  const countries = topojson.feature(world, world.objects.countries).features
    .filter((f) => f.id !== "010"); // Antarctica: no sign-ups, a third of the height
  const el = $("map");
  const width = el.clientWidth || 1000, height = el.clientHeight || 560;
  const projection = d3.geoEqualEarth().fitExtent([[8, 8], [width - 8, height - 8]], { type: "FeatureCollection", features: countries });
  const path = d3.geoPath(projection);
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("preserveAspectRatio", "xMidYMid meet");
  const add = (d, cls) => { const p = document.createElementNS(ns, "path"); p.setAttribute("d", d); p.setAttribute("class", cls); svg.appendChild(p); return p; };
  add(path(d3.geoGraticule10()), "graticule");
  for (const f of countries) {
    const p = add(path(f), "country");
    p.setAttribute("fill", "var(--land-empty)");
    p.dataset.iso = f.id ?? "";
    const title = document.createElementNS(ns, "title");
    title.textContent = f.properties.name;
    p.appendChild(title);
    if (f.id) map.paths.set(f.id, [...(map.paths.get(f.id) || []), p]);
  }
  el.replaceChildren(svg);
  map.svg = svg;
  map.ready = true;
  if (window.dashboard.lastView) paintMap(window.dashboard.lastView);
}

// Dark slate for no customers; from deep to bright teal between the smallest and the largest country with customers,
// on a square-root scale (a few large countries must not wash out the rest). The legend shows both ends in numbers.
const RAMP = [[17, 80, 84], [13, 148, 136], [45, 212, 191], [153, 246, 228]];
function colour(count, min, max) {
  if (!count) return "var(--land-empty)";
  const t = max <= min ? 1 : Math.sqrt((count - min) / (max - min));
  const x = Math.min(0.999, Math.max(0, t)) * (RAMP.length - 1);
  const i = Math.floor(x), f = x - i, a = RAMP[i], b = RAMP[i + 1];
  return `rgb(${a.map((v, k) => Math.round(v + (b[k] - v) * f)).join(",")})`;
}

function paintMap(view) {
  if (!map.ready) return;
  const byIso = new Map();
  for (const c of view.countries) if (c.iso) byIso.set(c.iso, (byIso.get(c.iso) || 0) + c.customers);
  const onMap = [...map.paths.keys()].map((iso) => byIso.get(iso) || 0).filter((n) => n > 0);
  const min = onMap.length ? Math.min(...onMap) : 0, max = onMap.length ? Math.max(...onMap) : 0;
  $("legend-min").textContent = fmt.format(min);
  $("legend-max").textContent = fmt.format(max);
  for (const [iso, paths] of map.paths) {
    const n = byIso.get(iso) || 0;
    const fill = colour(n, min, max);
    for (const p of paths) {
      if (p.getAttribute("fill") !== fill) p.setAttribute("fill", fill);
      p.dataset.customers = n;
      p.firstChild.textContent = `${p.firstChild.textContent.split(" · ")[0]} · ${fmt.format(n)}`;
    }
  }
}

// ---------- panels ----------
function ago(ms) {
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 5) return "just now";
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`;
  return `${Math.floor(s / 86400)} d ago`;
}

function paintTop(view) {
  const top = view.countries.slice(0, 12);
  const max = top.length ? top[0].customers : 1;
  const items = top.map((c, i) => {
    const li = document.createElement("li");
    const share = view.customers ? (100 * c.customers / view.customers) : 0;
    li.innerHTML = `<span class="rank">${i + 1}</span><span class="name"></span>` +
      `<span class="num">${fmt.format(c.customers)}<small>${share.toFixed(share < 10 ? 1 : 0)}%</small></span>` +
      `<span class="bar"><i style="width:${(100 * c.customers / max).toFixed(1)}%"></i></span>`;
    li.querySelector(".name").textContent = c.name;
    return li;
  });
  $("top-countries").replaceChildren(...items);
  const unmapped = map.ready ? view.countries.filter((c) => !map.paths.has(c.iso)).length : 0;
  $("countries-note").textContent = `${top.length} of ${fmt.format(view.countries.length)} countries` +
    (unmapped ? ` · ${unmapped} without a shape on the map` : "");
}

const shownSignups = new Set();
function paintLatest(view) {
  const latest = view.latest.slice(0, 8);
  const list = $("latest");
  if (latest.length === 0) {
    const li = document.createElement("li");
    li.className = "empty";
    li.textContent = "No sign-ups yet";
    list.replaceChildren(li);
    return;
  }
  const items = latest.map((s) => {
    const key = `${s.createdAt}|${s.firstName}|${s.country}`;
    const li = document.createElement("li");
    li.innerHTML = `<div class="who"></div><div class="where"></div><div class="when"></div>`;
    li.querySelector(".who").textContent = s.firstName;
    li.querySelector(".where").textContent = s.country;
    li.querySelector(".when").textContent = ago(s.createdAt);
    li.dataset.createdAt = s.createdAt;
    if (shownSignups.has(key)) li.style.animation = "none"; // only new arrivals slide in
    return { li, key };
  });
  shownSignups.clear();
  items.forEach((x) => shownSignups.add(x.key));
  list.replaceChildren(...items.map((x) => x.li));
}

let clockSkewMs = 0; // this screen's clock minus the server's, measured like NTP on each (re)connect

async function measureSkew() {
  try {
    let best = null;
    for (let i = 0; i < 3; i++) { // the sample with the shortest round trip is the most exact
      const t0 = Date.now();
      const { now } = await (await fetch("/api/dashboard/time", { cache: "no-store" })).json();
      const t1 = Date.now();
      if (!best || t1 - t0 < best.rtt) best = { rtt: t1 - t0, skew: (t0 + t1) / 2 - now };
    }
    clockSkewMs = best.skew;
  } catch { /* keep the last figure */ }
}

// The latest change's latency: the time this screen received it (on the server's clock) minus PostgreSQL's commit
// time. It stays on screen until the next change arrives.
const latency = { commit: null, ms: null };
function paintLatency(view) {
  const c = view.lastChange;
  if (!c) {
    $("latency").textContent = "–";
    $("latency").className = "";
    $("latency-detail").textContent = view.caughtUp ? "waiting for the next change" : "after the history is loaded";
    return;
  }
  if (c.committedAt !== latency.commit) {
    latency.commit = c.committedAt;
    latency.ms = Math.max(0, view.receivedAt - clockSkewMs - c.committedAt);
  }
  const ms = latency.ms;
  const el = $("latency");
  el.textContent = ms < 10000 ? `${fmt.format(Math.round(ms))} ms` : `${(ms / 1000).toFixed(1)} s`;
  el.className = ms <= 1000 ? "good" : "slow";
  const at = new Date(c.committedAt).toLocaleTimeString("en-GB");
  $("latency-detail").textContent = `change committed ${at} · at the Dashboard after ${fmt.format(Math.round(c.pipelineMs))} ms`;
}

function paint(view) {
  window.dashboard.lastView = view;
  const count = $("customer-count");
  const text = fmt.format(view.customers);
  if (count.textContent !== text) {
    count.textContent = text;
    count.dataset.value = view.customers;
    fitCount();
    count.classList.add("bump");
    setTimeout(() => count.classList.remove("bump"), 500);
    requestAnimationFrame(() => window.dashboard.countChanges.push({ count: view.customers, at: performance.timeOrigin + performance.now() }));
  }
  const mapped = view.countries.filter((c) => c.iso).length;
  $("country-total").textContent = `in ${fmt.format(view.countries.length)} countries` + (view.skipped ? ` · ${fmt.format(view.skipped)} unreadable records left out` : "");
  $("country-total").title = `${mapped} of them on the map`;
  const minute = fmt.format(view.signupsLastMinute), hour = fmt.format(view.signupsLastHour);
  if ($("signups-minute").textContent !== minute || $("signups-hour").textContent !== hour) {
    $("signups-minute").textContent = minute;
    $("signups-hour").textContent = hour;
    fitCount();
  }
  paintLatency(view);
  paintTrend(view.signupsPerMinute);
  paintMap(view);
  paintTop(view);
  paintLatest(view);
  const replay = $("replay");
  replay.hidden = view.caughtUp;
  if (!view.caughtUp) $("replay-pct").textContent = view.toReplay ? `${Math.min(100, Math.floor(100 * view.replayed / view.toReplay))}%` : "…";
}

// Big numbers as large as their box allows, whatever their number of digits (the count's box is its card).
function fit(el, room) {
  el.style.fontSize = "";
  const size = parseFloat(getComputedStyle(el).fontSize);
  if (el.scrollWidth > room) el.style.fontSize = `${Math.floor(size * room / el.scrollWidth)}px`;
}
function fitCount() {
  const el = $("customer-count");
  fit(el, el.parentElement.clientWidth - 2 * parseFloat(getComputedStyle(el.parentElement).paddingLeft));
  // The two sign-up figures share one size: the one that lets both fit.
  const pair = ["signups-minute", "signups-hour"].map($);
  pair.forEach((e) => fit(e, e.parentElement.clientWidth));
  const size = Math.min(...pair.map((e) => parseFloat(getComputedStyle(e).fontSize)));
  pair.forEach((e) => { e.style.fontSize = `${size}px`; });
}

// Sign-ups per minute over the last hour, newest on the right.
function paintTrend(perMinute) {
  const svg = $("trend"), ns = "http://www.w3.org/2000/svg";
  const max = Math.max(1, ...perMinute), w = 600 / perMinute.length;
  const bars = perMinute.map((n, i) => {
    const r = document.createElementNS(ns, "rect");
    const h = n ? Math.max(2, 112 * n / max) : 0;
    r.setAttribute("x", (i * w + 1).toFixed(1));
    r.setAttribute("width", (w - 2).toFixed(1));
    r.setAttribute("y", (120 - h).toFixed(1));
    r.setAttribute("height", h.toFixed(1));
    if (i === perMinute.length - 1) r.setAttribute("class", "now");
    return r;
  });
  const base = document.createElementNS(ns, "line");
  base.setAttribute("x1", 0); base.setAttribute("x2", 600); base.setAttribute("y1", 119.5); base.setAttribute("y2", 119.5);
  svg.replaceChildren(base, ...bars);
  $("trend-max").textContent = `peak ${fmt.format(Math.max(0, ...perMinute))}/min`;
}

// ---------- connection ----------
let source = null, silenceTimer = null, retryMs = 1000;

function status(kind, text) {
  const el = $("connection");
  el.className = `pill pill-${kind}`;
  el.textContent = text;
}

function connect() {
  if (source) source.close();
  source = new EventSource("/api/dashboard/events");
  source.onopen = () => measureSkew();
  source.addEventListener("snapshot", (e) => {
    retryMs = 1000;
    status("live", "Live");
    watchSilence();
    const view = JSON.parse(e.data);
    view.receivedAt = Date.now();
    paint(view);
  });
  // The browser retries a dropped connection by itself (the server asks for 1 s); a refused or failed response
  // closes the EventSource for good, so then a new one is made, backing off to 10 s.
  source.onerror = () => {
    status("down", "Reconnecting…");
    if (source.readyState === EventSource.CLOSED) {
      setTimeout(connect, retryMs);
      retryMs = Math.min(10000, retryMs * 2);
    }
  };
  watchSilence();
}

function watchSilence() {
  clearTimeout(silenceTimer);
  silenceTimer = setTimeout(() => { status("down", "Reconnecting…"); connect(); }, HEARTBEAT_SILENCE_MS);
}

function tick() {
  $("clock").textContent = new Date().toLocaleTimeString("en-GB", { hour: "2-digit", minute: "2-digit" });
  for (const li of document.querySelectorAll("#latest li[data-created-at]"))
    li.querySelector(".when").textContent = ago(Number(li.dataset.createdAt));
}

tick();
setInterval(tick, 1000);
connect();
drawMap().catch((e) => { $("map").textContent = `The map could not be drawn: ${e.message}`; });
let resizeTimer = null;
window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(() => { map.paths.clear(); drawMap(); fitCount(); }, 300); });
