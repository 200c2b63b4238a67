/**
 * Lesion (ablation) studies. Method: Meyes et al. 2019, "Ablation Studies in Artificial Neural Networks"
 * (arXiv:1901.08644) ablate single units, all pairs and chosen groups of an MLP and read the per-class accuracy change;
 * Meyes et al. 2020 ablate populations; Morcos et al. 2018 ablate growing fractions of a layer.
 *
 * Choices where sources differ:
 * - "zero" forces a unit's output to 0 at the site (after its activation). For a Linear/Conv followed by ReLU this
 *   equals the papers' zeroing of the unit's incoming weights and bias; with batch norm between, only output ablation
 *   removes the unit, so lesion always ablates outputs.
 * - "mean" replaces the unit's output by its mean over the data set (for a conv channel: the mean over samples and
 *   positions), the usual "mean ablation".
 * - Redundancy of a pair (Meyes et al. 2019): samples the intact network gets right that are lost only when both units
 *   are ablated, and kept when either is ablated alone; per class as a fraction of the class's intact-correct samples,
 *   overall as those fractions weighted by class frequency.
 * - Every prediction equals a float64 forward pass (ties toward the lower class); see src/engine/sweep/sweep.ts and the
 *   paths it picks. The intact predictions are checked against a plain forward pass of the unmodified graph
 *   (src/engine/agreement.ts); a disagreement beyond a float32 near tie fails the run.
 */
import type { Dataset } from "../data/types.js";
import { fail, isLesionError, throwIfAborted } from "../errors.js";
import { checkBatchSize, checkData } from "../engine/forward.js";
import type { LesionModel } from "../engine/model.js";
import { pathOf, planSweep, sweep, sweepAhead, type SweepPath } from "../engine/sweep/sweep.js";
import { dataIdentity } from "../data/dataIdentity.js";
import { checkAgreement } from "../engine/agreement.js";
import { openResumeLog } from "../resumeLog.js";
import { checkConditions, conditionId, redundancySingles, type Condition } from "./conditions.js";
import { classNames } from "../engine/evaluate.js";
import { classCounts, type Matrix } from "../engine/metrics.js";
import { record } from "../engine/record.js";
import { float64MissingOps } from "../onnx/float64/evaluate64.js";
import { unresolvedTiesWarning } from "./tiesWarning.js";
import { fromLog, intactFromLog, stored, toLog, type LoggedOutcome, type StoredIntact, type StoredOutcome } from "./storedOutcome.js";

import type { AblateOptions, AblateResult, ConditionResult, Redundancy } from "./ablateResult.js";

export type { AblateOptions, AblateResult, ConditionResult, Redundancy } from "./ablateResult.js";

const INTACT_ID = "intact";
/**
 * Ablates each condition (a site, units, mode "zero" | "mean") and measures what the network loses (Meyes et al. 2019;
 * fractions of a layer as Morcos et al. 2018): per condition the accuracy and per-class accuracy (fractions 0..1),
 * `delta` = ablated − intact accuracy (a fraction, negative when the ablation hurts; percentage points only in rendered
 * text), the mean loss, the samples whose prediction changed, and for a pair its redundancy (samples lost only
 * jointly). Conditions run through the sweep engine (`sweep`), every prediction equal to a float64 forward pass; the
 * intact predictions are checked against a plain forward pass. With `resumeLog`, finished conditions are appended there
 * and a rerun continues where a killed one stopped (the log is removed when the run completes).
 * @throws LesionError `bad-units` (no conditions, or malformed ones: see checkConditions); `bad-option` (a `batchSize`
 * below 1, a mode other than zero or mean, a mean ablation of units whose data mean is not finite); `unknown-site`;
 * `unit-out-of-range`; `shape-mismatch` (images of another shape than the model takes), `bad-data` (an image folder not
 * matched to the model's classes), `label-out-of-range` (a label beyond the model's classes); `resume-mismatch` (a
 * resume log of another run); `unwritable-path` (the resume log); `unsupported-op` (a graph after the site that cannot
 * be cut and cached); `bad-model` (a graph onnxruntime cannot run); `engine-disagreement` (a bug: the intact
 * predictions differ from a plain forward pass); `aborted` (options.signal; the resume log keeps the blocks of
 * conditions that were finished).
 */
