/**
 * The fast exact sweep for dense chains (MLPs with ReLU). Every number is exact; only work that provably cannot
 * change an answer is skipped:
 * 1. One intact forward pass caches every layer's pre-activation. Zeroing units of layer l changes nothing on a
 *    sample where none of them is active, so only (condition, sample) rows with an active unit are evaluated.
 * 2. An evaluated row starts from the cached pre-activation of layer l+1 minus a rank-|U| correction
 *    Σ_u h_u·W_{l+1}[:,u] and runs only the layers after it (batched through onnxruntime: tailModel.ts); where l
 *    feeds the output layer, the new logits are that correction alone (closed form, no GEMM).
 * 3. Without loss, a row is skipped when, for every class c, a bound on how far the ablation can lower the gap
 *    z_t − z_c stays below that gap (layerBounds.ts: exact where the site feeds the output layer, interval
 *    propagation through the ReLUs before). For a set of units the bounds add up; and starting from the exact gaps
 *    a single leaves, the other units' bounds must reach those too, which prunes most pairs (their candidates are
 *    listed once per layer). Gaps are taken with slack (0.999·gap − 1e-5, − 1e-4 for single gaps) so rounding never
 *    prunes a row that could flip.
 * 4. A multi-unit condition on a sample where only one of its units is active equals that unit's single ablation
 *    there; the single's exact outcome (and loss) is reused.
 * With loss, where the site feeds the output layer the loss is a closed form of cached values (closedFormLoss.ts) and
 * the predictions take the pruned path; so is a sweep of pairs one ReLU layer before it (hiddenLoss.ts), whose kernel
 * also decides the rows whose new prediction it finds clear and lists the others for evaluation. Elsewhere every row
 * where an ablated unit is active is evaluated (elsewhere the loss is the intact one).
 * 5. float32 decides unless its top two logits nearly tie (logits.ts); those rows, and the intact network's own near
 *    ties, are recomputed in float64 from the input (forward64.ts).
 * This file runs the steps in order; denseRows.ts lists and settles the rows, denseTail.ts runs the general case
 * (step 2) through onnxruntime. Algorithm and measurements: shared note "fast-exact-sweep"; benchmark:
 * bench/ablation.mjs.
 */
import { fail } from "../../errors.js";
import { isPair, isPairSweep, type ClosedFormLossInput } from "./closedFormLoss.js";
import { closedFormLossBeside, worthAThread } from "./closedFormLossThread.js";
import { denseIntact } from "./denseIntact.js";
import { DenseRows, finish } from "./denseRows.js";
import { denseTail } from "./denseTail.js";
import { hiddenLossAvailable } from "./hiddenLoss.js";
import { candidatePairs, layerBounds, marginsOf, PAIR_BYTES } from "./layerBounds.js";
import type { DenseIntact, DenseSweepInput, LayerBounds, PairCandidates, PairLossCache, PairRows, SweepResult } from "./types.js";

export type { DenseSweepInput } from "./types.js";

/**
 * Every condition's outcome (zeroed units at layer `siteLayer` of a dense chain) against the intact network, on
 * `inputs`: float64-exact predictions, per-class counts and, with `loss`, the summed cross-entropy. Throws
 * `unit-out-of-range` (a unit beyond the site's width) and `aborted`.
 */
