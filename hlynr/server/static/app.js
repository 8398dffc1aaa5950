"use strict";
// hlynr dashboard: run list (run groups with their seeds nested), live charts of one run and its
// replays, comparison of several runs and groups (a group: mean over seeds with a band),
// start/stop/save/resume.

const params = new URLSearchParams(location.hash.slice(1) || location.search.slice(1));
const TOKEN = params.get("token") || sessionStorage.getItem("hlynr-token") || "";
if (params.get("token")) sessionStorage.setItem("hlynr-token", TOKEN);
const $ = (sel) => document.querySelector(sel);
const COLORS = ["#2764c4", "#d9480f", "#2b8a3e", "#862e9c", "#c92a2a", "#0b7285", "#5c940d",
  "#e67700", "#364fc7", "#a61e4d"];
window.hlynrDraws = [];  // {run, next, at}: when records up to `next` were drawn (for latency)

async function api(path, opts = {}) {
  const headers = { "Content-Type": "application/json" };
  if (TOKEN) headers["X-Hlynr-Token"] = TOKEN;
  const res = await fetch(path, { ...opts, headers });
  let body = null;
  try { body = await res.json(); } catch (e) { body = null; }
  if (!res.ok) throw new Error((body && body.error) || `${res.status} ${res.statusText}`);
  return body;
}
const runPath = (id) => id.split("/").map(encodeURIComponent).join("/");
function wsUrl(path, query = {}) {
  const u = new URL(path, location.href);
  u.protocol = location.protocol === "https:" ? "wss:" : "ws:";
  for (const [k, v] of Object.entries(query)) u.searchParams.set(k, v);
  if (TOKEN) u.searchParams.set("token", TOKEN);
  return u.toString();
}
function setText(el, text) { if (el.textContent !== text) el.textContent = text; }
function notice(text) { $("#notice").textContent = text; }
const fmt = (x, d = 3) => (x === null || x === undefined) ? "-" :
  (Math.abs(x) >= 1000 ? Math.round(x).toLocaleString() : Number(x).toPrecision(d));
const pct = (x) => (x === null || x === undefined) ? "-" : `${(100 * x).toFixed(1)}%`;

// ---------------------------------------------------------------- charts
// All charts are redrawn together, at most once per DRAW_MS (live records come faster than
// that), and only while on screen: drawing is what a watched run costs the machine.
const DRAW_MS = 750;
const dirty = new Set();
let drawTimer = null, lastDraw = 0;
function scheduleDraws() {
  if (drawTimer !== null) return;
  drawTimer = setTimeout(() => requestAnimationFrame(() => {
    drawTimer = null; lastDraw = performance.now();
    for (const c of [...dirty]) if (c.visible) { dirty.delete(c); c.render(); }
    stampDraw();
  }), Math.max(0, lastDraw + DRAW_MS - performance.now()));
}
const small = (u, vals) => vals.map((v) => v === 0 ? "0" :
  (Math.abs(v) < 0.01 || Math.abs(v) >= 1e5 ? v.toExponential(1) : String(+v.toPrecision(3))));
