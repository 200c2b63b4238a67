/**
 * Lesion (ablation) studies. Method: Meyes et al. 2019, "Ablation Studies in Artificial Neural Networks"
 * (arXiv:1901.08644) ablate single units, all pairs and chosen groups of an MLP and read the per-class accuracy
 * change; Meyes et al. 2020 ablate populations; Morcos et al. 2018 ablate growing fractions of a layer.
 *
 * Choices where sources differ:
 * - "zero" forces a unit's output to 0 at the site (after its activation). For a Linear/Conv followed by ReLU this
 *   equals the papers' zeroing of the unit's incoming weights and bias; with batch norm between, only output
 *   ablation removes the unit, so lesion always ablates outputs.
 * - "mean" replaces the unit's output by its mean over the data set (for a conv channel: the mean over samples and
 *   positions), the usual "mean ablation".
 * - Redundancy of a pair (Meyes et al. 2019): samples the intact network gets right that are lost only when both
 *   units are ablated, and kept when either is ablated alone; per class as a fraction of the class's intact-correct
 *   samples, overall as those fractions weighted by class frequency.
 * - Every prediction equals a float64 forward pass (ties toward the lower class); see src/engine/sweep/sweep.ts and the
 *   paths it picks. The intact predictions are checked against a plain forward pass of the
 *   unmodified graph (src/engine/agreement.ts); a disagreement beyond a float32 near tie fails the run.
 */
import type { Dataset } from "../data/types.js";
import { fail, throwIfAborted } from "../errors.js";
import { checkData } from "../engine/forward.js";
import { checkUnits, resolveSite, type LesionModel, type Site } from "../engine/model.js";
import { planSweep, sweep, sweepAhead, type SweepPath } from "../engine/sweep/sweep.js";
import type { SweepOutcome } from "../engine/sweep/types.js";
import { dataIdentity } from "../data/dataIdentity.js";
import { checkAgreement, type Agreement } from "../engine/agreement.js";
import { openResumeLog } from "../resumeLog.js";
import { condition as makeCondition, type Condition } from "./conditions.js";
import { classNames } from "../engine/evaluate.js";
import { classCounts, type Matrix } from "../engine/metrics.js";
import type { Progress } from "../progress.js";
import { record } from "../engine/record.js";

export interface AblateOptions {
  /** What to knock out: build with singles, pairs, groups or fractions. */
  conditions: Condition[];
  /** Compute each condition's mean loss. Default true (false lets pair sweeps skip rows that cannot flip). */
  loss?: boolean;
  /** Include each condition's confusion matrix. Default false. */
  confusion?: boolean;
  /** Path of the resume log: finished conditions are appended there and a rerun resumes from it. Default: none. */
  resumeLog?: string;
  /** Samples per onnxruntime run where the whole graph runs. Default 1024. */
  batchSize?: number;
  onProgress?: (event: Progress) => void;
  signal?: AbortSignal;
}

export interface Redundancy {
  /** Class-frequency-weighted mean of the per-class fractions. */
  overall: number;
  /** Per class: fraction of the class's intact-correct samples lost only jointly; null for a class with none. */
  perClass: Array<number | null>;
}

export interface ConditionResult {
  id: string;
  site: string;
  units: number[];
  mode: "zero" | "mean";
  label: string | null;
  accuracy: number;
  perClass: Array<number | null>;
  /** Signed change from the intact network: negative is a loss, positive a gain. */
  delta: number;
  deltaPerClass: Array<number | null>;
  /** Samples the intact network gets right and this condition gets wrong, and the reverse. */
  lost: number;
  gained: number;
  /** Mean cross-entropy, or null when loss was not asked for. */
  loss: number | null;
  /** For pairs: samples lost only jointly. Null for other conditions. */
  redundancy: Redundancy | null;
  confusion: Matrix | null;
}

