/**
 * The stimulus map (Meyes et al. 2020 show ablation outcomes on an embedding of the test images): a seeded sample of
 * the data set's images, reduced by PCA to 30 dimensions, then embedded in 2-D by t-SNE (druidjs). Exact t-SNE is
 * quadratic in the number of points, so the map holds a sample (2,000 images by default, drawn without replacement
 * with a fixed seed); it is computed once per data set and options and cached. `sampleOutcomes` colours it by what an
 * ablation did to each image.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { TSNE } from "@saehrimnir/druidjs";
import { EVD, Matrix as DenseMatrix } from "ml-matrix";
import { checkCacheDir, defaultCacheDir } from "../data/cacheDir.js";
import { yieldThenCheck } from "../errors.js";
import type { Progress } from "../progress.js";
import type { Dataset } from "../data/types.js";
import { writeFileAtomic } from "../files.js";
import type { AblateResult } from "./ablate.js";
import type { Matrix } from "../engine/metrics.js";
import { seeded, shuffle } from "../random.js";

/** Options of `stimulusMap`: they and the data's content key its cache. */
export interface StimulusMapOptions {
  /** Images on the map. Default 2000 (all when the data set has fewer). */
  samples?: number;
  /** PCA dimensions before t-SNE. Default 30. */
  components?: number;
  /** t-SNE perplexity. Default 30 (at most a third of the samples). */
  perplexity?: number;
  /** t-SNE iterations. Default 500. */
  iterations?: number;
  /** Seed of the sample drawn and of the t-SNE. Default 0. */
  seed?: number;
  /** Where maps are cached. Default: the user cache directory (see loadDataset). */
  cacheDir?: string;
}

/** A 2-D map of a sample of the data set's images (t-SNE of their top principal components). */
export interface StimulusMap {
  /** The data's normalised spec. */
  data: string;
  /** Indices into the data set of the mapped images, ascending. */
  samples: number[];
  /** [samples, 2]. */
  coordinates: Matrix;
  /** The mapped images' labels, beside `samples`. */
  labels: number[];
  /** The settings used, after clamping (samples ≤ n, components ≤ pixels and samples, perplexity in 2..(samples − 1)/3). */
  options: Required<Omit<StimulusMapOptions, "cacheDir">>;
}

/** Where the map of `data` with these options is cached, and its settings. */
function cachePath(data: Dataset, options: StimulusMapOptions) {
  const m = Math.min(options.samples ?? 2000, data.n);
  const settings = {
    samples: m,
    components: Math.min(options.components ?? 30, data.shape[0] * data.shape[1] * data.shape[2], m),
    perplexity: Math.max(2, Math.min(options.perplexity ?? 30, Math.floor((m - 1) / 3))),
    iterations: options.iterations ?? 500,
    seed: options.seed ?? 0,
  };
  // Keyed by content, not by spec: a changed file or limit gives a new map.
  const key = createHash("sha256")
    .update(JSON.stringify(settings))
    .update(new Uint8Array(data.images.buffer, data.images.byteOffset, data.images.byteLength))
    .update(new Uint8Array(data.labels.buffer, data.labels.byteOffset, data.labels.byteLength))
    .digest("hex");
  return { m, settings, path: join(options.cacheDir ?? join(defaultCacheDir(), "stimulus-maps"), `${key}.json`) };
}

/**
 * Checks before a run that computes the map that it can be cached: a cached map needs nothing; otherwise the cache
 * directory must be writable (`unwritable-path`, see checkCacheDir), so the t-SNE is never computed and then lost.
 */
export function checkStimulusMapCache(data: Dataset, options: StimulusMapOptions = {}): void {
  const { m, path } = cachePath(data, options);
  if (!readCached(path, m, data.n)) checkCacheDir(dirname(path));
}

/**
 * The map cached at `path`, or null where there is none or it is not a whole map of m samples of n (a file cut short or
 * edited: a trial's damaged cache file failed every later run that needed the map with an internal error, until
 * deleted by hand). Such a file is a miss: the map is computed again and the file replaced.
 */