function textWidth(u, axis, texts) {  // CSS pixels of the widest of an axis's labels
  u.ctx.font = axis.font[0];
  let w = 0;
  for (const t of texts || []) w = Math.max(w, u.ctx.measureText(String(t)).width);
  return w / (window.devicePixelRatio || 1);
}
// A y axis as wide as its widest label (uPlot's default is a fixed 50 px: "150,000" was cut).
function fitAxis(u, values, i) {  // (its labels depend on the height only: no size loop)
  const axis = u.axes[i];
  return Math.ceil(axis.ticks.size + axis.gap + textWidth(u, axis, values) + 4);
}
// Room on the right for half of the widest x label, so the last one is not cut at the edge
// (a chart with a right-hand axis has that axis's room).
function padRight(u, side, sides) {
  if (sides[1]) return 0;
  const axis = u.axes[0];
  return Math.ceil(Math.max(12, textWidth(u, axis, axis._values) / 2 + 2));
}
class LiveChart {
  // defs: [{key, label, points, scale, width}], and/or a prefix (every series named prefix*,
  // labelled by the rest of its name, or by label(rest) when given)
  constructor(el, defs, { bands = [], prefix = null, match = null, label = null, scales = {},
    axes = null } = {}) {
    this.el = el; this.defs = defs; this.bands = bands; this.prefix = prefix; this.match = match;
    this.label = label || ((rest) => rest);
    this.scales = scales; this.axes = axes; this.data = {}; this.plot = null; this.keys = [];
    this.visible = true;
    new ResizeObserver(() => {  // only a change of width redraws (uPlot's own changes do not)
      const size = this.size();
      if (this.plot && size.width !== this.plot.width) this.plot.setSize(size);
    }).observe(el);
    new IntersectionObserver((entries) => {
      this.visible = entries[entries.length - 1].isIntersecting;
      if (this.visible && dirty.has(this)) scheduleDraws();
    }).observe(el);
  }
  size() { return { width: Math.max(this.el.clientWidth, 200), height: 200 }; }
  currentDefs() {
    if (!this.prefix) return this.defs;
    return this.defs.concat(Object.keys(this.data).filter((k) => this.byPrefix(k)).sort()
      .map((k) => ({ key: k, label: this.label(k.slice(this.prefix.length)) })));
  }
  set(series) {
    this.data = {};
    for (const [k, v] of Object.entries(series)) this.data[k] = [v[0].slice(), v[1].slice()];
    this.draw();
  }
  append(points) {
    let changed = false;
    for (const [k, v] of Object.entries(points)) {
      if (!this.wants(k)) continue;
      const col = this.data[k] || (this.data[k] = [[], []]);
      for (let i = 0; i < v[0].length; i++) {
        if (col[0].length && v[0][i] <= col[0][col[0].length - 1]) continue;
        col[0].push(v[0][i]); col[1].push(v[1][i]); changed = true;
      }
    }
    if (changed) this.draw();
    return changed;
  }
  wants(k) { return this.defs.some((d) => d.key === k) || this.byPrefix(k); }
  byPrefix(k) {
    return !!this.prefix && k.startsWith(this.prefix) && (!this.match || this.match.test(k));
  }
  draw() { dirty.add(this); scheduleDraws(); }
  render() {
    const defs = this.currentDefs();
    const tables = defs.map((d) => this.data[d.key] || [[], []]).filter((t) => t[0].length);
    const present = defs.filter((d) => (this.data[d.key] || [[]])[0].length);
    let total = 0;
    for (const t of tables) total += t[0].length;
    this.el.dataset.points = String(total);
    if (!tables.length) { if (this.plot) { this.plot.destroy(); this.plot = null; this.keys = []; } return; }
    const aligned = uPlot.join(tables);
    const keys = present.map((d) => `${d.key}=${d.label}`).join("|");
    if (!this.plot || keys !== this.keys) {
      if (this.plot) this.plot.destroy();
      const series = [{ label: "timesteps" }].concat(present.map((d, i) => {
        const color = d.color || COLORS[i % COLORS.length];
        const s = { label: d.label, stroke: color, width: d.width || 1.5, scale: d.scale || "y",
          spanGaps: true, points: { show: false } };
        if (d.points) { s.paths = () => null; s.points = { show: true, size: 3, fill: color }; }
        if (d.marks) s.points = { show: true, size: 6, fill: color };
        return s;
      }));
      const idx = (k) => present.findIndex((d) => d.key === k) + 1;
      const bands = this.bands.filter(([hi, lo]) => idx(hi) > 0 && idx(lo) > 0)
        .map(([hi, lo, fill]) => ({ series: [idx(hi), idx(lo)], fill }));
      const axes = (this.axes || [{}, {}]).map((a, i) => i === 0 ? a : { size: fitAxis, ...a });
      this.plot = new uPlot({
        ...this.size(), series, bands, legend: { live: false },
        scales: { x: { time: false }, ...this.scales }, padding: [null, padRight, null, null],
        axes, cursor: { drag: { x: true, y: false } },
      }, aligned, this.el);
      this.keys = keys;
    } else {
      this.plot.setData(aligned);
    }
  }
}

