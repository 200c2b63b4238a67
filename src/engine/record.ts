/**
 * Recording (Meyes et al. 2020, "Under the Hood of Neural Networks"): how every unit of every site responds to each
 * class of stimulus. A conv unit (channel) is first averaged over space, per sample, as is the norm (Morcos et al.
 * 2018); the statistics below are then over samples. Sums run in float64 (Welford for the variance).
 */
import { fail } from "../errors.js";
import type { Dataset } from "../data/types.js";
import { checkData, forEachBatch } from "./forward.js";
import { getSession, requireSites, resolveSite, unitLayout, type LesionModel, type Site } from "./model.js";
import { withOutputs } from "../onnx/surgery.js";
import { classNames } from "./evaluate.js";
import type { Matrix } from "./metrics.js";
import type { Progress } from "../progress.js";

/** Options of `record`. */
export interface RecordOptions {
  /** Sites to record. Default: every site. */
  sites?: string[];
  /** Keep every sample's activation (n × units per site). Default false. */
  samples?: boolean;
  /** Samples per onnxruntime run. Default 1024; for a network with conv sites, as many as keep its largest site tensor under 4 MiB a run (batchRows). */
  batchSize?: number;
  /** Progress events, phase "record": `done` of `total` samples. */
  onProgress?: (event: Progress) => void;
  /** Aborts the run with LesionError `aborted`. */
  signal?: AbortSignal;
}

/** One site's recording. Every per-unit array is [units]; a conv unit's value per sample is its channel's spatial mean. */
export interface SiteRecording {
  /** The site's name. */
  site: string;
  /** The site's kind (see `Site.kind`). */
  kind: "dense" | "conv";
  /** Number of units at the site. */
  units: number;
  /** Mean activation per class and unit, shape [K, units]; a class with no samples gets a row of NaN (numpy's mean of nothing; null in JSON, empty in CSV) and is listed in `emptyClasses`. */
  classMeans: Matrix;
  /** The classes without samples in the data (their `classMeans` rows are NaN), ascending. */
  emptyClasses: number[];
  /** Mean activation over all samples, per unit. */
  mean: number[];
  /** Mean absolute activation per unit (equals `mean` for ReLU units). */
  magnitude: number[];
  /** Population standard deviation (ddof 0), per unit. */
  std: number[];
  /** Largest activation over the samples, per unit. */
  max: number[];
  /** Fraction (0..1) of samples on which the unit is active: its value (a conv unit's spatial mean) > 0. */
  fractionActive: number[];
  /** Units exactly 0 on every sample of this data (zeroing them changes nothing); for ReLU units, those never active. */
  dead: number[];
  /** Per-sample activations [n, units] when asked for. */
  samples: Matrix | null;
}

/** What `record` measured on one data set (`lesion record`'s summary.json holds it with provenance). */
export interface RecordResult {
  /** The model's name. */
  model: string;
  /** SHA-256 of the model file (hex), as `AblateResult.modelSha256`: which bytes computed the result. */
  modelSha256: string;
  /** The data's normalised spec. */
  data: string;
  /** Number of samples. */
  n: number;
  /** One name per class, in class order (the model's, else the data's, else "0".."K−1"). */
  classNames: string[];
  /** One recording per site asked for, in the order asked (default: every site, in graph order). */
  sites: SiteRecording[];
}

/**
 * Records every unit of the chosen sites (default: all) on `data` (Meyes et al. 2020): per unit its mean, standard deviation (`std`, population: over n),
 * mean absolute value and fraction of samples it is active on (output > 0, a fraction 0..1), the class-conditional
 * means (`classMeans` [K, units], row-major; NaN for the classes without samples, listed in `emptyClasses`), and with `samples` the
 * per-sample activations [n, units]. A conv unit is its channel averaged over space per sample.
 * @throws LesionError `unknown-site` (a site not in the model, naming the closest); `bad-option` (an empty `sites`, a
 * `batchSize` below 1);
 * `bad-model` (no sites, or a graph onnxruntime cannot run); `shape-mismatch` (images of another shape than the model takes), `bad-data` (an image folder
 * not matched to the model's classes), `label-out-of-range` (a label beyond the model's classes); `aborted`
 * (options.signal).
 */