export interface AblateResult {
  model: string;
  modelSha256: string;
  data: string;
  n: number;
  classNames: string[];
  classCounts: number[];
  baseline: { accuracy: number; perClass: Array<number | null>; loss: number };
  conditions: ConditionResult[];
  /** Per condition (same order), the samples whose prediction changed and their new predictions. */
  changes: Array<{ samples: Int32Array; predictions: Int32Array }>;
  /** Intact predictions, float64-exact. */
  predictions: Int32Array;
  /** The intact predictions checked against a plain forward pass of the unmodified graph (see agreement.ts). */
  agreement: Agreement;
  /** Near ties that could not be settled in float64 (an op without a float64 kernel in onnxruntime or lesion); 0 means every prediction is exact. */
  unresolvedTies: number;
  /**
   * Per site: "dense" where the site is a layer of a dense chain (its zero ablations of up to DENSE_UNITS units run
   * on the dense engine; others on the general one), "conv" where its next Conv or Gemm takes a zero ablation of up to
   * 8 channels as a delta (src/engine/sweep/convSweep.ts; others on the general one), "masked" otherwise.
   */
  engine: Record<string, SweepPath>;
  /**
   * Problems in the model worth a user's attention that do not stop the run, as `evaluate` reports them: non-finite
   * (NaN or infinite) weights. A zero-ablated unit is exactly 0 even then; a model with non-finite weights runs on the
   * general engine (`engine` says "masked").
   */
  warnings: string[];
  elapsedSeconds: number;
}

interface StoredOutcome {
  id: string;
  correctPerClass: number[];
  changed: number[];
  changedPredictions: number[];
  lossSum: number | null;
}

interface StoredIntact {
  id: string;
  predictions: number[];
  correctPerClass: number[];
  lossSum: number;
}

const INTACT_ID = "intact";
/**
 * Ablates each condition (a site, units, mode "zero" | "mean") and measures what the network loses (Meyes et al. 2019;
 * fractions of a layer as Morcos et al. 2018): per condition the accuracy and per-class accuracy (fractions 0..1),
 * `delta` = ablated − intact accuracy (a fraction, negative when the ablation hurts; percentage points only in rendered
 * text), the mean loss, the samples whose prediction changed, and for a pair its redundancy (samples lost only
 * jointly). Conditions run through the sweep engine (`sweep`), every prediction equal to a float64 forward pass; the
 * intact predictions are checked against a plain forward pass. With `resumeLog`, finished conditions are appended there
 * and a rerun continues where a killed one stopped (the log is removed when the run completes).
 * @throws LesionError `bad-units` (no conditions); `unknown-site`; `unit-out-of-range`; `shape-mismatch` (images of
 * another shape than the model takes), `bad-data` (an image folder not matched to the model's classes),
 * `label-out-of-range` (a label beyond the model's classes); `resume-mismatch` (a resume log of another run);
 * `unwritable-path` (the resume log); `unsupported-op` (a graph after the site that cannot be cut and cached);
 * `bad-model` (a graph onnxruntime cannot run); `engine-disagreement` (a bug: the intact predictions differ from a
 * plain forward pass); `aborted` (options.signal; the resume log keeps what was finished).
 */