export async function ablate(model: LesionModel, data: Dataset, options: AblateOptions): Promise<AblateResult> {
  const started = performance.now();
  checkData(model, data);
  checkBatchSize(options.batchSize);
  const conditions = options.conditions;
  const sites = checkConditions(model, conditions);
  const loss = options.loss ?? true;
  // Redundancy needs both singles of every pair; run the missing ones too, without reporting them.
  const needed = new Map(conditions.map((c) => [c.id, c]));
  for (const single of redundancySingles(conditions)) needed.set(single.id, single);
  const store = options.resumeLog
    ? openResumeLog<LoggedOutcome | StoredIntact>(options.resumeLog, { model: model.sha256, data: dataIdentity(data).spec, n: data.n, dataSha256: dataIdentity(data).sha256, loss })
    : null;
  const outcomes = new Map<string, StoredOutcome>();
  // A damaged record is computed again (its new record, appended later, is the one a later resume reads); a damaged
  // intact network takes every condition with it, as they are checked against it.
  const k = model.numClasses;
  let intact = store ? intactFromLog(store.done.get(INTACT_ID) as StoredIntact | undefined, data.n, k) : null;
  if (store && intact) {
    const check = { labels: data.labels, k, loss, intactPredictions: Int32Array.from(intact.predictions), intactCorrect: intact.correctPerClass };
    for (const [id, record] of store.done) {
      if (id === INTACT_ID) continue;
      const outcome = fromLog(record as LoggedOutcome, check);
      if (outcome) outcomes.set(id, outcome);
    }
  }
  const engine: Record<string, SweepPath> = {};
  const meansBySite: Record<string, number[]> = {};
  let unresolvedTies = 0;
  const total = needed.size;
  let done = [...needed.keys()].filter((id) => outcomes.has(id)).length;
  // Each count once per site (the sweep's last event and the block's end name the same count; the next site starts at it).
  let reported = "";
  const progress = (count: number, siteName: string) => {
    if (`${siteName} ${count}` === reported) return;
    reported = `${siteName} ${count}`;
    options.onProgress?.({ phase: "ablate", done: count, total, detail: siteName });
  };

  // Said once, before any work: a rerun that picks up a killed run's conditions (the CLI prints it as a line).
  if (done > 0) options.onProgress?.({ phase: "resume", done, total, detail: options.resumeLog });
  // Per site, the conditions the resume log does not hold yet.
  const todos = new Map([...sites.keys()].map((siteName) => [siteName, [...needed.values()].filter((c) => c.site === siteName && !outcomes.has(c.id))]));
  // What a later site can compute in the background (a dense site's closed-form pair losses) starts before the first
  // site's sweep (the first site's own starts with its sweep, sharing this thread when it waits).
  const later = [...sites].filter(([siteName]) => todos.get(siteName)!.length > 0).slice(1);
  for (const [siteName, site] of later) await sweepAhead({ model, site, data, conditions: todos.get(siteName)!.map((c) => ({ units: c.units, mode: c.mode })), loss, signal: options.signal });
  // An abort says how much the resume log kept: a block of conditions is kept only once it finished.
  try {
    for (const [siteName, site] of sites) {
      const todo = todos.get(siteName)!;
      const plan = await planSweep(model, site, todo);
      // The engine its conditions ran on: a site whose every condition ran masked (mean ablations) says so.
      engine[siteName] = [...needed.values()].some((c) => c.site === siteName && pathOf(plan.engine, c) === plan.engine) ? plan.engine : "masked";
      // Taken also where every mean condition came from the resume log: the result states the values used.
      const means = [...needed.values()].some((c) => c.site === siteName && c.mode === "mean") ? await siteMeans(model, data, siteName, options) : undefined;
      if (means) {
        // A mean that is not finite (non-finite weights upstream) would replace the unit by NaN: a condition then equal
        // to the intact network, without a word.
        const unitsAtMean = [...needed.values()].filter((c) => c.site === siteName && c.mode === "mean").flatMap((c) => c.units);
        const bad = [...new Set(unitsAtMean)].filter((u) => !Number.isFinite(means[u])).sort((a, b) => a - b);
        if (bad.length > 0) fail("bad-option", `mean ablation of ${siteName}:${bad.join(",")} needs their mean over the data, which is not finite (the model's non-finite weights reach them); ablate them with mode zero`, { options: ["mode"], value: "mean" });
        meansBySite[siteName] = Array.from(means);
      }
      if (todo.length === 0) continue;
      progress(done, siteName); // before the first block: its count can be minutes away (a wide layer's pair losses)
      // Blocks are the unit of resuming: each finished block is appended to the resume log.
      for (const block of plan.blocks) {
        throwIfAborted(options.signal);
        const part = block.map((i) => todo[i]);
        const result = await sweep({
          model,
          site,
          data,
          conditions: part.map((c) => ({ units: c.units, mode: c.mode })),
          loss,
          means,
          signal: options.signal,
          onProgress: (d) => progress(done + d, siteName),
        });
        unresolvedTies += result.stats.unresolvedTies;
        const records: Array<LoggedOutcome | StoredIntact> = [];
        if (!intact) {
          intact = { id: INTACT_ID, predictions: Array.from(result.intact.predictions), correctPerClass: result.intact.correctPerClass, lossSum: result.intact.lossSum };
          records.push(intact);
        }
        part.forEach((c, i) => {
          const outcome = stored(c.id, result.conditions[i], loss);
          outcomes.set(c.id, outcome);
          if (store) records.push(toLog(outcome));
        });
        store?.append(records);
        done += part.length;
        progress(done, siteName);
      }
    }
  } catch (error) {
    if (store && isLesionError(error) && error.code === "aborted") fail("aborted", "run aborted", { kept: done, of: total, helpers: total - new Set(conditions.map((c) => c.id)).size });
    throw error;
  }
  // Set by the first block where the log held none: without it no condition was taken from the log.
  const result = assemble(model, data, conditions, outcomes, intact!, loss, options.confusion ?? false);
  // Before the resume log goes: a disagreement leaves the run where it was.
  const agreement = await checkAgreement(model, data, result.predictions, options);
  if (!options.keepResumeLog) store?.remove();
  const warnings = [...model.warnings, ...(unresolvedTies > 0 ? [unresolvedTiesWarning(unresolvedTies, float64MissingOps(model.proto, [model.outputName]))] : [])];
  return { ...result, ...(Object.keys(meansBySite).length > 0 ? { means: meansBySite } : {}), agreement, unresolvedTies, engine, warnings, elapsedSeconds: (performance.now() - started) / 1000 };
}