const charts = {
  reward: new LiveChart($("#chart-reward"), [
    { key: "reward.raw", label: "episode", points: true, color: "#9fb7e0" },
    { key: "reward.ma", label: "moving average (100 episodes)", color: "#2764c4", width: 2 },
    { key: "reward.eval", label: "evaluation", color: "#d9480f", width: 2, marks: true }]),
  success: new LiveChart($("#chart-success"), [
    { key: "success.train", label: "training (rolling 100)", color: "#2764c4" },
    { key: "success.eval", label: "evaluation", color: "#d9480f", width: 2, marks: true },
    { key: "success.eval_hi", label: "95% high", color: "rgba(217,72,15,.3)", width: 1 },
    { key: "success.eval_lo", label: "95% low", color: "rgba(217,72,15,.3)", width: 1 }],
    { bands: [["success.eval_hi", "success.eval_lo", "rgba(217,72,15,.12)"]],
      prefix: "success.stage.",  // per curriculum stage: train.<name>, eval.<name>
      label: (rest) => rest.replace(/^(train|eval)\.(.*)$/,
        (_, kind, name) => `${name} (${kind === "eval" ? "evaluation" : "training"})`),
      scales: { y: { range: [0, 1] } } }),
  losses: new LiveChart($("#chart-losses"), [], { prefix: "loss.", match: /loss$/ }),
  rates: new LiveChart($("#chart-rates"), [
    { key: "ent_coef", label: "entropy coef", color: "#862e9c" },
    { key: "learning_rate", label: "learning rate", color: "#2b8a3e", scale: "lr" }],
    { axes: [{}, { scale: "y", values: small }, { scale: "lr", side: 1, grid: { show: false },
      values: small }] }),
  stage: new LiveChart($("#chart-stage"), [{ key: "stage", label: "stage", color: "#0b7285" }]),
  sps: new LiveChart($("#chart-sps"), [{ key: "steps_per_s", label: "steps/s", color: "#5c940d" }]),
};
function stampDraw() {  // records up to state.next are on screen (after the next frame)
  const run = state.selected, next = state.next;
  requestAnimationFrame(() => {
    window.hlynrDraws.push({ run, next, at: Date.now() });
    if (window.hlynrDraws.length > 200) window.hlynrDraws.shift();
  });
}
const compareChart = new LiveChart($("#chart-compare"), []);  // defs and bands set per drawing
window.hlynrCharts = { ...charts, compare: compareChart };  // for tests and benchmarks

// ---------------------------------------------------------------- state
const state = { runs: {}, groups: {}, collapsed: new Set(), selected: null, compare: new Set(),
  runWs: null, next: 0, epoch: null, lastT: 0,
  view: null, pendingSelect: null, seenLaunchErrors: new Set(), recording: null };

const rowsById = new Map();  // run id (or "group:" + group id) -> <tr>, kept across updates
const ROW_HTML = `<td><input type="checkbox" class="cmp" aria-label="compare"></td>
    <td class="id"></td><td><span class="badge"></span></td>
    <td><span class="bar"><i></i></span></td><td class="ev"></td><td class="alert-count"></td>`;
function makeRow(id) {
  const tr = document.createElement("tr");
  tr.dataset.run = id;
  tr.innerHTML = ROW_HTML;
  setId(tr.querySelector(".id"), id);
  tr.querySelector(".id").title = id;
  const box = tr.querySelector(".cmp");
  box.addEventListener("click", (e) => { e.stopPropagation(); toggleCompare(id, box.checked); });
  tr.addEventListener("click", () => selectRun(id));
  return tr;
}
function makeGroupRow(id) {  // a run group: a click folds its seeds; the box compares the group
  const tr = document.createElement("tr");
  tr.dataset.group = id;
  tr.className = "group";
  tr.innerHTML = ROW_HTML;
  const box = tr.querySelector(".cmp");
  box.setAttribute("aria-label", "compare the group");
  box.addEventListener("click", (e) => { e.stopPropagation(); toggleCompare(`group:${id}`, box.checked); });
  tr.addEventListener("click", () => {
    if (state.collapsed.has(id)) state.collapsed.delete(id); else state.collapsed.add(id);
    renderList();
  });
  return tr;
}
function rowFor(key, make) {
  let tr = rowsById.get(key);
  if (!tr) { tr = make(); rowsById.set(key, tr); }
  return tr;
}
const evalValue = (ev) => !ev ? null : (ev.eval_success_rate !== undefined && ev.eval_success_rate !== null)
  ? { success: true, v: ev.eval_success_rate } : { success: false, v: ev.eval_mean_reward };