export async function denseSweep(input: DenseSweepInput): Promise<SweepResult> {
  const started = performance.now();
  const { model, chain, siteLayer, inputs, labels, conditions } = input;
  const last = chain.layers.length - 1;
  const site = chain.layers[siteLayer];
  for (const units of conditions) for (const u of units) if (!(u >= 0 && u < site.out)) fail("unit-out-of-range", `unit ${u} is out of range for site ${site.name} (0..${site.out - 1})`, { site: site.name, unit: u, units: site.out });
  const intact = input.intact ?? (await denseIntact(model, chain, inputs, labels));
  if (input.loss && !input.losses && (siteLayer + 1 === last || hiddenLossFits(input))) return withClosedFormLoss(input, intact, started);
  const sweep = new DenseRows(input, intact);
  if (siteLayer === last) {
    await sweep.logits();
  } else {
    const bounds = layerBounds(chain, siteLayer, intact);
    // A multi-unit condition on a sample where only one of its units is active is that unit's single ablation there
    // (zeroing an inactive ReLU unit changes nothing): its exact outcome (and loss) is reused, not recomputed.
    const reuse = conditions.some((c) => c.length > 1) && (await prepareSingles(input, intact, bounds));
    // Pair candidates are listed once per layer, among the units of the pairs asked for, where the pairs outnumber
    // those units (a sweep of all pairs); a later call reuses them if they cover its units.
    const wanted = new Uint8Array(site.out);
    let pairCount = 0;
    for (const c of conditions) {
      if (c.length !== 2 || c[0] === c[1]) continue;
      pairCount++;
      wanted[c[0]] = wanted[c[1]] = 1;
    }
    const listPairs = reuse && !input.loss && pairCount >= wanted.reduce((sum, w) => sum + w, 0);
    const listed = bounds.pairs;
    if (listPairs && !(listed && wanted.every((w, u) => w === 0 || listed.units[u] === 1))) {
      bounds.pairs = { units: wanted, rows: candidatePairs(bounds, intact, intact.pre[siteLayer], sweep.k, site.out, wanted) };
    }
    // Rows a hidden layer's loss kernel listed (withHiddenLoss) serve its singles as well as its pairs.
    const kernelListed = !input.loss && !input.gaps && !input.losses && listed?.rows?.classes !== undefined && conditions.every((c) => c.length <= 2 && c.every((u) => listed.units[u] === 1));
    sweep.prune(bounds, reuse, listPairs || kernelListed ? bounds.pairs!.rows : null);
    // With loss here (a single's rows stored for pairs to reuse) every active row is evaluated: onnxruntime then runs
    // even the closed form faster than JS.
    if (siteLayer + 1 === last && !input.loss) await sweep.closedForm();
    else await denseTail(sweep);
  }
  await sweep.settleTies();
  return finish(intact, sweep.outcomes, { rowsEvaluated: sweep.evaluated, rowsFloat64: sweep.rowsFloat64, unresolvedTies: 0 }, input.loss, started);
}


/**
 * Where the site feeds the output layer (or, for a sweep of pairs, the hidden layer before it: hiddenLossFits), the
 * loss is a closed form of the cached logits and activations (closedFormLoss.ts): computed on every row where a unit
 * is active, while the predictions come from the pruned sweep without loss; a pairs sweep's loss runs in worker
 * threads beside it (closedFormLossThread.ts).
 * rowsEvaluated counts the loss rows (the decided rows are among them).
 */
async function withClosedFormLoss(input: DenseSweepInput, intact: DenseIntact, started: number): Promise<SweepResult> {
  const cache = lossCache(intact, input.siteLayer);
  // Sums started ahead (denseLossAhead) are waited for after the predictions; then they are read from the cache.
  const ahead = cache.ahead;
  ahead?.ref();
  if (input.siteLayer + 2 < input.chain.layers.length && input.conditions.some(isPair)) return withHiddenLoss(input, intact, cache, started);
  const pending = ahead ? null : closedFormLossBeside(lossInput(input, intact, cache));
  let decided: SweepResult;
  try {
    decided = await denseSweep({ ...input, intact, loss: false });
  } catch (error) {
    pending?.cancel();
    throw error;
  }
  const aheadRows = ahead ? (await ahead.wait()).rows : 0;
  const { deltas, rows } = await (pending ?? closedFormLossBeside(lossInput(input, intact, cache))).wait();
  return {
    ...decided,
    conditions: decided.conditions.map((c, i) => ({ ...c, lossSum: intact.lossSum + deltas[i] })),
    stats: { ...decided.stats, rowsEvaluated: rows + aheadRows, seconds: (performance.now() - started) / 1000 },
  };
}

/**
 * A sweep of pairs one hidden layer before the output layer (hiddenLoss.ts): its kernel, on every core, computes the
 * losses and lists the pair rows whose prediction may change, from the same cached values in float64 (the rest are
 * clearly the intact prediction), with the new prediction where it is clear; then the predictions take those rows in
 * place of the pair candidates the layer's bounds would list, and evaluate only the unclear ones.
 */
