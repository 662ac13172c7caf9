// The topic browser: cluster and groups refreshed every 2 s; messages on demand.
"use strict";

const $ = (id) => document.getElementById(id);
const fmt = new Intl.NumberFormat("en-US");

function cell(text, cls) {
  const td = document.createElement("td");
  if (cls) td.className = cls;
  td.textContent = text;
  return td;
}
function row(...cells) {
  const tr = document.createElement("tr");
  tr.append(...cells);
  return tr;
}
function message(tbody, text, cls = "muted", span = 7) {
  const td = cell(text, cls);
  td.colSpan = span;
  tbody.replaceChildren(row(td));
}

async function json(url) {
  const r = await fetch(url, { cache: "no-store" });
  const body = await r.json().catch(() => ({}));
  if (!r.ok) throw new Error(body.error || `${r.status} ${r.statusText}`);
  return body;
}

let knownTopics = [];
async function refreshCluster() {
  try {
    const c = await json("/api/kafka/cluster");
    $("brokers").replaceChildren(...c.brokers.map((b) => row(cell(b.id), cell(b.host), cell(b.port, "n"))));
    const rows = [];
    for (const t of c.topics) {
      for (const p of t.partitions) {
        const tr = row(cell(p.partition === 0 ? t.name : ""), cell(p.partition, "n"), cell(p.leader, "n"), cell(p.replicas, "n"),
          cell(fmt.format(p.low), "n"), cell(fmt.format(p.high), "n"), cell(fmt.format(Math.max(0, p.high - p.low)), "n"));
        tr.dataset.topic = t.name;
        tr.dataset.partition = p.partition;
        rows.push(tr);
      }
    }
    $("topics").replaceChildren(...rows);
    const names = c.topics.map((t) => t.name);
    if (names.join() !== knownTopics.join()) {
      const select = $("m-topic"), current = select.value;
      select.replaceChildren(...names.map((n) => { const o = document.createElement("option"); o.textContent = n; return o; }));
      if (names.includes(current)) select.value = current;
      knownTopics = names;
    }
  } catch (e) {
    message($("topics"), `Kafka did not answer: ${e.message}`, "err");
  }
}

async function refreshGroups() {
  try {
    const groups = await json("/api/kafka/groups");
    const rows = [];
    for (const g of groups) {
      if (g.error) { const tr = row(cell(g.group), cell(g.error, "err")); tr.lastChild.colSpan = 5; rows.push(tr); continue; }
      if (g.partitions.length === 0) { const tr = row(cell(g.group), cell("no committed offsets yet", "muted")); tr.lastChild.colSpan = 5; rows.push(tr); continue; }
      g.partitions.forEach((p, i) => {
        const lag = p.lag === null ? "?" : fmt.format(p.lag);
        const tr = row(cell(i === 0 ? g.group : ""), cell(p.topic), cell(p.partition, "n"), cell(fmt.format(p.committed), "n"),
          cell(fmt.format(p.high), "n"), cell(lag, "n " + (p.lag === 0 ? "lag-zero" : "lag-some")));
        tr.dataset.group = g.group;
        tr.dataset.topic = p.topic;
        tr.dataset.partition = p.partition;
        tr.dataset.lag = p.lag ?? "";
        rows.push(tr);
      });
    }
    $("groups").replaceChildren(...rows);
  } catch (e) {
    message($("groups"), `Kafka did not answer: ${e.message}`, "err", 6);
  }
}

async function readMessages(ev) {
  ev?.preventDefault();
  const q = new URLSearchParams({ topic: $("m-topic").value, partition: $("m-partition").value, offset: $("m-offset").value, limit: $("m-limit").value });
  try {
    const m = await json(`/api/kafka/messages?${q}`);
    $("m-info").textContent = `partition ${m.partition}: offsets ${fmt.format(m.low)} to ${fmt.format(m.high - 1)}; showing ${m.messages.length} from ${fmt.format(m.from)}` +
      (m.cut ? " (stopped early: the response reached its size limit)" : "");
    if (m.messages.length === 0) { message($("messages"), "no messages at this offset", "muted", 5); return; }
    $("messages").replaceChildren(...m.messages.map((x) => {
      const headers = document.createElement("td");
      headers.className = "hdr";
      headers.append(...x.headers.map((h) => { const d = document.createElement("div"); d.textContent = `${h.key}: ${h.value ?? "null"}`; return d; }));
      const value = document.createElement("td");
      const pre = document.createElement("pre");
      pre.textContent = x.value === null ? (x.note ? "" : "null (tombstone: a delete)") : pretty(x.value);
      value.append(pre);
      if (x.note) { const note = document.createElement("div"); note.className = "muted"; note.dataset.testid = "note"; note.textContent = x.note; value.append(note); }
      const tr = row(cell(x.offset, "n"), cell(x.timestamp.replace("T", " ").replace("Z", "")), cell(x.key ?? "null"), headers, value);
      tr.dataset.offset = x.offset;
      return tr;
    }));
  } catch (e) {
    $("m-info").textContent = "";
    message($("messages"), e.message, "err", 5);
  }
}

function pretty(text) {
  try { return JSON.stringify(JSON.parse(text), null, 1).replace(/\n\s*/g, " "); } catch { return text; }
}

async function refresh() {
  await Promise.all([refreshCluster(), refreshGroups()]);
  $("updated").textContent = `updated ${new Date().toLocaleTimeString("en-GB")}`;
}

$("read").addEventListener("submit", readMessages);
refresh().then(() => { if (knownTopics.length) readMessages(); });
setInterval(refresh, 2000);