function setId(td, text) {  // a run id: wraps between its "/" parts, inside one after a "_"
  if (td.textContent === text) return;  // (and anywhere, if it must)
  td.replaceChildren(...text.split(/(?<=\/)/).map((part) => {
    const seg = document.createElement("span");
    seg.className = "seg";
    seg.append(...part.split(/(?<=_)/).flatMap((p, i) => i ? [document.createElement("wbr"), p] : [p]));
    return seg;
  }));
}
function updateRunRow(tr, r, seed) {
  tr.classList.toggle("selected", r.id === state.selected);
  tr.classList.toggle("seed", seed);
  setId(tr.querySelector(".id"), seed ? r.id.split("/").pop() : r.id);
  const badge = tr.querySelector(".badge");
  setText(badge, r.status);
  if (badge.className !== `badge ${r.status}`) badge.className = `badge ${r.status}`;
  const width = `${Math.round(100 * (r.progress || 0))}%`;
  const bar = tr.querySelector(".bar > i");
  if (bar.style.width !== width) bar.style.width = width;
  const ev = evalValue(r.latest_eval);
  setText(tr.querySelector(".ev"), !ev ? "-" : ev.success ? pct(ev.v) : fmt(ev.v));
  tr.querySelector(".ev").title = !ev ? "" : `latest evaluation at ${r.latest_eval.timesteps.toLocaleString()}: ` +
    (ev.success ? `success ${pct(ev.v)}` : `mean reward ${ev.v}`);
  const al = tr.querySelector(".alert-count");
  setText(al, r.alerts.length ? "⚠ " + r.alerts.length : "");
  al.title = r.alerts.map((a) => `${a.kind}: ${a.message}`).join("\n");
  tr.querySelector(".cmp").checked = state.compare.has(r.id);
}
function groupStatus(runs, n) {  // one badge for the seeds: running > failed/crashed > the rest
  const counts = {};
  for (const r of runs) counts[r.status] = (counts[r.status] || 0) + 1;
  const worst = ["running", "stopping", "failed", "crashed", "interrupted", "stopped", "completed"]
    .find((s) => counts[s]) || "unknown";
  const text = Object.entries(counts).sort((a, b) => b[1] - a[1]).map(([s, k]) => `${k} ${s}`)
    .join(", ") + (runs.length < n ? `, ${n - runs.length} not started` : "");
  return { cls: worst, text };
}
function updateGroupRow(tr, g, runs) {
  const folded = state.collapsed.has(g.id);
  setText(tr.querySelector(".id"), `${folded ? "▸" : "▾"} ${g.id}`);
  tr.querySelector(".id").title = `run group ${g.id}: ${g.algo} on ${g.env_id}, ` +
    `${runs.length} of ${g.seeds.length} seeds started` +
    (Object.keys(g.cell || {}).length ? `, grid cell ${JSON.stringify(g.cell)}` : "") +
    " (click to fold or unfold its seeds)";
  const st = groupStatus(runs, g.seeds.length);
  const badge = tr.querySelector(".badge");
  setText(badge, st.cls === "running" ? `${runs.filter((r) => r.status === "running").length} running` : st.cls);
  badge.title = st.text;
  if (badge.className !== `badge ${st.cls}`) badge.className = `badge ${st.cls}`;
  const progress = runs.length ? runs.reduce((a, r) => a + (r.progress || 0), 0) / g.seeds.length : 0;
  const bar = tr.querySelector(".bar > i");
  const width = `${Math.round(100 * progress)}%`;
  if (bar.style.width !== width) bar.style.width = width;
  const evs = runs.map((r) => evalValue(r.latest_eval)).filter(Boolean);
  const mean = evs.length ? evs.reduce((a, e) => a + e.v, 0) / evs.length : null;
  const ev = tr.querySelector(".ev");
  setText(ev, mean === null ? "-" : (evs[0].success ? pct(mean) : fmt(mean)));
  ev.title = "mean of the seeds' latest evaluations";
  const alerts = runs.reduce((a, r) => a + r.alerts.length, 0);
  setText(tr.querySelector(".alert-count"), alerts ? "⚠ " + alerts : "");
  tr.querySelector(".cmp").checked = state.compare.has(`group:${g.id}`);
}
function renderList() {
  const filter = $("#filter").value.trim().toLowerCase();
  const match = (id) => !filter || id.toLowerCase().includes(filter);
  const items = [];
  for (const r of Object.values(state.runs)) {
    if (!r.group || !state.groups[r.group]) items.push({ id: r.id, run: r, mtime: r.mtime || 0 });
  }
  for (const g of Object.values(state.groups)) {
    const runs = g.seeds.map((s) => s.run && state.runs[s.run]).filter(Boolean);
    items.push({ id: g.id, group: g, runs, mtime: Math.max(0, ...runs.map((r) => r.mtime || 0)) });
  }
  items.sort((a, b) => (b.mtime - a.mtime) || (a.id < b.id ? -1 : 1));
  const shown = [];
  for (const it of items) {
    if (it.run) {
      if (match(it.id)) shown.push([it.id, rowFor(it.id, () => makeRow(it.id)), (tr) => updateRunRow(tr, it.run, false)]);
      continue;
    }
    const seeds = it.runs.filter((r) => match(r.id) || match(it.id));
    if (!seeds.length && !match(it.id)) continue;
    const key = `group:${it.id}`;
    shown.push([key, rowFor(key, () => makeGroupRow(it.id)), (tr) => updateGroupRow(tr, it.group, it.runs)]);
    if (!state.collapsed.has(it.id)) {
      for (const r of seeds) shown.push([r.id, rowFor(r.id, () => makeRow(r.id)), (tr) => updateRunRow(tr, r, true)]);
    }
  }
  const body = $("#runs tbody");
  const exists = (key) => key.startsWith("group:") ? state.groups[key.slice(6)] : state.runs[key];
  for (const [key, tr] of rowsById) if (!exists(key)) { tr.remove(); rowsById.delete(key); }
  const keys = new Set(shown.map(([key]) => key));
  for (const [key, tr] of rowsById) tr.hidden = !keys.has(key);
  shown.forEach(([, tr, update], i) => {
    update(tr);
    if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null);
  });
}
let listTimer = null;
const scheduleList = () => { if (!listTimer) listTimer = setTimeout(() => { listTimer = null; renderList(); }, 100); };
$("#filter").addEventListener("input", scheduleList);