export async function ablate(model: LesionModel, data: Dataset, options: AblateOptions): Promise<AblateResult> {
  const started = performance.now();
  checkData(model, data);
  const conditions = options.conditions;
  if (conditions.length === 0) fail("bad-units", "no conditions to ablate");
  const sites = new Map<string, Site>();
  for (const c of conditions) {
    const site = sites.get(c.site) ?? resolveSite(model, c.site);
    checkUnits(site, c.units);
    sites.set(c.site, site);
  }
  const loss = options.loss ?? true;
  // Redundancy needs both singles of every pair; run the missing ones too, without reporting them.
  const needed = new Map(conditions.map((c) => [c.id, c]));
  for (const c of conditions) {
    if (c.units.length !== 2 || c.label !== null) continue;
    for (const u of c.units) {
      const single = makeCondition(sites.get(c.site)!, [u], c.mode);
      if (!needed.has(single.id)) needed.set(single.id, single);
    }
  }
  const store = options.resumeLog
    ? openResumeLog<StoredOutcome | StoredIntact>(options.resumeLog, { model: model.sha256, data: data.spec, n: data.n, dataSha256: dataIdentity(data).sha256, loss })
    : null;
  const outcomes = new Map<string, StoredOutcome>();
  let intact = (store?.done.get(INTACT_ID) as StoredIntact | undefined) ?? null;
  for (const [id, record] of store?.done ?? []) if (id !== INTACT_ID) outcomes.set(id, record as StoredOutcome);
  const engine: Record<string, SweepPath> = {};
  let unresolvedTies = 0;
  const total = needed.size;
  let done = [...needed.keys()].filter((id) => outcomes.has(id)).length;

  // Per site, the conditions the resume log does not hold yet.
  const todos = new Map([...sites.keys()].map((siteName) => [siteName, [...needed.values()].filter((c) => c.site === siteName && !outcomes.has(c.id))]));
  // What a later site can compute in the background (a dense site's closed-form pair losses) starts before the first
  // site's sweep (the first site's own starts with its sweep, sharing this thread when it waits).
  const later = [...sites].filter(([siteName]) => todos.get(siteName)!.length > 0).slice(1);
  for (const [siteName, site] of later) await sweepAhead({ model, site, data, conditions: todos.get(siteName)!.map((c) => ({ units: c.units, mode: c.mode })), loss, signal: options.signal });
  for (const [siteName, site] of sites) {
    const todo = todos.get(siteName)!;
    const plan = await planSweep(model, site, todo);
    engine[siteName] = plan.engine;
    if (todo.length === 0) continue;
    const means = todo.some((c) => c.mode === "mean") ? await siteMeans(model, data, siteName, options) : undefined;
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
        onProgress: (d) => options.onProgress?.({ phase: "ablate", done: done + d, total, detail: siteName }),
      });
      unresolvedTies += result.stats.unresolvedTies;
      const records: Array<StoredOutcome | StoredIntact> = [];
      if (!intact) {
        intact = { id: INTACT_ID, predictions: Array.from(result.intact.predictions), correctPerClass: result.intact.correctPerClass, lossSum: result.intact.lossSum };
        records.push(intact);
      }
      part.forEach((c, i) => {
        const outcome = stored(c.id, result.conditions[i], loss);
        outcomes.set(c.id, outcome);
        records.push(outcome);
      });
      store?.append(records);
      done += part.length;
      options.onProgress?.({ phase: "ablate", done, total, detail: siteName });
    }
  }
  if (!intact) fail("resume-mismatch", `the resume log ${options.resumeLog} has conditions but no intact network; remove it and run again`, { path: options.resumeLog ?? "" });
  const result = assemble(model, data, conditions, outcomes, intact, loss, options.confusion ?? false);
  // Before the resume log goes: a disagreement leaves the run where it was.
  const agreement = await checkAgreement(model, data, result.predictions, options);
  store?.remove();
  return { ...result, agreement, unresolvedTies, engine, warnings: [...model.warnings], elapsedSeconds: (performance.now() - started) / 1000 };
}

function stored(id: string, outcome: SweepOutcome, loss: boolean): StoredOutcome {
  return {
    id,
    correctPerClass: outcome.correctPerClass,
    changed: toArray(outcome.changed),
    changedPredictions: toArray(outcome.changedPredictions),
    // Rounded to float32-level precision, so a resumed run (other batch boundaries) writes the same bytes.
    lossSum: loss && outcome.lossSum !== null ? Number(outcome.lossSum.toPrecision(9)) : null,
  };
}

