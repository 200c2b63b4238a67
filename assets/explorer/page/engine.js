// The explorer page, the computation: a lesion's predictions through the suffix graphs, near ties settled in float64.
// `decide` is the engine's own (src/engine/sweep/logits.ts), which renderExplorer inlines after data.js.
let prefix = null;
const suffixes = [];
let float64 = null;
const cache = new Map(); // tensor -> Float32Array [N × size]
let intactPred = null;
let intactTie = null;
let intact = null;
let unresolved = 0;

// One mask entry per unit on the site's unit axis (1, or the last axis of a channels-last site), ones elsewhere.
const maskDims = (site, rows) => {
  const dims = [rows, ...new Array(site.shape.length).fill(1)];
  dims[site.unitAxis ?? 1] = site.units;
  return dims;
};
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
    const plane = size / site.units;
    // A unit's values within a sample: `plane` in a row, or every units-th on a channels-last site.
    const last = (site.unitAxis ?? 1) !== 1;
    return { values: cache.get(site.tensor), size, plane, unitStride: last ? 1 : plane, step: last ? site.units : 1, units };
  });
  for (let s = 0; s < N; s++) {
    let on = false;
    for (const { values, size, plane, unitStride, step, units } of checks) {
      for (const u of units) {
        const from = s * size + u * unitStride;
        for (let p = 0; p < plane && !on; p++) if (values[from + p * step] !== 0) on = true;
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
