// The lesion explorer page script (runs after onnxruntime-web's bundle, which defines `ort`, in the same module).
// It runs the same computation as lesion's general ablation path (src/engine/maskedSweep.ts): cached site tensors,
// the suffix graph from the earliest silenced site with masks as per-row inputs, near ties re-decided in float64.
/* global ort */
const $ = (id) => document.getElementById(id);
const meta = JSON.parse($("lesion-meta").textContent);
const K = meta.numClasses;
const N = meta.n;
const prod = (shape) => shape.reduce((a, b) => a * b, 1);
const siteByName = new Map(meta.sites.map((s) => [s.name, s]));
const indicatorsBySite = new Map(meta.indicators.map((s) => [s.site, s]));

function fromBase64(text) {
  if (Uint8Array.fromBase64) return Uint8Array.fromBase64(text);
  const s = atob(text);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

async function blob(name) {
  const element = document.querySelector(`script[data-blob="${name}"]`);
  if (!element) throw new Error(`the page lacks its blob ${name}`);
  const stream = new Blob([fromBase64(element.textContent.trim())]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

// ---- data ------------------------------------------------------------------------------------------------------
const [C, H, W] = meta.imageShape;
const P = C * H * W;
let images = null; // Float32Array of [0,1] pixels, NCHW
let labels = null;
const counts = new Array(K).fill(0);
const means = Float32Array.from({ length: C }, (_, c) => meta.preprocessing.mean[c % meta.preprocessing.mean.length]);
const stds = Float32Array.from({ length: C }, (_, c) => meta.preprocessing.std[c % meta.preprocessing.std.length]);

/** As lesion's fillInput: (x − mean) / std rounded to float32 at each step, NHWC or NCHW. */
function fillInput(out, start, count) {
  const plane = H * W;
  const nhwc = meta.preprocessing.layout === "nhwc";
  for (let s = 0; s < count; s++) {
    const source = (start + s) * P;
    const target = s * P;
    for (let c = 0; c < C; c++) {
      const mean = means[c];
      const std = stds[c];
      const from = source + c * plane;
      if (nhwc) for (let p = 0; p < plane; p++) out[target + p * C + c] = Math.fround(images[from + p] - mean) / std;
      else for (let p = 0; p < plane; p++) out[target + c * plane + p] = Math.fround(images[from + p] - mean) / std;
    }
  }
}

// ---- sessions ----------------------------------------------------------------------------------------------------
let prefix = null;
const suffixes = [];
let float64 = null;
const cache = new Map(); // tensor -> Float32Array [N × size]
let intactPred = null;
let intactTie = null;
let intact = null;
let unresolved = 0;

/** The arg max (ties toward the lower class), or −1 − arg max when the top two are within the tie margin. */
function decide(row, from, k) {
  let best = 0;
  let second = -1;
  for (let c = 1; c < k; c++) {
    const v = row[from + c];
    if (v > row[from + best]) {
      second = best;
      best = c;
    } else if (second < 0 || v > row[from + second]) second = c;
  }
  if (second < 0) return best;
  const top = row[from + best];
  const next = row[from + second];
  return top - next <= meta.tieMargin * Math.max(Math.abs(top), Math.abs(next), 1) ? -1 - best : best;
}

const maskDims = (site, rows) => [rows, site.units, ...new Array(Math.max(0, site.shape.length - 1)).fill(1)];
const CHUNK = 8192;

/** Runs `suffix` on `rows` (null: every sample) with the lesion's units zeroed; returns decide() per row. */
async function runSuffix(suffix, rows, lesion) {
  const count = rows ? rows.length : N;
  const decided = new Int32Array(count);
  for (let from = 0; from < count; from += CHUNK) {
    const m = Math.min(CHUNK, count - from);
    const feeds = {};
    for (const feed of suffix.feeds) {
      const size = prod(feed.shape);
      const source = cache.get(feed.tensor);
      let data;
      if (!rows) data = source.subarray(from * size, (from + m) * size);
      else {
        data = new Float32Array(m * size);
        for (let r = 0; r < m; r++) {
          const s = rows[from + r];
          data.set(source.subarray(s * size, (s + 1) * size), r * size);
        }
      }
      feeds[feed.name] = new ort.Tensor("float32", data, [m, ...feed.shape]);
    }
    // Every row gets the same lesion: one mask row, broadcast by the graph's Mul (x·1 + 0 and x·0 + 0 as per row).
    for (const name of suffix.masked) {
      const site = siteByName.get(name);
      const mask = new Float32Array(site.units).fill(1);
      for (const u of lesion.get(name) ?? []) mask[u] = 0;
      feeds[`lesion.mask.${name}`] = new ort.Tensor("float32", mask, maskDims(site, 1));
      feeds[`lesion.offset.${name}`] = new ort.Tensor("float32", new Float32Array(site.units), maskDims(site, 1));
    }
    const outputs = await suffix.session.run(feeds);
    const logits = outputs[meta.outputName].data;
    for (let r = 0; r < m; r++) decided[from + r] = decide(logits, r * K, K);
    for (const t of Object.values(outputs)) t.dispose?.();
  }
  return decided;
}

/** Float64 predictions of the whole graph for `samples` under `lesion`, or null when the page has no float64 graph. */
async function settle(samples, lesion) {
  if (!float64 || samples.length === 0) return null;
  const out = new Int32Array(samples.length);
  const B = 256;
  const one = new Float32Array(P);
  for (let i = 0; i < samples.length; i += B) {
    const part = samples.slice(i, i + B);
    const inputs = new Float64Array(part.length * P);
    part.forEach((s, r) => {
      fillInput(one, s, 1);
      inputs.set(one, r * P);
    });
    const feeds = { [meta.inputName]: new ort.Tensor("float64", inputs, [part.length, ...meta.inputShape]) };
    for (const site of meta.sites) {
      const mask = new Float64Array(site.units).fill(1);
      for (const u of lesion.get(site.name) ?? []) mask[u] = 0;
      feeds[`lesion.mask.${site.name}`] = new ort.Tensor("float64", mask, maskDims(site, 1));
      feeds[`lesion.offset.${site.name}`] = new ort.Tensor("float64", new Float64Array(site.units), maskDims(site, 1));
    }
    const logits = (await float64.run(feeds))[meta.outputName].data;
    part.forEach((_, r) => {
      let best = 0;
      for (let c = 1; c < K; c++) if (logits[r * K + c] > logits[r * K + best]) best = c;
      out[i + r] = best;
    });
  }
  return out;
}

function summarise(pred, ms, tiesUnresolved) {
  const correct = new Array(K).fill(0);
  const confusion = new Int32Array(K * K);
  let lost = 0;
  let gained = 0;
  for (let s = 0; s < N; s++) {
    const y = labels[s];
    confusion[y * K + pred[s]]++;
    if (pred[s] === y) correct[y]++;
    if (intactPred) {
      if (intactPred[s] === y && pred[s] !== y) lost++;
      else if (intactPred[s] !== y && pred[s] === y) gained++;
    }
  }
  const accuracy = correct.reduce((a, b) => a + b, 0) / N;
  const perClass = correct.map((c, i) => (counts[i] === 0 ? null : c / counts[i]));
  return { accuracy, perClass, confusion, lost, gained, ms, unresolvedTies: tiesUnresolved, predictions: pred };
}

const phases = {};
let phaseStart = performance.now();
function phase(name) {
  const now = performance.now();
  phases[name] = Math.round(now - phaseStart);
  phaseStart = now;
}

async function init() {
  phase("parse");
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.proxy = false;
  ort.env.logLevel = "error";
  ort.env.wasm.wasmBinary = await blob("wasm");
  phase("wasm");
  const options = { executionProviders: ["wasm"], graphOptimizationLevel: "basic" };
  const raw = await blob("images");
  if (meta.imagesDtype === "uint8") {
    // k/255 in float32, as lesion's loaders store 8-bit pixels.
    const table = Float32Array.from({ length: 256 }, (_, b) => b / 255);
    images = new Float32Array(raw.length);
    for (let i = 0; i < raw.length; i++) images[i] = table[raw[i]];
  } else images = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  labels = new Int32Array((await blob("labels")).buffer);
  for (const y of labels) counts[y]++;
  phase("data");
  prefix = await ort.InferenceSession.create(await blob("prefix"), options);
  for (const s of meta.suffixes) suffixes.push({ ...s, session: await ort.InferenceSession.create(await blob(s.blob), options) });
  if (meta.float64) float64 = await ort.InferenceSession.create(await blob("float64"), options);
  phase("sessions");
  // Cache every site's tensors: one run of the whole graph per batch.
  for (const t of meta.tensors) cache.set(t.tensor, new Float32Array(N * prod(t.shape)));
  const B = 1024;
  const input = new Float32Array(B * P);
  for (let start = 0; start < N; start += B) {
    const count = Math.min(B, N - start);
    fillInput(input, start, count);
    const outputs = await prefix.run({ [meta.inputName]: new ort.Tensor("float32", input.subarray(0, count * P), [count, ...meta.inputShape]) });
    for (const t of meta.tensors) cache.get(t.tensor).set(outputs[t.tensor].data, start * prod(t.shape));
    for (const t of Object.values(outputs)) t.dispose?.();
  }
  if (meta.suffixes.some((s) => s.feeds.some((f) => f.tensor === meta.inputName))) {
    const all = new Float32Array(N * P);
    fillInput(all, 0, N);
    cache.set(meta.inputName, all);
  }
  phase("prefix");
  // The intact network through the same suffix graph, masks all ones (as the CLI's masked path does).
  const started = performance.now();
  const none = new Map();
  const decided = await runSuffix(suffixes[0], null, none);
  intactPred = new Int32Array(N);
  intactTie = new Uint8Array(N);
  const ties = [];
  for (let s = 0; s < N; s++) {
    intactPred[s] = decided[s] >= 0 ? decided[s] : -1 - decided[s];
    if (decided[s] < 0) {
      intactTie[s] = 1;
      ties.push(s);
    }
  }
  const settled = await settle(ties, none);
  if (settled) ties.forEach((s, i) => (intactPred[s] = settled[i]));
  unresolved = settled ? 0 : ties.length;
  intact = summarise(intactPred, performance.now() - started, unresolved);
  intact.lost = 0;
  intact.gained = 0;
  phase("intact");
}

/** The prediction of every sample under `lesion` (a Map site → units). */
async function evaluate(lesion) {
  const started = performance.now();
  const active = [...lesion].filter(([, units]) => units.length > 0);
  if (active.length === 0) return { ...intact, ms: performance.now() - started };
  // The shortest suffix that reaches every silenced site: the one starting at the latest of its graph-order firsts.
  const suffix = [...suffixes].reverse().find((s) => active.every(([site]) => s.masked.includes(site)));
  if (!suffix) throw new Error(`sites ${active.map(([s]) => s).join(", ")} are on parallel branches; silence units of one branch at a time`);
  // A row in which every silenced unit is 0 at its site cannot change.
  const rows = [];
  const checks = active.map(([name, units]) => {
    const site = siteByName.get(name);
    const size = prod(site.shape);
    return { values: cache.get(site.tensor), size, plane: size / site.units, units };
  });
  for (let s = 0; s < N; s++) {
    let on = false;
    for (const { values, size, plane, units } of checks) {
      for (const u of units) {
        const from = s * size + u * plane;
        for (let p = 0; p < plane && !on; p++) if (values[from + p] !== 0) on = true;
        if (on) break;
      }
      if (on) break;
    }
    if (on) rows.push(s);
  }
  const decided = await runSuffix(suffix, Int32Array.from(rows), lesion);
  const pred = Int32Array.from(intactPred);
  const ties = [];
  rows.forEach((s, j) => {
    const d = decided[j];
    pred[s] = d >= 0 ? d : -1 - d;
    if (d < 0 || intactTie[s]) ties.push(s);
  });
  const settled = await settle(ties, lesion);
  if (settled) ties.forEach((s, i) => (pred[s] = settled[i]));
  return summarise(pred, performance.now() - started, settled ? 0 : ties.length);
}

// ---- state and interaction -----------------------------------------------------------------------------------------
let lesion = new Map(); // site -> sorted units
const history = [];
let current = null;
let queue = Promise.resolve();
const timings = [];

const copyLesion = (l) => new Map([...l].map(([s, u]) => [s, [...u]]));
const lesionSize = (l) => [...l.values()].reduce((a, u) => a + u.length, 0);

function enqueue(task) {
  const result = queue.then(task);
  queue = result.catch(() => {});
  return result;
}

async function apply(next) {
  history.push(copyLesion(lesion));
  lesion = new Map([...next].filter(([, u]) => u.length > 0).map(([s, u]) => [s, [...new Set(u)].sort((a, b) => a - b)]));
  return refresh();
}

async function refresh() {
  const started = performance.now();
  try {
    current = await evaluate(lesion);
  } catch (error) {
    $("status").textContent = String(error.message ?? error);
    lesion = history.pop() ?? new Map();
    throw error;
  }
  render();
  const ms = performance.now() - started;
  if (lesionSize(lesion) > 0) timings.push(ms);
  $("status").textContent = `${lesionSize(lesion) === 0 ? "intact network" : `${lesionSize(lesion)} unit${lesionSize(lesion) === 1 ? "" : "s"} silenced`} · computed and drawn in ${ms.toFixed(0)} ms${current.unresolvedTies > 0 ? ` · ${current.unresolvedTies} near ties not settled in float64` : ""}`;
  return current;
}

const pct = (f) => (f === null ? "n/a" : `${(100 * f).toFixed(2)}%`);
const pp = (d) => `${d > 0 ? "+" : d < 0 ? "−" : "±"}${Math.abs(100 * d).toFixed(2)}`;

function cliLine() {
  const active = [...lesion].filter(([, u]) => u.length > 0);
  if (active.length === 0) return "";
  const quote = (s) => (/^[\w./@:+-]+$/.test(s) ? s : `'${s.replace(/'/g, "'\\''")}'`);
  const across = active.length > 1 ? "# across sites: the CLI ablates one site per condition: " : "";
  return across + active.map(([site, units]) => `lesion ablate ${quote(meta.modelPath)} --data ${quote(meta.data)} --site ${quote(site)} --units ${units.join(",")} -o out/${site}`).join(" ; ");
}

function colourOf(t) {
  // viridis, 5 stops
  const stops = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
  const x = Math.min(1, Math.max(0, t)) * (stops.length - 1);
  const i = Math.min(stops.length - 2, Math.floor(x));
  const f = x - i;
  const c = stops[i].map((v, j) => Math.round(v + f * (stops[i + 1][j] - v)));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

const INDICATORS = [
  ["classMean", "class-conditional activation"],
  ["selectivity", "selectivity"],
  ["impact", "single-unit impact (accuracy drop)"],
  ["magnitude", "mean |activation|"],
  ["fractionActive", "fraction of samples active"],
];

function indicatorValues(site) {
  const ind = indicatorsBySite.get(site.name);
  const which = $("indicator").value;
  if (which === "classMean") {
    const k = Number($("klass").value);
    return Array.from({ length: site.units }, (_, u) => ind.classMeans[k * site.units + u]);
  }
  return ind[which];
}

function buildNetwork() {
  const root = $("network");
  root.textContent = "";
  for (const site of meta.sites) {
    const column = document.createElement("div");
    column.className = "site";
    const title = document.createElement("h3");
    title.textContent = `${site.name}`;
    const sub = document.createElement("div");
    sub.className = "sub";
    sub.textContent = `${site.units} ${site.kind === "conv" ? "filters" : "units"}`;
    const grid = document.createElement("div");
    grid.className = "units";
    const columns = Math.max(1, Math.ceil(site.units / 25));
    grid.style.gridTemplateColumns = `repeat(${columns}, 14px)`;
    for (let u = 0; u < site.units; u++) {
      const cell = document.createElement("div");
      cell.className = "unit";
      cell.dataset.site = site.name;
      cell.dataset.unit = String(u);
      grid.append(cell);
    }
    column.append(title, sub, grid);
    root.append(column);
  }
  root.addEventListener("click", (event) => {
    const cell = event.target.closest(".unit");
    if (!cell) return;
    const site = cell.dataset.site;
    const unit = Number(cell.dataset.unit);
    const silenced = (lesion.get(site) ?? []).includes(unit);
    let next;
    if (event.shiftKey) {
      next = copyLesion(lesion);
      const units = next.get(site) ?? [];
      next.set(site, silenced ? units.filter((u) => u !== unit) : [...units, unit]);
    } else next = silenced && lesionSize(lesion) === 1 ? new Map() : new Map([[site, [unit]]]);
    enqueue(() => apply(next)).catch(() => {});
  });
  root.addEventListener("mousemove", (event) => {
    const cell = event.target.closest(".unit");
    if (!cell) return void ($("tip").hidden = true);
    showTip(cell);
  });
  root.addEventListener("mouseleave", () => ($("tip").hidden = true));
}

function colourUnits() {
  for (const site of meta.sites) {
    const values = indicatorValues(site);
    let lo = Infinity;
    let hi = -Infinity;
    for (const v of values) {
      if (v === null) continue; // selectivity of a unit below the minimum activity is undefined
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const off = new Set(lesion.get(site.name) ?? []);
    for (const cell of document.querySelectorAll(`.unit[data-site="${CSS.escape(site.name)}"]`)) {
      const u = Number(cell.dataset.unit);
      cell.style.background = values[u] === null ? "#ccc" : colourOf(hi > lo ? (values[u] - lo) / (hi - lo) : 0.5);
      cell.classList.toggle("off", off.has(u));
    }
  }
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  if (text !== undefined) el.textContent = text;
  return el;
}

function renderBars() {
  const root = $("bars");
  root.textContent = "";
  const rowH = 22;
  const left = 70;
  const width = 300;
  root.setAttribute("width", String(left + width + 130));
  root.setAttribute("height", String(K * rowH + 24));
  root.append(svg("text", { x: left, y: 12, class: "axis" }, "per-class accuracy: intact (outline) and lesioned (bar)"));
  meta.classNames.forEach((name, k) => {
    const y = 20 + k * rowH;
    const now = current.perClass[k];
    const before = intact.perClass[k];
    root.append(svg("text", { x: left - 6, y: y + 14, "text-anchor": "end" }, name));
    if (now !== null) root.append(svg("rect", { x: left, y: y + 3, width: width * now, height: rowH - 8, class: now < before - 1e-12 ? "bar lost" : now > before + 1e-12 ? "bar gained" : "bar" }));
    if (before !== null) root.append(svg("rect", { x: left, y: y + 1, width: width * before, height: rowH - 4, class: "intact" }));
    const delta = now === null || before === null ? "" : now === before ? "" : ` (${pp(now - before)})`;
    root.append(svg("text", { x: left + width + 6, y: y + 14, class: "value" }, `${pct(now)}${delta}`));
  });
}

function renderConfusion() {
  const table = document.createElement("table");
  const head = document.createElement("tr");
  head.append(document.createElement("th"));
  for (const name of meta.classNames) {
    const th = document.createElement("th");
    th.textContent = name;
    head.append(th);
  }
  table.append(head);
  for (let y = 0; y < K; y++) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.textContent = meta.classNames[y];
    tr.append(th);
    const rowTotal = Math.max(1, counts[y]);
    for (let p = 0; p < K; p++) {
      const td = document.createElement("td");
      const value = current.confusion[y * K + p];
      const change = value - intact.confusion[y * K + p];
      td.textContent = String(value);
      const t = value / rowTotal;
      td.style.background = y === p ? `rgba(70,120,180,${0.15 + 0.75 * t})` : `rgba(200,60,60,${Math.min(0.9, 4 * t)})`;
      if (change !== 0) {
        td.classList.add(y === p ? (change < 0 ? "worse" : "better") : change > 0 ? "worse" : "better");
        td.title = `${change > 0 ? "+" : ""}${change} from intact`;
      }
      tr.append(td);
    }
    table.append(tr);
  }
  $("confusion").textContent = "";
  $("confusion").append(table);
}

const OUTCOME_COLOURS = { kept: "#b9c6d8", wrong: "#e8d3a8", lost: "#d0453a", gained: "#2e9a48" };
function renderMap() {
  if (!meta.map) return;
  const canvas = $("map");
  const ctx = canvas.getContext("2d");
  const { samples, x, y } = meta.map;
  const [x0, x1, y0, y1] = [Math.min(...x), Math.max(...x), Math.min(...y), Math.max(...y)];
  const px = (v) => 6 + ((v - x0) / (x1 - x0 || 1)) * (canvas.width - 12);
  const py = (v) => 6 + ((v - y0) / (y1 - y0 || 1)) * (canvas.height - 12);
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  const tally = { kept: 0, wrong: 0, lost: 0, gained: 0 };
  const outcome = samples.map((s) => {
    const before = intactPred[s] === labels[s];
    const after = current.predictions[s] === labels[s];
    return before ? (after ? "kept" : "lost") : after ? "gained" : "wrong";
  });
  for (const pass of [["kept", "wrong"], ["lost", "gained"]]) {
    outcome.forEach((o, i) => {
      if (!pass.includes(o)) return;
      ctx.fillStyle = OUTCOME_COLOURS[o];
      const r = pass[0] === "lost" ? 3 : 2;
      ctx.fillRect(px(x[i]) - r / 2, py(y[i]) - r / 2, r, r);
    });
  }
  outcome.forEach((o) => tally[o]++);
  $("map-legend").innerHTML = Object.entries(tally)
    .map(([o, n]) => `<span style="color:${OUTCOME_COLOURS[o]}">■</span> ${o === "wrong" ? "wrong in both" : o === "kept" ? "right in both" : o} ${n}`)
    .join(" · ");
}

function render() {
  renderMap();
  colourUnits();
  renderBars();
  renderConfusion();
  const d = current.accuracy - intact.accuracy;
  $("overall").textContent = `accuracy ${pct(current.accuracy)}${lesionSize(lesion) ? ` (${pp(d)} pp from intact ${pct(intact.accuracy)}) · lost ${current.lost} · gained ${current.gained}` : ""}`;
  $("units").value = cliLine();
  $("undo").disabled = history.length === 0;
  $("reset").disabled = lesionSize(lesion) === 0;
}

let weightsCache = new Map();
function showTip(cell) {
  const site = siteByName.get(cell.dataset.site);
  const u = Number(cell.dataset.unit);
  const ind = indicatorsBySite.get(site.name);
  const tip = $("tip");
  tip.textContent = "";
  const title = document.createElement("div");
  title.className = "tip-title";
  title.textContent = `${site.name}:${u}${(lesion.get(site.name) ?? []).includes(u) ? " (silenced)" : ""}`;
  const facts = document.createElement("div");
  facts.textContent = `selectivity ${ind.selectivity[u] === null ? "undefined (too few active samples)" : ind.selectivity[u].toFixed(3)} · ablated alone ${pp(-ind.impact[u])} pp · mean |act| ${ind.magnitude[u].toFixed(3)} · active ${(100 * ind.fractionActive[u]).toFixed(0)}%`;
  tip.append(title, facts);
  // Class profile: the unit's mean activation per class.
  const profile = svg("svg", { width: 24 * K + 10, height: 70 });
  const values = Array.from({ length: K }, (_, k) => ind.classMeans[k * site.units + u]);
  const hi = Math.max(1e-12, ...values.map(Math.abs));
  values.forEach((v, k) => {
    const h = (40 * Math.abs(v)) / hi;
    profile.append(svg("rect", { x: 5 + k * 24, y: 45 - h, width: 18, height: h, class: v < 0 ? "neg" : "pos" }));
    profile.append(svg("text", { x: 14 + k * 24, y: 62, "text-anchor": "middle" }, meta.classNames[k].slice(0, 3)));
  });
  const label = document.createElement("div");
  label.textContent = "class profile (mean activation per class)";
  tip.append(label, profile);
  const w = meta.weights[site.name];
  if (w && weightsCache.has(site.name)) {
    const weights = weightsCache.get(site.name);
    const canvas = document.createElement("canvas");
    canvas.width = w.width;
    canvas.height = w.height;
    canvas.className = "weights";
    const ctx = canvas.getContext("2d");
    const img = ctx.createImageData(w.width, w.height);
    const plane = w.width * w.height;
    let hiW = 1e-12;
    for (let i = 0; i < w.fanIn; i++) hiW = Math.max(hiW, Math.abs(weights[u * w.fanIn + i]));
    for (let p = 0; p < plane; p++) {
      let v = 0;
      for (let c = 0; c < w.channels; c++) v += weights[u * w.fanIn + c * plane + p];
      v /= w.channels * hiW;
      img.data[4 * p] = v < 0 ? 255 : Math.round(255 * (1 - v));
      img.data[4 * p + 1] = Math.round(255 * (1 - Math.abs(v)));
      img.data[4 * p + 2] = v > 0 ? 255 : Math.round(255 * (1 + v));
      img.data[4 * p + 3] = 255;
    }
    ctx.putImageData(img, 0, 0);
    const wl = document.createElement("div");
    wl.textContent = "incoming weights (blue +, red −)";
    tip.append(wl, canvas);
  }
  tip.hidden = false;
}

function setUp() {
  const why = { asked: "as asked", page: "the whole set would pass 50 MB of page", memory: "the whole set's cached activations would pass 64 MB and a change would take seconds" }[meta.sampleReason];
  const samples = meta.sampled
    ? `a stratified sample of ${N.toLocaleString("en")} of ${meta.total.toLocaleString("en")} samples (seed ${meta.seed}; ${why}; --samples sets it)`
    : `all ${N.toLocaleString("en")} samples`;
  const about = `${meta.model} on ${meta.data}: ${samples}. Silencing is zero ablation; accuracy equals \`lesion ablate\` for the same units${meta.sampled ? " on these samples" : ""}.`;
  $("about").textContent = about;
  for (const [value, text] of INDICATORS) $("indicator").append(new Option(text, value));
  meta.classNames.forEach((name, k) => $("klass").append(new Option(name, String(k))));
  const recolour = () => {
    $("class-label").hidden = $("indicator").value !== "classMean";
    colourUnits();
  };
  $("indicator").addEventListener("change", recolour);
  $("klass").addEventListener("change", recolour);
  $("reset").addEventListener("click", () => enqueue(() => apply(new Map())).catch(() => {}));
  $("undo").addEventListener("click", () =>
    enqueue(() => {
      if (history.length === 0) return current;
      lesion = history.pop();
      return refresh();
    }).catch(() => {}),
  );
  if (meta.populations.length > 0) {
    $("population-label").hidden = false;
    $("population").append(new Option("silence a population…", ""));
    meta.populations.forEach((g, i) =>
      g.populations.forEach((p, j) => $("population").append(new Option(`${g.site} · by ${g.by} · population ${p.id} (${p.units.length} units)`, `${i}:${j}`))),
    );
    $("population").addEventListener("change", () => {
      const value = $("population").value;
      if (!value) return;
      const [i, j] = value.split(":").map(Number);
      const g = meta.populations[i];
      enqueue(() => apply(new Map([[g.site, g.populations[j].units]]))).catch(() => {});
      $("population").value = "";
    });
  }
  $("copy").addEventListener("click", () => navigator.clipboard?.writeText($("units").value).catch(() => {}));
  buildNetwork();
  $("map-box").hidden = !meta.map;
}

setUp();
const loadStarted = performance.now();
const ready = (async () => {
  await init();
  for (const [site, w] of Object.entries(meta.weights)) {
    const bytes = await blob(w.blob);
    weightsCache.set(site, new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4));
  }
  current = intact;
  render();
  const agrees = intact.accuracy === meta.baseline.accuracy;
  $("status").textContent = `ready in ${((performance.now() - loadStarted) / 1000).toFixed(1)} s · intact accuracy ${pct(intact.accuracy)}${agrees ? " (equals lesion's)" : ` (lesion computed ${pct(meta.baseline.accuracy)})`}`;
  return { accuracy: intact.accuracy, perClass: intact.perClass };
})();
ready.catch((error) => {
  $("status").textContent = `the network could not be run here: ${error.message ?? error}`;
});

window.lesionExplorer = {
  /** Resolves with the intact network's {accuracy, perClass} once the page has run it. */
  ready,
  /** Silences exactly `units` of `site` (zero ablation), shows it, resolves with {accuracy, perClass}. */
  ablate(site, units) {
    return window.lesionExplorer.silence({ [site]: Array.isArray(units) ? units : [units] });
  },
  /** Silences exactly the given units of several sites at once ({fc1: [3], fc2: [7, 9]}); resolves as `ablate`. */
  async silence(units) {
    await ready;
    for (const [site, list] of Object.entries(units)) {
      const known = siteByName.get(site);
      if (!known) throw new Error(`unknown site '${site}' (sites: ${meta.sites.map((s) => s.name).join(", ")})`);
      for (const u of list) if (!Number.isInteger(u) || u < 0 || u >= known.units) throw new Error(`unit ${u} is out of range for site ${site} (0..${known.units - 1})`);
    }
    const result = await enqueue(() => apply(new Map(Object.entries(units))));
    return { accuracy: result.accuracy, perClass: result.perClass, lost: result.lost, gained: result.gained, ms: result.ms };
  },
  /** The shown result: {accuracy, perClass, lost, gained}. */
  result: () => current && { accuracy: current.accuracy, perClass: current.perClass, lost: current.lost, gained: current.gained },
  /** The current lesion as {site: units}. */
  lesion: () => Object.fromEntries(lesion),
  /** Milliseconds from a change to its drawn result, one per change. */
  timings,
  /** Milliseconds of each loading phase (parse, wasm, data, sessions, prefix, intact). */
  phases,
};