async function withHiddenLoss(input: DenseSweepInput, intact: DenseIntact, cache: PairLossCache, started: number): Promise<SweepResult> {
  const aheadRows = cache.ahead ? (await cache.ahead.wait()).rows : 0;
  const { deltas, rows } = await closedFormLossBeside(lossInput(input, intact, cache)).wait();
  if (cache.candidates && cache.units) {
    const bounds = layerBounds(input.chain, input.siteLayer, intact);
    const candidates = cache.candidates;
    // Built once per candidate list, for the blocks of one sweep.
    let rows = listedRows.get(candidates);
    if (!rows) listedRows.set(candidates, (rows = pairRowsOf(candidates, input.chain.layers[input.siteLayer].out)));
    bounds.pairs = { units: cache.units, rows };
  }
  const decided = await denseSweep({ ...input, intact, loss: false });
  return {
    ...decided,
    conditions: decided.conditions.map((c, i) => ({ ...c, lossSum: intact.lossSum + deltas[i] })),
    stats: { ...decided.stats, rowsEvaluated: rows + aheadRows + decided.stats.rowsEvaluated, seconds: (performance.now() - started) / 1000 },
  };
}

const listedRows = new WeakMap<PairCandidates, PairRows>();

/** Candidate rows (in sample order) as PairRows: per pair cell i·units + j, its samples, ascending, and their classes. */
function pairRowsOf(candidates: PairCandidates, units: number): PairRows {
  const { cells, samples } = candidates;
  const offsets = new Int32Array(units * units + 1);
  for (let r = 0; r < cells.length; r++) offsets[cells[r] + 1]++;
  for (let cell = 0; cell < units * units; cell++) offsets[cell + 1] += offsets[cell];
  const fill = offsets.slice(0, units * units);
  const sorted = new Int32Array(cells.length);
  const classes = new Int32Array(cells.length);
  for (let r = 0; r < cells.length; r++) {
    const at = fill[cells[r]]++;
    sorted[at] = samples[r];
    classes[at] = candidates.classes[r];
  }
  return { offsets, samples: sorted, classes };
}

/**
 * Starts the closed-form loss of a pairs sweep at a site that feeds the output layer in a worker thread now, so that
 * it runs beside the caller's work on other sites; the sweep of these conditions later waits for it instead of
 * starting it (withClosedFormLoss). Does nothing elsewhere, without loss, or where a worker would not pay. The worker
 * does not keep the process alive until a sweep waits for it; `input.signal` stops it.
 */
export function denseLossAhead(input: DenseSweepInput & { intact: DenseIntact }): void {
  const { chain, siteLayer, intact } = input;
  if (!input.loss || !(siteLayer + 2 === chain.layers.length || hiddenLossFits(input))) return;
  const cache = lossCache(intact, siteLayer);
  const loss = lossInput(input, intact, cache);
  if (cache.ahead || !worthAThread(loss)) return;
  const pending = closedFormLossBeside(loss);
  // Computed here after all (no worker can start): the cache holds the sums already.
  if (pending.threads === 0) return;
  pending.unref();
  const ahead = (cache.ahead = pending);
  const done = () => {
    if (cache.ahead === ahead) cache.ahead = null;
  };
  void pending.wait().then(done);
  input.signal?.addEventListener(
    "abort",
    () => {
      pending.cancel();
      done();
    },
    { once: true },
  );
}

function lossCache(intact: DenseIntact, siteLayer: number): PairLossCache {
  let cache = intact.lossSums.get(siteLayer);
  if (!cache) intact.lossSums.set(siteLayer, (cache = { units: null, singles: null, pairs: null, candidates: null }));
  return cache;
}

function lossInput(input: DenseSweepInput, intact: DenseIntact, cache: PairLossCache): ClosedFormLossInput {
  const { chain, siteLayer } = input;
  const last = chain.layers.length - 1;
  const out = chain.layers[last];
  const next = chain.layers[siteLayer + 1];
  const hidden = siteLayer + 1 < last ? { next: intact.pre[siteLayer + 1], weight: next.weight, width: next.out } : undefined;
  return { cache, logits: intact.pre[last], values: intact.pre[siteLayer], weight: out.weight, hidden, labels: input.labels, predictions: hidden ? intact.predictions : undefined, conditions: input.conditions, k: out.out, units: chain.layers[siteLayer].out };
}