function connectList() {
  const ws = new WebSocket(wsUrl("/ws/runs"));
  ws.onopen = () => { $("#conn").textContent = "live"; $("#conn").className = "conn on"; };
  ws.onclose = () => { $("#conn").textContent = "offline"; $("#conn").className = "conn off";
    setTimeout(connectList, 1000); };
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (msg.type !== "runs") return;
    if (msg.full) state.runs = {};
    for (const r of msg.runs) state.runs[r.id] = r;
    if (msg.groups) state.groups = Object.fromEntries(msg.groups.map((g) => [g.id, g]));
    for (const id of msg.removed) delete state.runs[id];
    for (const l of msg.launches || []) {
      const key = `${l.run}:${l.pid}`;
      if (l.returncode && !state.seenLaunchErrors.has(key)) {
        state.seenLaunchErrors.add(key);
        notice(`${l.action} of ${l.run} failed (exit ${l.returncode}): ${l.message}`);
      }
    }
    scheduleList();
    if (state.pendingSelect && state.runs[state.pendingSelect]) {
      const id = state.pendingSelect; state.pendingSelect = null; selectRun(id);
    }
    if (state.compare.size && msg.runs.some((r) => state.compare.has(r.id) ||
        (r.group && state.compare.has(`group:${r.group}`)))) scheduleCompare();
  };
}