/** A plain array of the values (for the resume log's JSON), by index: Array.from's iterator allocates per element. */
function toArray(values: Int32Array): number[] {
  const array = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) array[i] = values[i];
  return array;
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
  const k = model.numClasses;
  const counts = classCounts(data.labels, k);
  const fractionOf = (correct: number[]) => correct.map((c, i) => (counts[i] === 0 ? null : c / counts[i]));
  const total = (correct: number[]) => correct.reduce((a, b) => a + b, 0);
  const accuracyOf = (correct: number[]) => total(correct) / data.n;
  const baselinePerClass = fractionOf(intact.correctPerClass);
  const baselineAccuracy = accuracyOf(intact.correctPerClass);
  const labels = data.labels;
  const intactPredictions = Int32Array.from(intact.predictions);
  // A unit's single is in thousands of pairs: its lost samples are built once, as a bit set over the samples.
  const singleLost = new Map<string, Uint32Array>();
  const lostAlone = (id: string) => {
    let bits = singleLost.get(id);
    if (!bits) {
      singleLost.set(id, (bits = new Uint32Array(Math.ceil(data.n / 32))));
      for (const s of outcomes.get(id)!.changed) if (intactPredictions[s] === labels[s]) bits[s >>> 5] |= 1 << (s & 31);
    }
    return bits;
  };
  const intactConfusion = new Float64Array(k * k);
  for (let s = 0; s < data.n; s++) intactConfusion[labels[s] * k + intactPredictions[s]]++;

  const results = conditions.map((c): ConditionResult => {
    const o = outcomes.get(c.id)!;
    let lost = 0;
    let gained = 0;
    for (let i = 0; i < o.changed.length; i++) {
      const s = o.changed[i];
      if (intactPredictions[s] === labels[s]) lost++;
      else if (o.changedPredictions[i] === labels[s]) gained++;
    }
    const perClass = fractionOf(o.correctPerClass);
    let redundancy: Redundancy | null = null;
    if (c.units.length === 2 && c.label === null) {
      const [a, b] = c.units.map((u) => lostAlone(makeConditionId(c, u)));
      const joint = new Array<number>(k).fill(0);
      for (let x = 0; x < o.changed.length; x++) {
        const s = o.changed[x];
        if (intactPredictions[s] === labels[s] && ((a[s >>> 5] | b[s >>> 5]) & (1 << (s & 31))) === 0) joint[labels[s]]++;
      }
      const perClassRedundancy = joint.map((j, cls) => (intact.correctPerClass[cls] === 0 ? null : j / intact.correctPerClass[cls]));
      const overall = perClassRedundancy.reduce<number>((sum, f, cls) => sum + (f ?? 0) * (counts[cls] / data.n), 0);
      redundancy = { overall, perClass: perClassRedundancy };
    }
    let confusion: Matrix | null = null;
    if (withConfusion) {
      const matrix = Float64Array.from(intactConfusion);
      o.changed.forEach((s, i) => {
        matrix[labels[s] * k + intactPredictions[s]]--;
        matrix[labels[s] * k + o.changedPredictions[i]]++;
      });
      confusion = { data: Array.from(matrix), shape: [k, k] };
    }
    const accuracy = accuracyOf(o.correctPerClass);
    return {
      id: c.id,
      site: c.site,
      units: c.units,
      mode: c.mode,
      label: c.label,
      accuracy,
      perClass,
      // Differences of counts over the count (−9/10000 is −0.0009, not 0.9713 − 0.9722 = −0.0009000000000000119).
      delta: (total(o.correctPerClass) - total(intact.correctPerClass)) / data.n,
      deltaPerClass: o.correctPerClass.map((c, i) => (counts[i] === 0 ? null : (c - intact.correctPerClass[i]) / counts[i])),
      lost,
      gained,
      // The stored sum has 9 significant digits (resumeLog): so has its mean.
      loss: loss && o.lossSum !== null ? Number((o.lossSum / data.n).toPrecision(9)) : null,
      redundancy,
      confusion,
    };
  });
  return {
    model: model.name,
    modelSha256: model.sha256,
    data: data.spec,
    n: data.n,
    classNames: classNames(model, data),
    classCounts: counts,
    baseline: { accuracy: baselineAccuracy, perClass: baselinePerClass, loss: intact.lossSum / data.n },
    conditions: results,
    changes: conditions.map((c) => {
      const o = outcomes.get(c.id)!;
      return { samples: Int32Array.from(o.changed), predictions: Int32Array.from(o.changedPredictions) };
    }),
    predictions: intactPredictions,
  };
}

function makeConditionId(pair: Condition, unit: number): string {
  return `${pair.site}/${pair.mode}/${unit}`;
}