async function siteMeans(model: LesionModel, data: Dataset, site: string, options: AblateOptions): Promise<Float64Array> {
  const recording = await record(model, data, { sites: [site], batchSize: options.batchSize, signal: options.signal });
  return Float64Array.from(recording.sites[0].mean);
}

function assemble(
  model: LesionModel,
  data: Dataset,
  conditions: Condition[],
  outcomes: Map<string, StoredOutcome>,
  intact: StoredIntact,
  loss: boolean,
  withConfusion: boolean,
): Omit<AblateResult, "agreement" | "unresolvedTies" | "engine" | "warnings" | "elapsedSeconds"> {
  // Plain loops, and the loops over each condition's changed samples in small functions of their own: this runs once
  // per process over thousands of conditions, and a small function called thousands of times is optimised early.
  const k = model.numClasses;
  const n = data.n;
  const counts = classCounts(data.labels, k);
  const labels = data.labels;
  const intactCorrect = intact.correctPerClass;
  const intactTotal = sum(intactCorrect);
  const intactPredictions = Int32Array.from(intact.predictions);
  // A unit's single is in thousands of pairs: its lost samples are built once, as a bit set over the samples.
  const singleLost = new Map<string, Uint32Array>();
  const lostAlone = (pair: Condition, unit: number) => {
    const id = conditionId(pair.site, [unit], pair.mode);
    let bits = singleLost.get(id);
    if (!bits) {
      singleLost.set(id, (bits = new Uint32Array(Math.ceil(n / 32))));
      const changed = outcomes.get(id)!.changed;
      for (let i = 0; i < changed.length; i++) {
        const s = changed[i];
        if (intactPredictions[s] === labels[s]) bits[s >>> 5] |= 1 << (s & 31);
      }
    }
    return bits;
  };
  const intactConfusion = new Float64Array(k * k);
  for (let s = 0; s < n; s++) intactConfusion[labels[s] * k + intactPredictions[s]]++;

  const results = new Array<ConditionResult>(conditions.length);
  const changes = new Array<{ samples: Int32Array; predictions: Int32Array }>(conditions.length);
  const joint = new Float64Array(k);
  for (let x = 0; x < conditions.length; x++) {
    const c = conditions[x];
    const o = outcomes.get(c.id)!;
    const changed = o.changed;
    const predicted = o.changedPredictions;
    // The sweep's own arrays, not copies (no one writes into them).
    changes[x] = { samples: changed, predictions: predicted };
    const lost = lostCount(changed, intactPredictions, labels);
    const gained = gainedCount(changed, predicted, intactPredictions, labels);
    const correct = o.correctPerClass;
    const perClass = new Array<number | null>(k);
    const deltaPerClass = new Array<number | null>(k);
    for (let j = 0; j < k; j++) {
      perClass[j] = counts[j] === 0 ? null : correct[j] / counts[j];
      // Differences of counts over the count (−9/10000 is −0.0009, not 0.9713 − 0.9722 = −0.0009000000000000119).
      deltaPerClass[j] = counts[j] === 0 ? null : (correct[j] - intactCorrect[j]) / counts[j];
    }
    let redundancy: Redundancy | null = null;
    if (c.units.length === 2 && c.label === null) {
      const a = lostAlone(c, c.units[0]);
      const b = lostAlone(c, c.units[1]);
      jointLost(joint, changed, intactPredictions, labels, a, b);
      const perClassRedundancy = new Array<number | null>(k);
      let overall = 0;
      for (let j = 0; j < k; j++) {
        const fraction = intactCorrect[j] === 0 ? null : joint[j] / intactCorrect[j];
        perClassRedundancy[j] = fraction;
        overall += (fraction ?? 0) * (counts[j] / n);
      }
      redundancy = { overall, perClass: perClassRedundancy };
    }
    let confusion: Matrix | null = null;
    if (withConfusion) {
      const matrix = Float64Array.from(intactConfusion);
      for (let i = 0; i < changed.length; i++) {
        const s = changed[i];
        matrix[labels[s] * k + intactPredictions[s]]--;
        matrix[labels[s] * k + predicted[i]]++;
      }
      confusion = { data: Array.from(matrix), shape: [k, k] };
    }
    const total = sum(correct);
    results[x] = {
      id: c.id,
      site: c.site,
      units: c.units,
      mode: c.mode,
      label: c.label,
      ...(c.cumulative ? { cumulative: c.cumulative } : {}),
      accuracy: total / n,
      perClass,
      delta: (total - intactTotal) / n,
      deltaPerClass,
      lost,
      gained,
      // The stored sum has 9 significant digits (resumeLog): so has its mean.
      loss: loss && o.lossSum !== null ? Number((o.lossSum / n).toPrecision(9)) : null,
      redundancy,
      confusion,
    };
  }
  return {
    model: model.name,
    modelSha256: model.sha256,
    data: data.spec,
    n,
    classNames: classNames(model, data),
    classCounts: counts,
    baseline: { accuracy: intactTotal / n, perClass: counts.map((count, j) => (count === 0 ? null : intactCorrect[j] / count)), loss: intact.lossSum / n },
    conditions: results,
    changes,
    predictions: intactPredictions,
    labels,
  };
}

