/**
 * Indicators per unit (Meyes et al. 2020, "Under the Hood of Neural Networks"; Meyes et al. 2019 for weight change):
 * - magnitude: mean absolute activation over the data (conv units averaged over space first);
 * - selectivity: Morcos et al. 2018, (μ_max − μ_rest)/(μ_max + μ_rest) over class-conditional means (src/study/unitScores.ts);
 *   null for a unit active on fewer than max(10, 0.1 % of the) samples (`minActiveSamples`), where it is undefined;
 * - fractionActive and dead units (never active);
 * - weightL1, weightL2: norms of the unit's incoming weights (its row of a Linear, its filter of a Conv);
 * - with the initial model: weightChange = ‖w − w₀‖₂, and the Mann–Whitney U test between the trained and initial
 *   incoming weights (two-sided; a small p says the unit's weight distribution moved in training, Meyes et al. 2019);
 * - ablation impact: the overall accuracy drop when the unit alone is zeroed, the largest single-class drop, and the
 *   per-class drop profile. Drops are positive numbers (a gain is a negative drop).
 * Sites without a constant incoming weight (a standalone activation) get null weight indicators.
 */
import type { Dataset } from "../data/types.js";
import { fail } from "../errors.js";
import { hiddenSites, resolveSite, type LesionModel } from "../engine/model.js";
import { layerWeights, type LayerWeights } from "../onnx/layerWeights.js";
import { ablate, type AblateResult } from "./ablate.js";
import { singles } from "./conditions.js";
import type { Matrix } from "../engine/metrics.js";
import type { Progress } from "../progress.js";
import { record } from "../engine/record.js";
import { mannWhitney } from "./stats.js";
import { selectivity } from "./unitScores.js";

/** Options of `indicators`. */
export interface IndicatorsOptions {
  /** Sites to characterise. Default: every site but the output layer. */
  sites?: string[];
  /** The same network before training, for weight change. Default: none (weight-change fields are null). */
  initial?: LesionModel;
  /**
   * Single-unit zero ablations already computed on the same model and data (the study's singles step): used instead
   * of running them again when they hold every unit of every site characterised; otherwise ignored. The numbers are
   * the same either way (the loss, on or off, never changes a prediction). Default: none (they are run).
   */
  singles?: AblateResult;
  /** Samples per onnxruntime run, as `record`'s and `ablate`'s. */
  batchSize?: number;
  /** Progress events of the recording ("record") and the single-unit ablations ("ablate"). */
  onProgress?: (event: Progress) => void;
  /** Aborts the run with LesionError `aborted`. */
  signal?: AbortSignal;
}

/** One site's indicators; every per-unit array is [units], in unit order. */
export interface SiteIndicators {
  /** The site's name. */
  site: string;
  /** The site's kind (see `Site.kind`). */
  kind: "dense" | "conv";
  /** Number of units. */
  units: number;
  /** Mean absolute activation over the data (a conv unit's spatial mean per sample). */
  magnitude: number[];
  /** Morcos et al. 2018; null where the unit is below the minimum activity (`minActiveSamples`). */
  selectivity: Array<number | null>;
  /** Fraction (0..1) of samples on which the unit is active (> 0), as `SiteRecording.fractionActive`. */
  fractionActive: number[];
  /** The dead units (exactly 0 on every sample), ascending. */
  dead: number[];
  /** L1 norm of the unit's incoming weights (its Linear row or Conv filter; bias excluded); null for a site without a constant incoming weight. */
  weightL1: number[] | null;
  /** L2 norm of the unit's incoming weights; null as `weightL1`. */
  weightL2: number[] | null;
  /** ‖w − w₀‖₂ of the incoming weights against the initial model's (Meyes et al. 2019); null without `initial` or weights. */
  weightChange: number[] | null;
  /** Mann–Whitney U of the trained against the initial incoming weights (two-sided; `mannWhitney`); null as `weightChange`. */
  mannWhitneyU: number[] | null;
  /** The p-value of that test (normal approximation, tie-corrected): small where training moved the weights; null as `weightChange`. */
  mannWhitneyP: number[] | null;
  /** Overall accuracy drop when the unit alone is zeroed (intact − ablated, a fraction; negative for a gain). */
  impact: number[];
  /** The largest per-class accuracy drop (over the classes with samples). */
  impactMaxClass: number[];
  /** [units, classes]: per-class accuracy drop (NaN for a class with no samples, as in `classMeans`). */
  impactProfile: Matrix;
  /** [classes, units]: class-conditional mean activation (NaN for a class with no samples). */
  classMeans: Matrix;
}