// ---------------------------------------------------------------- one run
function showRun(view) {
  state.view = view;
  $("#run-title").textContent = view.id;
  const badge = $("#run-status");
  badge.textContent = view.status + (view.pid ? ` (pid ${view.pid})` : "");
  badge.className = `badge ${view.status}`;
  const total = view.total_timesteps ? view.total_timesteps.toLocaleString() : "?";
  const ev = view.latest_eval, best = view.best_eval;
  const evalText = (e) => !e ? "-" : (e.eval_success_rate !== undefined && e.eval_success_rate !== null)
    ? `${pct(e.eval_success_rate)} [${pct(e.eval_success_ci_low)}, ${pct(e.eval_success_ci_high)}] at ${e.timesteps.toLocaleString()}`
    : `reward ${fmt(e.eval_mean_reward)} at ${e.timesteps.toLocaleString()}`;
  $("#run-facts").innerHTML = `<b>${view.timesteps.toLocaleString()}</b> / ${total} timesteps
    (${pct(view.progress)}) · <b>${fmt(view.steps_per_s)}</b> steps/s · latest eval <b></b> · best <b></b>
    · ${view.checkpoints.length} checkpoint(s)`;
  const bs = $("#run-facts").querySelectorAll("b");
  bs[2].textContent = evalText(ev); bs[3].textContent = evalText(best);
  $("#run-alerts").replaceChildren(...view.alerts.map((a) => {
    const li = document.createElement("li"); li.textContent = `${a.kind}: ${a.message}`; return li;
  }));
  const live = view.status === "running";
  $("#btn-save").disabled = !live;
  $("#btn-stop").disabled = !live;
  $("#btn-resume").disabled = !view.resumable;
}

async function selectRun(id) {
  if (state.runWs) { state.runWs.onclose = null; state.runWs.close(); state.runWs = null; }
  state.selected = id;
  renderList();
  $("#empty").hidden = true; $("#run").hidden = false;
  const p = runPath(id);
  const [series, config, view] = await Promise.all([
    api(`/api/runs/${p}/series?points=1500`), api(`/api/runs/${p}/config`), api(`/api/runs/${p}`)]);
  if (state.selected !== id) return;
  for (const c of Object.values(charts)) c.set(series.series);
  $("#config").textContent = config.yaml;
  const curriculum = ((config.config || {}).callbacks || []).some((c) => c && typeof c === "object" && "curriculum" in c);
  if (curriculum) delete $("#chart-stage").dataset.empty;
  else $("#chart-stage").dataset.empty = "this run has no curriculum";
  showRun(view);
  state.next = series.next; state.epoch = series.epoch; state.lastT = series.last_rollout_t;
  openRunWs(id);
  $("#replay-list").replaceChildren();
  loadReplays();
}

function openRunWs(id) {  // streams records from state.next on (the resume point)
  const ws = new WebSocket(wsUrl(`/ws/runs/${runPath(id)}`,
    { since: state.next, epoch: state.epoch, last_t: state.lastT }));
  state.runWs = ws;
  ws.onmessage = (ev) => {
    const msg = JSON.parse(ev.data);
    if (state.selected !== id) return;
    if (msg.type === "reset") { selectRun(id); return; }
    if (msg.type === "status") { showRun(msg.run); return; }
    if (msg.type === "records") {
      state.next = msg.next;
      for (const r of msg.records) if (r.type === "rollout") state.lastT = r.timesteps;
      let changed = false;
      for (const c of Object.values(charts)) changed = c.append(msg.points) || changed;
      if (!changed) stampDraw();
    }
  };
  ws.onclose = () => { if (state.selected === id) setTimeout(() => {
    if (state.selected === id && state.runWs === ws) openRunWs(id); }, 1000); };
}