/**
 * Whether a sweep's loss is computed from cached values although its site does not feed the output layer
 * (hiddenLoss.ts): the site and the one hidden layer after it are ReLU layers, the output layer has 10 classes
 * (where the WebAssembly kernel runs), and the conditions are singles and a sweep of pairs (more pairs than units
 * among them). Elsewhere every row where a unit is active runs through onnxruntime (denseTail.ts).
 */
function hiddenLossFits(input: DenseSweepInput): boolean {
  const { chain, siteLayer, conditions } = input;
  const last = chain.layers.length - 1;
  if (siteLayer + 2 !== last || chain.layers[siteLayer].activation !== "relu" || chain.layers[siteLayer + 1].activation !== "relu") return false;
  if (!hiddenLossAvailable(chain.layers[last].out, chain.layers[siteLayer].out, chain.layers[siteLayer + 1].out)) return false;
  return conditions.every((c) => c.length === 1 || isPair(c)) && isPairSweep(conditions);
}

/**
 * Runs the singles a multi-unit sweep reuses (LayerBounds.singles) and records what its mode needs: with loss, each
 * row's loss and each unit's summed change of it; without, each row's gaps, which tighten the bound of the others
 * (not where the site feeds the output layer: the gains are exact there). Returns whether the singles can be reused
 * (not with loss where their losses would outgrow PAIR_BYTES).
 */
async function prepareSingles(input: DenseSweepInput, intact: DenseIntact, bounds: LayerBounds): Promise<boolean> {
  const { chain, siteLayer, conditions } = input;
  const last = chain.layers.length - 1;
  const k = chain.layers[last].out;
  const units = chain.layers[siteLayer].out;
  const n = intact.n;
  // Pairs listed already (by a hidden layer's loss kernel: withHiddenLoss) need no single gaps to list them.
  const listed = bounds.pairs;
  const pairsListed = listed?.rows != null && conditions.every((c) => c.length !== 2 || c.every((u) => listed.units[u] === 1));
  const record = input.loss ? (n * units * 8 <= PAIR_BYTES ? "losses" : null) : siteLayer + 1 < last && n * units * k * 4 <= PAIR_BYTES && !pairsListed ? "gaps" : "outcomes";
  if (record === null) return false;
  const done = record === "losses" ? bounds.lossUnits : record === "gaps" ? bounds.gapUnits : bounds.singles;
  const missing = [...new Set(conditions.flat())].filter((u) => !done.has(u));
  if (missing.length === 0) return true;
  if (record === "losses") bounds.singleLosses ??= new Float64Array(n * units).fill(NaN);
  if (record === "gaps") bounds.singleGaps ??= new Float32Array(n * units * k).fill(NaN);
  const alone = await denseSweep({
    ...input,
    intact,
    conditions: missing.map((u) => [u]),
    gaps: record === "gaps" ? bounds.singleGaps! : undefined,
    losses: record === "losses" ? bounds.singleLosses! : undefined,
    onProgress: undefined,
  });
  const values = intact.pre[siteLayer];
  missing.forEach((u, i) => {
    const { changed, changedPredictions } = alone.conditions[i];
    bounds.singles.set(u, new Map(Array.from(changed, (s, j) => [s, changedPredictions[j]])));
    if (record === "gaps") bounds.gapUnits.add(u);
    if (record === "losses") {
      bounds.lossUnits.add(u);
      bounds.singleLossSums ??= new Float64Array(units).fill(NaN);
      let sum = 0;
      for (let s = 0; s < n; s++) if (values[s * units + u] > 0) sum += bounds.singleLosses![s * units + u] - intact.loss[s];
      bounds.singleLossSums[u] = sum;
    }
  });
  if (record === "gaps") bounds.singleMargins = marginsOf(bounds.singleGaps!, n * units, k);
  return true;
}