export async function record(model: LesionModel, data: Dataset, options: RecordOptions = {}): Promise<RecordResult> {
  checkData(model, data);
  requireSites(model);
  if (options.sites && options.sites.length === 0) fail("bad-option", "`sites` is empty: name at least one site, or leave it out for every site", { options: ["sites"], value: [] });
  const sites = (options.sites ?? model.sites.map((s) => s.name)).map((name) => resolveSite(model, name));
  const tensors = sites.map((s) => s.tensor);
  const session = await getSession(model, `record:${tensors.join(",")}`, () => withOutputs(model.proto, tensors));
  const k = model.numClasses;
  const accumulators = sites.map((site) => accumulator(site, k, options.samples ? data.n : 0));
  const perSample = sites.map((site) => new Float64Array(site.units));
  let done = 0;
  await forEachBatch(model, session, data, { batchSize: options.batchSize, outputs: tensors, signal: options.signal }, ({ start, count, values }) => {
    sites.forEach((site, i) => {
      const tensor = values[site.tensor];
      const { plane, unitStride, step } = unitLayout(site);
      const size = plane * site.units;
      const acc = accumulators[i];
      const unitValues = perSample[i];
      for (let r = 0; r < count; r++) {
        const base = r * size;
        for (let u = 0; u < site.units; u++) {
          let sum = 0;
          for (let p = 0, at = base + u * unitStride; p < plane; p++, at += step) sum += tensor[at];
          unitValues[u] = sum / plane;
        }
        add(acc, unitValues, data.labels[start + r], start + r);
      }
    });
    done += count;
    options.onProgress?.({ phase: "record", done, total: data.n });
  });
  return {
    model: model.name,
    modelSha256: model.sha256,
    data: data.spec,
    n: data.n,
    classNames: classNames(model, data),
    sites: sites.map((site, i) => finish(site, accumulators[i], k, data.n)),
  };
}

interface Accumulator {
  units: number;
  count: number;
  mean: Float64Array;
  m2: Float64Array;
  max: Float64Array;
  absSum: Float64Array;
  active: Float64Array;
  classSum: Float64Array;
  classCount: Float64Array;
  samples: Float32Array | null;
}

function accumulator(site: Site, k: number, n: number): Accumulator {
  return {
    units: site.units,
    count: 0,
    mean: new Float64Array(site.units),
    m2: new Float64Array(site.units),
    max: new Float64Array(site.units).fill(-Infinity),
    absSum: new Float64Array(site.units),
    active: new Float64Array(site.units),
    classSum: new Float64Array(k * site.units),
    classCount: new Float64Array(k),
    samples: n > 0 ? new Float32Array(n * site.units) : null,
  };
}

function add(acc: Accumulator, values: Float64Array, label: number, sample: number): void {
  acc.count++;
  acc.classCount[label]++;
  const row = label * acc.units;
  for (let u = 0; u < acc.units; u++) {
    const x = values[u];
    const delta = x - acc.mean[u];
    acc.mean[u] += delta / acc.count;
    acc.m2[u] += delta * (x - acc.mean[u]);
    if (x > acc.max[u]) acc.max[u] = x;
    acc.absSum[u] += Math.abs(x);
    if (x > 0) acc.active[u]++;
    acc.classSum[row + u] += x;
  }
  if (acc.samples) acc.samples.set(values, sample * acc.units);
}

function finish(site: Site, acc: Accumulator, k: number, n: number): SiteRecording {
  // NaN, not 0, for a class without samples: 0 is a real mean (a dead unit's), and the ablation files give such a
  // class no accuracy either.
  const classMeans = new Array<number>(k * site.units).fill(Number.NaN);
  const emptyClasses: number[] = [];
  for (let c = 0; c < k; c++) {
    if (acc.classCount[c] === 0) {
      emptyClasses.push(c);
      continue;
    }
    for (let u = 0; u < site.units; u++) classMeans[c * site.units + u] = acc.classSum[c * site.units + u] / acc.classCount[c];
  }
  const fractionActive = Array.from(acc.active, (a) => a / n);
  return {
    site: site.name,
    kind: site.kind,
    units: site.units,
    classMeans: { data: classMeans, shape: [k, site.units] },
    emptyClasses,
    mean: Array.from(acc.mean),
    magnitude: Array.from(acc.absSum, (a) => a / n),
    std: Array.from(acc.m2, (m2) => Math.sqrt(m2 / n)),
    max: Array.from(acc.max),
    fractionActive,
    // Exactly 0 on every sample, so zeroing it changes nothing: for a ReLU unit, never active; a signed unit that is
    // never above 0 (a conv without activation, GELU) is not dead.
    dead: Array.from(acc.absSum).flatMap((a, u) => (a === 0 ? [u] : [])),
    samples: acc.samples ? { data: acc.samples, shape: [n, site.units] } : null,
  };
}