/** What `indicators` found: per site, one value per unit for each indicator. */
export interface IndicatorsResult {
  /** The model's name. */
  model: string;
  /** The data's normalised spec. */
  data: string;
  /** Number of samples. */
  n: number;
  /** One name per class, in class order. */
  classNames: string[];
  /** The intact network's accuracy and per-class accuracy (fractions 0..1; null for a class without samples). */
  baseline: { accuracy: number; perClass: Array<number | null> };
  /** One entry per site characterised, in the order asked (default: hidden sites in graph order). */
  sites: SiteIndicators[];
  /** Near ties of the single-unit ablations run here that no float64 path could settle (0 where `singles` were reused). */
  unresolvedTies: number;
  /** Those ablations' warnings (ablate's `warnings`; none where `singles` were reused, which carry their own). */
  warnings: string[];
}

/** The names of the per-unit numeric indicators, in table order. */
export const INDICATOR_NAMES = ["magnitude", "selectivity", "fractionActive", "weightL1", "weightL2", "weightChange", "mannWhitneyP", "impact", "impactMaxClass"] as const;
/** One of INDICATOR_NAMES: a per-unit numeric field of SiteIndicators. */
export type IndicatorName = (typeof INDICATOR_NAMES)[number];

/**
 * The per-unit indicators of the module comment (Meyes et al. 2020; selectivity after Morcos et al. 2018; weight change
 * and its Mann–Whitney test after Meyes et al. 2019) for the hidden sites (default: every site but the output), one
 * value per unit in `INDICATOR_NAMES` order; fractions 0..1, impacts as accuracy drops (fractions), null where a value
 * is undefined (a dead unit's selectivity, weight change without an initial model).
 * @throws LesionError `unknown-site` (a site not in the model, or a model without hidden sites); `bad-model` (the
 * initial model lacks a layer's weight or has it in another shape, or no sites); `shape-mismatch` (images of another
 * shape than the model takes), `bad-data` (an image folder not matched to the model's classes), `label-out-of-range` (a
 * label beyond the model's classes); and as `ablate` (`unsupported-op`, `engine-disagreement`, `aborted`).
 */
export async function indicators(model: LesionModel, data: Dataset, options: IndicatorsOptions = {}): Promise<IndicatorsResult> {
  const names = options.sites ?? hiddenSites(model).map((s) => s.name);
  if (names.length === 0) fail("unknown-site", `${model.name} has no hidden sites to characterise`, { model: model.name, site: null, closest: [] });
  const sites = names.map((name) => resolveSite(model, name));
  if (options.initial) checkInitial(model, options.initial, names);
  const recording = await record(model, data, { sites: names, batchSize: options.batchSize, onProgress: options.onProgress, signal: options.signal });
  const conditions = sites.flatMap((site) => singles(site));
  const given = options.singles;
  const reusable = given && given.modelSha256 === model.sha256 && given.data === data.spec && given.n === data.n && sites.every((site) => singleRows(given, site.name).length === site.units);
  const ablation = reusable ? given : await ablate(model, data, { conditions, loss: false, batchSize: options.batchSize, onProgress: options.onProgress, signal: options.signal });
  const k = model.numClasses;
  return {
    model: model.name,
    data: data.spec,
    n: data.n,
    classNames: ablation.classNames,
    baseline: { accuracy: ablation.baseline.accuracy, perClass: ablation.baseline.perClass },
    unresolvedTies: reusable ? 0 : ablation.unresolvedTies,
    warnings: reusable ? [] : ablation.warnings,
    sites: sites.map((site, i) => {
      const rec = recording.sites[i];
      const rows = singleRows(ablation, site.name);
      const profile = new Float64Array(site.units * k);
      rows.forEach((c, u) => c.deltaPerClass.forEach((d, j) => (profile[u * k + j] = d === null ? Number.NaN : 0 - d)));
      const weights = site.layer ? layerWeights(model.proto, site.layer) : null;
      const initial = weights && options.initial ? initialWeights(options.initial, weights, site.name) : null;
      const tests = weights && initial ? Array.from({ length: site.units }, (_, u) => mannWhitney(row(weights, u), row(initial, u))) : null;
      return {
        site: site.name,
        kind: site.kind,
        units: site.units,
        magnitude: rec.magnitude,
        selectivity: selectivity(rec.classMeans.data, site.units, rec.emptyClasses, { fractionActive: rec.fractionActive, n: recording.n }),
        fractionActive: rec.fractionActive,
        dead: rec.dead,
        weightL1: weights && weights.units === site.units ? perUnit(weights, (w) => w.reduce((s, v) => s + Math.abs(v), 0)) : null,
        weightL2: weights && weights.units === site.units ? perUnit(weights, (w) => norm(w)) : null,
        weightChange: weights && initial ? perUnit(weights, (w, u) => norm(w.map((v, i) => v - initial.weight[u * initial.fanIn + i]))) : null,
        mannWhitneyU: tests ? tests.map((t) => t.u) : null,
        mannWhitneyP: tests ? tests.map((t) => t.p) : null,
        impact: rows.map((c) => 0 - c.delta),
        impactMaxClass: rows.map((_, u) => Math.max(...Array.from(profile.subarray(u * k, (u + 1) * k)).filter((d) => !Number.isNaN(d)))),
        impactProfile: { data: Array.from(profile), shape: [site.units, k] },
        classMeans: rec.classMeans,
      };
    }),
  };
}