function readCached(path: string, m: number, n: number): StimulusMap | null {
  if (!existsSync(path)) return null;
  let cached: StimulusMap;
  try {
    cached = JSON.parse(readFileSync(path, "utf8")) as StimulusMap;
  } catch {
    return null;
  }
  const whole = (values: unknown, length: number, ok: (v: unknown) => boolean) => Array.isArray(values) && values.length === length && values.every(ok);
  const sample = (v: unknown) => Number.isInteger(v) && (v as number) >= 0 && (v as number) < n;
  const finite = (v: unknown) => typeof v === "number" && Number.isFinite(v);
  const good =
    cached !== null &&
    typeof cached === "object" &&
    whole(cached.samples, m, sample) &&
    whole(cached.labels, m, (v) => Number.isInteger(v)) &&
    whole(cached.coordinates?.data, 2 * m, finite) &&
    cached.coordinates.shape?.[0] === m &&
    cached.coordinates.shape?.[1] === 2;
  return good ? cached : null;
}

/** How a computed map reports and stops (not part of the map's settings or its cache key). */
export interface StimulusMapRun {
  /** `{phase: "stimulus map", done, total}` in t-SNE iterations: 0 first, then every 10; none for a cached map. */
  onProgress?: (event: Progress) => void;
  signal?: AbortSignal;
}

/**
 * The stimulus map of `data` (Meyes et al. 2020; method in the module comment): a seeded sample of images embedded in
 * 2-D ([m, 2] coordinates with their sample indices), read from the cache when it holds one for the same data and
 * options, else computed and cached.
 * @throws LesionError `unwritable-path` (the cache directory cannot be written); `aborted` (run.signal).
 */
export async function stimulusMap(data: Dataset, options: StimulusMapOptions = {}, run: StimulusMapRun = {}): Promise<StimulusMap> {
  const { m, settings, path } = cachePath(data, options);
  const cached = readCached(path, m, data.n);
  if (cached) return { ...cached, data: data.spec };
  checkCacheDir(dirname(path));
  const samples = shuffle(Array.from({ length: data.n }, (_, i) => i), seeded(settings.seed)).slice(0, m).sort((a, b) => a - b);
  // The PCA and the t-SNE's affinities (seconds, before its first iteration) show as the phase at 0.
  run.onProgress?.({ phase: "stimulus map", done: 0, total: settings.iterations });
  const reduced = principalComponents(data, samples, settings.components);
  // Between the PCA and the t-SNE's affinities (each seconds without a pause): an interrupt in the first stops here.
  await yieldThenCheck(run.signal);
  const embedded = await embed(reduced, settings, run);
  const map: StimulusMap = {
    data: data.spec,
    samples,
    coordinates: { data: embedded.flatMap((p) => [p[0], p[1]]), shape: [m, 2] },
    labels: samples.map((s) => data.labels[s]),
    options: settings,
  };
  writeFileAtomic(path, JSON.stringify(map));
  return map;
}

/**
 * The t-SNE, iteration by iteration: every 10 (~0.5 s for 2,000 images here) it reports and yields to the event loop,
 * so an interrupt (Ctrl-C sets the signal from a handler that needs the loop) stops it there. The 24 s of a first
 * map had shown no progress and could not be stopped (a trial).
 */
async function embed(reduced: number[][], settings: { perplexity: number; seed: number; iterations: number }, run: StimulusMapRun): Promise<number[][]> {
  const steps = new TSNE(reduced, { perplexity: settings.perplexity, d: 2, seed: settings.seed }).generator(settings.iterations);
  let projection: number[][] = [];
  let done = 0;
  // for…of returns the generator when the body throws (an abort), which releases the t-SNE's buffers.
  for (const current of steps) {
    projection = current as number[][];
    done++;
    if (done % 10 === 0 || done === settings.iterations) {
      run.onProgress?.({ phase: "stimulus map", done, total: settings.iterations });
      await yieldThenCheck(run.signal);
    }
  }
  return projection;
}

/**
 * Rows of the sampled images projected on their top principal components. With more samples than pixels, from the
 * d×d covariance's symmetric EVD; with fewer (CIFAR-10's 3,072 pixels, 1,000 images), from the m×m Gram matrix's: for
 * centred X = U·Σ·Vᵀ both give the scores X·v_c = u_c·σ_c, up to each component's sign (which t-SNE, a function of
 * distances, does not see), at O(m³) instead of O(d³).
 */