async function waitAnswer(id, req, label) {
  for (let i = 0; i < 600; i++) {
    const a = await api(`/api/runs/${runPath(id)}/control/${req}`);
    if (a.status !== "pending") {
      notice(`${label} ${id}: ${a.status}${a.checkpoint ? ` (${a.checkpoint})` : ""}${a.message ? ` - ${a.message}` : ""}`);
      return;
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  notice(`${label} ${id}: no answer yet (the request stays in the run folder)`);
}

async function control(action) {
  const id = state.selected;
  if (!id) return;
  const question = { save: `Save a checkpoint of ${id} now? Training goes on.`,
    stop: `Stop ${id}? A checkpoint and the final model are saved; Resume continues it.`,
    resume: `Resume ${id} from its newest checkpoint?` }[action];
  if (!window.confirm(question)) return;
  try {
    const res = await api(`/api/runs/${runPath(id)}/${action}`, { method: "POST", body: "{}" });
    if (action === "resume") { notice(`resuming ${id} (process ${res.pid})`); return; }
    notice(`${action} requested for ${id}…`);
    await waitAnswer(id, res.request, action);
  } catch (e) { notice(`${action} ${id}: error: ${e.message}`); }
}
$("#btn-save").addEventListener("click", () => control("save"));
$("#btn-stop").addEventListener("click", () => control("stop"));
$("#btn-resume").addEventListener("click", () => control("resume"));

// ---------------------------------------------------------------- replays
// The run's replays (recorded here with "Record replay", drawn by the replay callback after
// evaluations, or written by hlynr replay), looked at every 2 s while one is being recorded or
// the run trains, else every 10 s. Elements are kept by name, so a playing video is not reloaded.
const withToken = (url) => TOKEN ? `${url}?token=${encodeURIComponent(TOKEN)}` : url;
let replayTimer = null;
async function loadReplays() {
  clearTimeout(replayTimer);
  const id = state.selected;
  if (!id) return;
  let res = null;
  try { res = await api(`/api/runs/${runPath(id)}/replays`); } catch (e) { res = null; }
  if (state.selected !== id) return;
  if (res) renderReplays(id, res);
  const busy = res && res.replays.some((r) => r.status === "recording");
  const live = state.view && state.view.pid;
  replayTimer = setTimeout(loadReplays, busy || live ? 2000 : 10000);
}
function replayTitle(r) {
  if (r.kind === "evaluation") return `evaluation at ${(r.timesteps || 0).toLocaleString()} timesteps`;
  const when = new Date(r.created * 1000).toLocaleString();
  return r.kind === "dashboard" ? `${r.which} model, recorded ${when}` : `${r.id} (hlynr replay), ${when}`;
}
function mediaFor(url, f) {
  const fig = document.createElement("figure");
  fig.dataset.file = f.name;
  let el;
  if (f.name.endsWith(".mp4")) {
    el = document.createElement("video");
    Object.assign(el, { controls: true, muted: true, loop: true, preload: "metadata", playsInline: true });
  } else {
    el = document.createElement("img");
    el.loading = "lazy";
    el.alt = f.name;
  }
  el.src = url;
  const cap = document.createElement("figcaption");
  cap.textContent = f.outcome ? `${f.name}: ${f.outcome}` : f.name;
  fig.append(el, cap);
  return fig;
}
function renderReplays(id, res) {
  const busy = res.replays.find((r) => r.status === "recording");
  const asked = state.recording;  // the replay this page asked for, until it ends
  const ended = asked && asked.run === id && res.replays.find((r) => r.id === asked.replay && r.status !== "recording");
  if (ended) {
    state.recording = null;
    notice(`replay ${ended.id} of ${id}: ${ended.status}` + (ended.message ? ` - ${ended.message}` : ""));
  }
  const btn = $("#btn-replay");
  btn.disabled = !res.recordable || Boolean(busy);
  btn.title = res.recordable ? `hlynr replay of the ${res.which} model: episode 0, video and still` : res.reason;
  setText($("#replay-note"), busy ? `recording ${busy.id}…` : (res.recordable ? "" : res.reason));
  const list = $("#replay-list");
  const old = new Map([...list.children].map((el) => [el.dataset.replay, el]));
  res.replays.forEach((r, i) => {
    let box = old.get(r.id);
    if (!box) {
      box = document.createElement("div");
      box.className = "replay";
      box.dataset.replay = r.id;
      box.innerHTML = `<div class="replay-head"><b></b><span class="badge"></span><span class="error"></span></div>
        <div class="replay-media"></div>`;
    }
    old.delete(r.id);
    setText(box.querySelector("b"), replayTitle(r));
    const badge = box.querySelector(".badge");
    setText(badge, r.status);
    badge.className = `badge ${r.status}`;
    setText(box.querySelector(".error"), r.status === "failed" ? r.message : "");
    const media = box.querySelector(".replay-media");
    const have = new Set([...media.children].map((el) => el.dataset.file));
    for (const f of r.files) {
      if (have.has(f.name)) continue;
      const url = withToken(`/api/runs/${runPath(id)}/replays/${encodeURIComponent(r.id)}/${encodeURIComponent(f.name)}`);
      media.append(mediaFor(url, f));
    }
    if (list.children[i] !== box) list.insertBefore(box, list.children[i] || null);
  });
  for (const el of old.values()) el.remove();
}
$("#btn-replay").addEventListener("click", async () => {
  const id = state.selected;
  if (!id) return;
  $("#btn-replay").disabled = true;
  try {
    const res = await api(`/api/runs/${runPath(id)}/replays`, { method: "POST", body: "{}" });
    notice(`recording a replay of ${id} (${res.which} model, process ${res.pid})…`);
    state.recording = { run: id, replay: res.replay };
  } catch (e) { notice(`replay of ${id}: error: ${e.message}`); }
  loadReplays();
});

// ---------------------------------------------------------------- compare
function toggleCompare(id, on) {
  if (on) state.compare.add(id); else state.compare.delete(id);
  $("#compare").hidden = state.compare.size === 0;
  if (state.selected === null) $("#empty").hidden = state.compare.size > 0;
  scheduleCompare(true);
}
let compareTimer = null;
function scheduleCompare(now = false) {
  if (compareTimer) return;
  compareTimer = setTimeout(() => { compareTimer = null; drawCompare(); }, now ? 0 : 3000);
}
function fade(hex, alpha) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16},${(n >> 8) & 255},${n & 255},${alpha})`;
}
async function drawCompare() {  // runs: their series; groups: mean over seeds and a band
  const metric = $("#compare-metric").value;
  const minmax = $("#compare-band").value === "minmax";
  const keys = [...state.compare];
  const all = await Promise.all(keys.map((k) => (k.startsWith("group:")
    ? api(`/api/groups/${runPath(k.slice(6))}/series?metric=${encodeURIComponent(metric)}&points=400`)
    : api(`/api/runs/${runPath(k)}/series?points=800`)).catch(() => null)));
  const series = {}, defs = [], bands = [];
  keys.forEach((k, i) => {
    const res = all[i], color = COLORS[i % COLORS.length];
    if (!res) return;
    if (!k.startsWith("group:")) {
      const s = res.series[metric];
      if (s) { series[`run:${k}`] = s; defs.push({ key: `run:${k}`, label: k, color }); }
      return;
    }
    const id = k.slice(6);
    if (!res.x.length) return;
    const name = minmax ? "min–max" : "95% band";
    const [lo, hi] = minmax ? [res.min, res.max] : [res.lo, res.hi];
    series[`grp:${id}`] = [res.x, res.mean];
    series[`grp:${id}:hi`] = [res.x, hi];
    series[`grp:${id}:lo`] = [res.x, lo];
    defs.push({ key: `grp:${id}`, label: `${id}: mean of ${res.seeds.length} seeds`, color, width: 2 },
      { key: `grp:${id}:hi`, label: `${id}: ${name} high`, color: fade(color, 0.35), width: 1 },
      { key: `grp:${id}:lo`, label: `${id}: ${name} low`, color: fade(color, 0.35), width: 1 });
    bands.push([`grp:${id}:hi`, `grp:${id}:lo`, fade(color, 0.15)]);
  });
  compareChart.defs = defs;
  compareChart.bands = bands;
  compareChart.set(series);
}
$("#compare-metric").addEventListener("change", () => scheduleCompare(true));
$("#compare-band").addEventListener("change", () => scheduleCompare(true));

// ---------------------------------------------------------------- start
$("#btn-start").addEventListener("click", async () => {
  $("#start-error").textContent = "";
  try {
    const { configs } = await api("/api/configs");
    $("#start-config").replaceChildren(...configs.map((c) => {
      const o = document.createElement("option"); o.value = c; o.textContent = c; return o;
    }));
  } catch (e) { $("#start-error").textContent = `error: ${e.message}`; }
  $("#start-dialog").showModal();
});
$("#start-submit").addEventListener("click", async () => {
  const config = $("#start-config").value;
  const overrides = $("#start-overrides").value.split("\n").map((s) => s.trim()).filter(Boolean);
  if (!config) { $("#start-error").textContent = "error: no config selected"; return; }
  if (!window.confirm(`Start a run of ${config}${overrides.length ? " with " + overrides.join(", ") : ""}?`)) return;
  try {
    const res = await api("/api/start", { method: "POST", body: JSON.stringify({ config, overrides }) });
    $("#start-dialog").close();
    notice(`started ${res.run} (process ${res.pid})`);
    state.pendingSelect = res.run;
  } catch (e) { $("#start-error").textContent = `error: ${e.message}`; }
});

connectList();