/** Of the changed samples, those the intact network gets right. */
function lostCount(changed: Int32Array, intactPredictions: Int32Array, labels: Int32Array): number {
  let lost = 0;
  for (let i = 0; i < changed.length; i++) {
    const s = changed[i];
    if (intactPredictions[s] === labels[s]) lost++;
  }
  return lost;
}

/** Of the changed samples, those the intact network gets wrong and the condition right. */
function gainedCount(changed: Int32Array, predicted: Int32Array, intactPredictions: Int32Array, labels: Int32Array): number {
  let gained = 0;
  for (let i = 0; i < changed.length; i++) {
    const s = changed[i];
    if (intactPredictions[s] !== labels[s] && predicted[i] === labels[s]) gained++;
  }
  return gained;
}

/** Per class into `joint`: the pair's lost samples that neither single (bit sets `a`, `b`) loses. */
function jointLost(joint: Float64Array, changed: Int32Array, intactPredictions: Int32Array, labels: Int32Array, a: Uint32Array, b: Uint32Array): void {
  joint.fill(0);
  for (let i = 0; i < changed.length; i++) {
    const s = changed[i];
    if (intactPredictions[s] === labels[s] && ((a[s >>> 5] | b[s >>> 5]) & (1 << (s & 31))) === 0) joint[labels[s]]++;
  }
}

function sum(values: number[]): number {
  let total = 0;
  for (let i = 0; i < values.length; i++) total += values[i];
  return total;
}