export function principalComponents(data: Dataset, samples: number[], components: number): number[][] {
  const d = data.shape[0] * data.shape[1] * data.shape[2];
  const m = samples.length;
  const mean = new Float64Array(d);
  for (const s of samples) for (let i = 0; i < d; i++) mean[i] += data.images[s * d + i] / m;
  const centred = new Float64Array(m * d);
  samples.forEach((s, r) => {
    for (let i = 0; i < d; i++) centred[r * d + i] = data.images[s * d + i] - mean[i];
  });
  return m < d ? gramScores(centred, m, d, components) : covarianceScores(centred, m, d, components);
}

function covarianceScores(centred: Float64Array, m: number, d: number, components: number): number[][] {
  const covariance = new DenseMatrix(d, d);
  const upper = new Float64Array(d * d);
  for (let r = 0; r < m; r++) {
    const row = r * d;
    for (let i = 0; i < d; i++) {
      const x = centred[row + i];
      if (x === 0) continue;
      for (let j = i; j < d; j++) upper[i * d + j] += x * centred[row + j];
    }
  }
  for (let i = 0; i < d; i++) for (let j = i; j < d; j++) covariance.set(i, j, upper[i * d + j]).set(j, i, upper[i * d + j]);
  const evd = new EVD(covariance, { assumeSymmetric: true });
  // Eigenvalues come ascending: the last columns are the top components.
  const vectors = evd.eigenvectorMatrix;
  const top = Array.from({ length: components }, (_, c) => d - 1 - c);
  return Array.from({ length: m }, (_, r) =>
    top.map((col) => {
      let sum = 0;
      for (let i = 0; i < d; i++) sum += centred[r * d + i] * vectors.get(i, col);
      return sum;
    }),
  );
}

function gramScores(centred: Float64Array, m: number, d: number, components: number): number[][] {
  const gram = new DenseMatrix(m, m);
  for (let a = 0; a < m; a++) {
    for (let b = a; b < m; b++) {
      let sum = 0;
      for (let i = 0; i < d; i++) sum += centred[a * d + i] * centred[b * d + i];
      gram.set(a, b, sum).set(b, a, sum);
    }
  }
  const evd = new EVD(gram, { assumeSymmetric: true });
  const values = evd.realEigenvalues;
  const vectors = evd.eigenvectorMatrix;
  // Eigenvalues come ascending; λ_c = σ_c², and a zero (or rounding-negative) one scores 0.
  const top = Array.from({ length: components }, (_, c) => m - 1 - c);
  return Array.from({ length: m }, (_, r) => top.map((col) => (col >= 0 ? vectors.get(r, col) * Math.sqrt(Math.max(values[col], 0)) : 0)));
}

/** What an ablation did to each image: 0 kept right, 1 lost, 2 gained, 3 lost only jointly (pairs), 4 wrong both times; `OUTCOMES[code]` names a code. */
export const OUTCOMES = ["kept", "lost", "gained", "lostJointly", "wrong"] as const;

/**
 * Per sample of the data set, the outcome code of condition `index` of an ablate result. "Lost only jointly" needs
 * the condition to be a pair whose two singles are in the same result; without them such a sample is 1 (lost).
 * `labels` are the data's ([n], as `result.labels`); `index` must be a condition of `result`. Returns [n] codes of OUTCOMES.
 * Throws no LesionError.
 */
export function sampleOutcomes(result: AblateResult, labels: Int32Array, index: number): Int8Array {
  const codes = new Int8Array(result.n);
  const predictionsOf = (i: number) => {
    const p = Int32Array.from(result.predictions);
    result.changes[i].samples.forEach((s, j) => (p[s] = result.changes[i].predictions[j]));
    return p;
  };
  const after = predictionsOf(index);
  const c = result.conditions[index];
  const singles = c.units.length === 2 ? c.units.map((u) => result.conditions.findIndex((o) => o.site === c.site && o.mode === c.mode && o.units.length === 1 && o.units[0] === u)) : [];
  const alone = singles.length === 2 && singles.every((i) => i >= 0) ? singles.map(predictionsOf) : null;
  for (let s = 0; s < result.n; s++) {
    const before = result.predictions[s] === labels[s];
    const now = after[s] === labels[s];
    if (before && now) codes[s] = 0;
    else if (before) codes[s] = alone && alone.every((p) => p[s] === labels[s]) ? 3 : 1;
    else codes[s] = now ? 2 : 4;
  }
  return codes;
}