/** A site's single-unit zero ablations, in unit order (as `singles` lists them). */
function singleRows(ablation: AblateResult, site: string): AblateResult["conditions"] {
  return ablation.conditions.filter((c) => c.site === site && c.mode === "zero" && c.units.length === 1 && c.label === null).sort((a, b) => a.units[0] - b.units[0]);
}

function row(weights: LayerWeights, unit: number): Float64Array {
  return weights.weight.subarray(unit * weights.fanIn, (unit + 1) * weights.fanIn);
}

function perUnit(weights: LayerWeights, f: (w: number[], unit: number) => number): number[] {
  return Array.from({ length: weights.units }, (_, u) => f(Array.from(row(weights, u)), u));
}

/**
 * Refuses, before any work, an initial model that lacks a layer of `sites` or has it in another shape.
 * @throws LesionError `bad-model` naming the weight.
 */
export function checkInitial(model: LesionModel, initial: LesionModel, sites: readonly string[]): void {
  for (const name of sites) {
    const site = resolveSite(model, name);
    const weights = site.layer ? layerWeights(model.proto, site.layer) : null;
    if (weights) initialWeights(initial, weights, site.name);
  }
}

/** The initial model's weights of the same layer, found by weight name, of the same shape. */
function initialWeights(initial: LesionModel, trained: LayerWeights, siteName: string): LayerWeights {
  const site = initial.sites.find((s) => s.layer !== null && layerWeights(initial.proto, s.layer)?.name === trained.name);
  const weights = site ? layerWeights(initial.proto, site.layer!) : null;
  // Matched by weight name, the one name a layer keeps across trainings: an export that folded BatchNorm names the
  // folded weight anew (onnx::Conv_28), and its values are not the conv's own, so the two files must be made alike.
  if (!weights) fail("bad-model", `the initial model ${initial.name} has no layer with weight ${trained.name} (site ${siteName}'s): make both files the same way (torch.onnx.export of both in eval mode, which folds BatchNorm into the conv and renames its weight; or lesion import of both state_dicts with one --arch)`, { name: initial.name, tensor: trained.name });
  if (weights.units !== trained.units || weights.fanIn !== trained.fanIn) {
    fail("bad-model", `weight ${trained.name} is ${weights.units}x${weights.fanIn} in the initial model ${initial.name} but ${trained.units}x${trained.fanIn} in the trained one`, { name: initial.name, tensor: trained.name });
  }
  return weights;
}

/** The Euclidean norm, in a loop: Math.hypot(...w) spreads w into arguments, which overflows the stack near 200k. */
function norm(w: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < w.length; i++) sum += w[i] * w[i];
  return Math.sqrt(sum);
}
