/**
 * Transplant (the future work Meyes et al. 2020, arXiv:2004.01254, name): move a functional population of a donor
 * network into a recipient that lacks its knowledge, and measure against controls with the same budget whether the
 * knowledge moved.
 *
 * Method (chains of linear and conv layers: MLPs and plain CNNs, whose conv units are channels, batch norm included;
 * residual networks are refused). The population's units are copied exactly: the recipient's layer at the same depth
 * is widened by them with the donor's incoming weights and biases (first layer weights rewritten for the recipient's
 * input normalisation). A deeper population brings its upstream circuit
 * as a parallel branch (every donor unit of the earlier layers, block-diagonal, see src/transplant/transplantNetwork.ts),
 * so its units compute exactly what they computed in the donor; we chose the branch over a least-squares stitch
 * because it is exact and needs no data to fit, at the cost of a wider merged network. The new units' outgoing
 * weights into the recipient's next layer start at zero and are the only weights trained (per-entry gradient masks),
 * on a small budget of labelled images. Controls trained identically: (a) as many units drawn at random from the
 * donor's same layer (non-dead ones), (b) as many fresh units (PyTorch's default initialisation of incoming weights
 * and bias, outgoing from zero, incoming and outgoing trained), (c) the recipient fine-tuned whole. Training is SGD
 * with momentum by default: under Adam (lr 0.01) the units whose incoming weights train (fresh units, the recipient's
 * own under fine-tuning) died within a few steps on MNIST (never active again on the budget), so fresh-units could
 * end exactly where it started; the units active before and after training are counted per condition (`siteActive`)
 * and a condition that loses half of them is warned about. Accuracies are float64 forward passes; gains carry
 * bootstrap intervals over test images and repeats (src/transplant/transplantStats.ts); a conv network's in float32
 * with near ties settled in float64 (src/transplant/chainPredictions.ts: onnxruntime has no double Conv), an MLP's in
 * onnxruntime's double Gemm.
 * The check that the knowledge moved with the units: the population ablated in the merged model.
 */
import type { Dataset } from "../data/types.js";
import { fail } from "../errors.js";
import { classNames, unrecordedNormalisationWarning } from "../engine/evaluate.js";
import { pickSamples } from "../data/pickSamples.js";
import { checkUnits, type LesionModel } from "../engine/model.js";
import { trainNetwork } from "../engine/train.js";
import { dense64Cache, densePredictions64, releaseDense64 } from "../engine/dense64.js";
import { siteLayerIndex } from "../onnx/network.js";
import { seeded, shuffle } from "../random.js";
import type { Progress } from "../progress.js";
import { networkInputs } from "../models/train.js";
import { donorRows, freshUnits, mergeNetworks, rowSize, weightedIndices, type MergedNetwork, type Weighted } from "./transplantNetwork.js";
import { activeUnits, choosePopulation, deadUnits, type PopulationChoice } from "./transplantPopulation.js";
import { chainPredictions } from "./chainPredictions.js";
import { bootstrapGains, type Gains } from "./transplantStats.js";
import { transplantModelBytes } from "./transplantModel.js";
import { transplantSites, type Chain } from "./transplantSites.js";

/** Options of `transplant` (`lesion transplant`'s flags). */
export interface TransplantOptions {
  /** Test data: before, after and every control are measured on it. */
  test: Dataset;
  /** The class the transplant is for: its population is chosen from the donor when `units` is not given, and its gains are reported apart. */
  class?: number;
  /** Donor site (the output of a linear or conv layer; a conv site's units are channels). Default: the donor's last hidden layer. */
  site?: string;
  /** Donor units to transplant. Default: the impact population of `class` (src/transplant/transplantPopulation.ts). */
  units?: number[];
  /** Recipient site widened by the units; must sit at the same depth. Default: the recipient's layer at that depth. */
  recipientSite?: string;
  /** Epochs over the budget images. Default 30. */
  budgetEpochs?: number;
  /** Labelled images drawn (seeded) from `data` for the budget. Default: all of `data`. */
  budgetSamples?: number;
  /** Default 10. */
  batchSize?: number;
  /**
   * Default "sgd" (momentum 0.9): a step proportional to the gradient. Adam moves every weight with a gradient by
   * about `lr` from its first steps, whatever the gradient's size: on first-layer weights (784 inputs, most of them a
   * constant background) that shifted a unit's input by ten times its spread per step on MNIST, and the units that
   * fresh-units and finetune train die (no longer active on any budget image; no gradient reaches them again).
   */
  optimizer?: "sgd" | "adam";
  /** Default 0.01. */
  lr?: number;
  /** Default 0. */
  seed?: number;
  /** Repeats with seeds seed, seed+1, …: random units, fresh units and shuffling change; intervals resample them. Default 1. */
  repeats?: number;
  /** Bootstrap resamples. Default 1000. */
  resamples?: number;
  /** Interval level. Default 0.95. */
  level?: number;
  /** onnxruntime intra-op threads of the training and float64 evaluation sessions. Default: every core. */
  threads?: number;
  /** Progress events, phase "transplant": `done` of `total` training steps of every condition and repeat, `detail` the condition. */
  onProgress?: (event: Progress) => void;
  /** Called with each warning as it arises (the same text goes into `TransplantResult.warnings`). */
  onWarning?: (message: string) => void;
  /** Aborts the run with LesionError `aborted`. */
  signal?: AbortSignal;
}

/** Accuracy overall and per class (fractions; null for a class with no test images). */
export interface Outcome {
  /** Accuracy on the test data, a fraction 0..1. */
  accuracy: number;
  /** Per class [classes], in class order: fractions 0..1; null for a class with no test images. */
  perClass: Array<number | null>;
}

/** A transplant condition: the transplant itself, or one of its controls (random donor units, fresh units, the recipient fine-tuned). */
export type TransplantCondition = "transplant" | "random-units" | "fresh-units" | "finetune";

/**
 * Units at the recipient site whose incoming weights a condition trains (fresh-units: the new units; finetune: the
 * recipient's own), counted as active when positive on at least one budget image, before and after training. A unit
 * active on none gets no gradient and stays dead (ReLU): a condition whose units all died computes what the
 * recipient computed. null for transplant and random-units (incoming weights frozen: activity cannot change).
 */
export interface SiteActive {
  units: number;
  before: number;
  after: number;
}

/** What `transplant` measured, and the merged model (`lesion transplant` writes it as files). */
export interface TransplantResult {
  /** The donor model's name. */
  donor: string;
  /** SHA-256 (hex) of the donor model file. */
  donorSha256: string;
  /** The recipient model's name. */
  recipient: string;
  /** SHA-256 (hex) of the recipient model file. */
  recipientSha256: string;
  /** The spec of the data the budget is drawn from. */
  data: string;
  /** The test data's spec. */
  test: string;
  /** The recipient's class names (else the test data's, else "0".."k−1"): the order of every perClass array. */
  classNames: string[];
  /**
   * Budget images used for training (and for choosing the population); `indices`: which samples of `data` (ascending),
   * null when the budget is all of it.
   */
  budget: { samples: number; indices: number[] | null; perClass: number[]; epochs: number; batchSize: number; optimizer: "sgd" | "adam"; lr: number };
  /** The target class (`options.class`); null when only `units` were given. */
  class: number | null;
  /**
   * The donor's population: `site`; `units` largest single-unit impact on the class first (ties by unit index), or as
   * given in `options.units`; `dead` the site's units never active on the budget; `impact` per unit of the site the
   * drop in the class's mean log-probability (nats) and `prefixDrops` the class accuracy drop of each prefix of the
   * ranking (fractions; both null for units given); `rule` how it was sized.
   */
  population: { site: string; units: number[]; dead: number[]; impact: number[] | null; prefixDrops: number[] | null; rule: string };
  /** Where the population sits in the merged model (`DIR/model.onnx`), and its upstream branch. */
  transplanted: { site: string; units: number[]; branch: Array<{ site: string; units: number[]; donorSite: string }> };
  /** The seeds of the repeats: seed, seed+1, …. */
  seeds: number[];
  /** The recipient before any training, on the test data. */
  before: Outcome;
  /** The transplant, mean over repeats. */
  after: Outcome;
  /** Per control (random-units, fresh-units, finetune): its outcome, mean over repeats; `units` the donor units drawn for random-units (first repeat), else null. */
  controls: Array<{ name: Exclude<TransplantCondition, "transplant">; after: Outcome; units: number[] | null }>;
  /** Per condition (transplant first, then the controls), gains after − before with intervals. */
  gains: Array<{ condition: TransplantCondition } & Gains>;
  /** Transplant gain minus each control's gain, paired, with intervals. */
  versusControls: Array<{ control: Exclude<TransplantCondition, "transplant"> } & Gains>;
  /** The population ablated (zero) in the merged model; `removed`: fraction of the target class's gain it takes back. */
  ablationCheck: { after: Outcome; removed: number | null; samePredictionsAsBefore: boolean };
  /** Per condition, per repeat: accuracy and per-class accuracy, and (fresh-units, finetune) the site's units active before and after training. */
  repeats: Array<{ condition: TransplantCondition; seed: number; after: Outcome; siteActive: SiteActive | null }>;
  /** The intervals' level (0.95 by default). */
  level: number;
  /** Bootstrap resamples behind every interval. */
  resamples: number;
  /** Problems that do not stop the run: dead units given, units that died in training. */
  warnings: string[];
  /** The merged network of the first repeat: ONNX with lesion's metadata and `lesion.transplant`. */
  model: Uint8Array;
}

/**
 * Transplants a population of `donor` into `recipient` (the future work Meyes et al. 2020 name): the units chosen (the
 * population whose ablation costs class `class` most, or `units`) are added to the recipient's layer at the same depth
 * with their incoming and outgoing weights, the merged network is trained on `data` (the budget), and its accuracy on
 * `options.test` (overall and per class, fractions 0..1) is compared before and after and with controls (random
 * units, fresh units), gains with bootstrap intervals.
 * @throws LesionError `shape-mismatch` (input shapes or class counts differ); `unknown-site`; `unit-out-of-range`;
 * `bad-units` (no units, all dead, or no population holds the class); `unsupported-op` (residual or other layers
 * than a chain of linear and conv layers, batch norm, pooling and activations, or a padded first conv under different
 * input means);
 * `bad-model` (NaN or infinite weights; different activations, or conv and pooling windows, up to the site); `bad-option`; `bad-data`; `aborted`.
 */
export async function transplant(donor: LesionModel, recipient: LesionModel, data: Dataset, options: TransplantOptions): Promise<TransplantResult> {
  const warnings: string[] = [];
  const warn = (message: string) => {
    warnings.push(message);
    options.onWarning?.(message);
  };
  const { donorChain, recipientChain, donorSite, donorLayer, donorWeighted, depth, recipientSite, recipientWeighted } = transplantSites(donor, recipient, [data, options.test], options);
  if (options.class !== undefined && !(Number.isInteger(options.class) && options.class >= 0 && options.class < recipient.numClasses)) fail("bad-option", `\`class\` must be 0..${recipient.numClasses - 1}, got ${options.class}`, { options: ["class"], value: options.class });
  if (options.class === undefined && options.units === undefined) fail("bad-option", "transplant needs a `class` (to choose the population) or `units`", { options: ["class", "units"] });
  if (options.units !== undefined) {
    checkUnits(donorSite, options.units);
    if (options.units.length === 0) fail("bad-units", "transplant needs at least one unit", { site: donorSite.name, units: options.units });
  }
  const seed = options.seed ?? 0;
  const repeats = options.repeats ?? 1;
  const optimizer = options.optimizer ?? "sgd";
  const settings = { epochs: options.budgetEpochs ?? 30, batchSize: options.batchSize ?? 10, lr: options.lr ?? 0.01 };
  for (const [key, value] of Object.entries({ ...settings, repeats })) if (!(Number.isFinite(value) && value > 0)) fail("bad-option", `\`${key}\` must be a number > 0, got ${value}`, { options: [key === "epochs" ? "budgetEpochs" : key], value });
  // The intervals' bootstrap: no resample gave NaN ends, a level outside (0, 1) quantiles of nothing.
  if (options.resamples !== undefined && !(Number.isInteger(options.resamples) && options.resamples >= 1)) fail("bad-option", `\`resamples\` must be a whole number ≥ 1, got ${options.resamples}`, { options: ["resamples"], value: options.resamples });
  if (options.level !== undefined && !(options.level > 0 && options.level < 1)) fail("bad-option", `\`level\` must be in (0, 1), got ${options.level}`, { options: ["level"], value: options.level });

  for (const model of [donor, recipient]) if (!model.preprocessingRecorded) warn(unrecordedNormalisationWarning(model));
  const drawn = options.budgetSamples === undefined ? null : budgetSample(data, options.budgetSamples, seed);
  const budget = drawn ? pickSamples(data, drawn, `${data.spec} (${drawn.length} samples, seed ${seed})`) : data;
  const donorInputs = networkInputs(budget, donor.preprocessing).inputs;
  const train = networkInputs(budget, recipient.preprocessing);
  const test = networkInputs(options.test, recipient.preprocessing);
  const donorView = { name: donor.name, network: donorChain.network, values: donorChain.values, siteLayer: donorLayer, site: donorSite.name };
  let population: PopulationChoice;
  if (options.units !== undefined) {
    const dead = deadUnits(donorChain.network, donorChain.values, donorInputs, budget.n, donorLayer);
    const deadGiven = options.units.filter((u) => dead.includes(u));
    if (deadGiven.length === options.units.length) fail("bad-units", `units ${donorSite.name}:${deadGiven.join(",")} of ${donor.name} are dead on ${budget.spec} (never active): nothing to transplant`, { site: donorSite.name, units: deadGiven });
    if (deadGiven.length > 0) warn(`units ${deadGiven.join(",")} of ${donorSite.name} are dead on ${budget.spec}; they are transplanted but carry nothing`);
    population = { units: [...options.units], dead, impact: null, prefixDrops: null, rule: "units given" };
  } else {
    population = choosePopulation(donorView, donorInputs, budget.labels, options.class!, budget.spec);
  }

  // The donor rows (incoming weights and biases) of the chosen units, and the upstream branch.
  const donorWeightedLayer = (j: number) => donorChain.network.layers[donorWeighted[j]] as Weighted;
  const rowsOf = (j: number, units: number[]) => donorRows(donorChain, donorWeighted, j, units, donor.preprocessing, recipient.preprocessing);
  const branch = Array.from({ length: depth }, (_, j) => ({ ...rowsOf(j, Array.from({ length: donorWeightedLayer(j).out }, (_, u) => u)), donorSite: donorWeightedLayer(j).name }));
  const recipientBase = { network: recipientChain.network, values: recipientChain.values, preprocessing: recipient.preprocessing };
  const m = population.units.length;
  const alive = Array.from({ length: donorSite.units }, (_, u) => u).filter((u) => !population.dead.includes(u));
  const build = (condition: TransplantCondition, s: number): { merged: MergedNetwork; units: number[] | null } => {
    if (condition === "transplant") return { merged: mergeNetworks({ recipient: recipientBase, depth, population: rowsOf(depth, population.units), branch, train: "outgoing" }), units: null };
    if (condition === "random-units") {
      const units = shuffle([...alive], seeded(s * 7919 + 101)).slice(0, m);
      return { merged: mergeNetworks({ recipient: recipientBase, depth, population: rowsOf(depth, units), branch, train: "outgoing" }), units };
    }
    if (condition === "fresh-units") {
      const fanIn = rowSize(recipientChain.network.layers[recipientWeighted[depth]] as Weighted);
      return { merged: mergeNetworks({ recipient: recipientBase, depth, population: freshUnits(m, fanIn, s), branch: [], train: "new-units" }), units: null };
    }
    return { merged: mergeNetworks({ recipient: recipientBase, depth, population: { weight: new Float32Array(0), bias: new Float32Array(0) }, branch: [], train: "all" }), units: null };
  };

  // Fresh units and fine-tuning train incoming weights at the site, so their units can die (never active on the
  // budget images: no gradient reaches them again); counted before and after training, and warned about.
  const trainsSite = (condition: TransplantCondition) => condition === "fresh-units" || condition === "finetune";
  // Fine-tuning starts every repeat from the same recipient: its count before training is taken once (a JS float64
  // pass over the budget: ~5 s at a full MNIST budget).
  let finetuneBefore: number | null = null;
  const activity = (merged: MergedNetwork, values: Map<string, Float32Array>, condition: TransplantCondition): SiteActive => {
    const siteLayer = siteLayerIndex(merged.network, recipientSite.name);
    const units = merged.units.length > 0 ? merged.units : Array.from({ length: recipientSite.units }, (_, u) => u);
    const count = (v: Map<string, Float32Array>) => activeUnits(merged.network, v, train.inputs, budget.n, siteLayer, units);
    const before = condition === "finetune" ? (finetuneBefore ??= count(merged.values)) : count(merged.values);
    return { units: units.length, before, after: count(values) };
  };

  const classes = recipient.numClasses;
  const outcome = (predictions: Int32Array): { outcome: Outcome; correct: Uint8Array } => {
    const correct = Uint8Array.from(predictions, (p, i) => (p === options.test.labels[i] ? 1 : 0));
    const right = new Float64Array(classes);
    const count = new Float64Array(classes);
    options.test.labels.forEach((y, i) => {
      count[y]++;
      right[y] += correct[i];
    });
    const total = correct.reduce((a, b) => a + b, 0);
    return { outcome: { accuracy: total / correct.length, perClass: Array.from(count, (c, k) => (c > 0 ? right[k] / c : null)) }, correct };
  };
  const cache = dense64Cache(options.threads);
  try {
    // onnxruntime's double Gemm takes a chain of linear layers and activations; the others go by chainPredictions.
    const denseOnly = !recipientChain.network.layers.some((l) => l.op === "conv" || l.op === "batchnorm");
    const predict = async (chain: Chain, zeroed: { layer: number; units: number[]; width: number } | null = null) =>
      denseOnly ? densePredictions64(cache, chain.network, chain.values, test.inputs, options.test.n, zeroed) : chainPredictions(chain.network, chain.values, test.inputs, options.test.n, cache.threads, zeroed);
    const beforePredictions = await predict(recipientChain);
    const before = outcome(beforePredictions);
    const conditions: TransplantCondition[] = ["transplant", "random-units", "fresh-units", "finetune"];
    const seeds = Array.from({ length: repeats }, (_, r) => seed + r);
    const batches = Math.ceil(budget.n / settings.batchSize);
    const totalSteps = conditions.length * repeats * settings.epochs * batches;
    let stepsDone = 0;
    const correct: Uint8Array[][] = conditions.map(() => []);
    const perRepeat: TransplantResult["repeats"] = [];
    const controlUnits: Array<number[] | null> = conditions.map(() => null);
    let first: { merged: MergedNetwork; values: Map<string, Float32Array> } | null = null;
    const checks: Outcome[] = [];
    let sameAsBefore = true;
    for (const s of seeds) {
      for (const [c, condition] of conditions.entries()) {
        const { merged, units } = build(condition, s);
        if (s === seed) controlUnits[c] = units;
        const trained = await trainNetwork(merged.network, {
          optimizer,
          frozenBatchNorm: true,
          momentum: 0.9,
          weightDecay: 0,
          betas: [0.9, 0.999],
          eps: 1e-8,
          masks: {},
          gradientMasks: condition === "finetune" ? undefined : merged.gradientMasks,
          ...settings,
          seed: s,
          parameters: merged.values,
          train,
          classes,
          threads: options.threads,
          signal: options.signal,
          onStep: (done) => options.onProgress?.({ phase: "transplant", done: stepsDone + done, total: totalSteps, detail: condition }),
        });
        stepsDone += settings.epochs * batches;
        const chain = { network: merged.network, values: trained.parameters };
        const result = outcome(await predict(chain));
        correct[c].push(result.correct);
        const siteActive = trainsSite(condition) ? activity(merged, trained.parameters, condition) : null;
        if (siteActive && siteActive.after < siteActive.before / 2) {
          const which = condition === "fresh-units" ? "new units" : "units";
          warn(`${condition} (seed ${s}): ${siteActive.before - siteActive.after} of the ${siteActive.before} active ${which} at ${recipientSite.name} died in training (${siteActive.after} of ${siteActive.units} still active on the ${budget.n} budget images)${siteActive.after === 0 && condition === "fresh-units" ? ", so this control computes what the recipient computed" : ""}; ${optimizer === "adam" ? "Adam's first steps move every incoming weight by about the learning rate, whatever its gradient: " : ""}try a smaller \`lr\``);
        }
        perRepeat.push({ condition, seed: s, after: result.outcome, siteActive });
        if (condition === "transplant") {
          if (!first) first = { merged, values: trained.parameters };
          const mergedSite = siteLayerIndex(merged.network, recipientSite.name);
          const width = (merged.network.layers[weightedIndices(merged.network)[depth]] as Weighted).out;
          const ablated = await predict(chain, { layer: mergedSite, units: merged.units, width });
          checks.push(outcome(ablated).outcome);
          sameAsBefore &&= ablated.every((p, i) => p === beforePredictions[i]);
        }
      }
    }
    const mean = (outcomes: Outcome[]): Outcome => ({
      accuracy: outcomes.reduce((a, o) => a + o.accuracy, 0) / outcomes.length,
      perClass: outcomes[0].perClass.map((p, k) => (p === null ? null : outcomes.reduce((a, o) => a + o.perClass[k]!, 0) / outcomes.length)),
    });
    const afterOf = (condition: TransplantCondition) => mean(perRepeat.filter((r) => r.condition === condition).map((r) => r.after));
    const target = options.class ?? null;
    const { gains, differences } = bootstrapGains({
      labels: options.test.labels,
      target,
      before: before.correct,
      after: correct,
      differences: [[0, 1], [0, 2], [0, 3]],
      resamples: options.resamples ?? 1000,
      level: options.level ?? 0.95,
      seed,
    });
    // A condition that costs the recipient much of what it knew is said (a trial's fine-tuning took it from 31.7 % to 11.3 %).
    for (const condition of conditions) {
      const after = afterOf(condition);
      if (after.accuracy < before.outcome.accuracy - 0.05) warn(`${condition} lowered the overall test accuracy from ${(100 * before.outcome.accuracy).toFixed(2)}% to ${(100 * after.accuracy).toFixed(2)}%; try a smaller \`lr\` or fewer budget epochs`);
    }
    const check = mean(checks);
    const after = afterOf("transplant");
    const gained = target === null ? null : (after.perClass[target] ?? 0) - (before.outcome.perClass[target] ?? 0);
    const { merged } = first!;
    const transplanted = { site: recipientSite.name, units: merged.units, branch: merged.branch };
    return {
      donor: donor.name,
      donorSha256: donor.sha256,
      recipient: recipient.name,
      recipientSha256: recipient.sha256,
      data: data.spec,
      test: options.test.spec,
      classNames: classNames(recipient, options.test),
      budget: { samples: budget.n, indices: drawn, perClass: Array.from({ length: classes }, (_, k) => budget.labels.filter((y) => y === k).length), epochs: settings.epochs, batchSize: settings.batchSize, optimizer, lr: settings.lr },
      class: target,
      population: { site: donorSite.name, ...population },
      transplanted,
      seeds,
      before: before.outcome,
      after,
      controls: conditions.slice(1).map((name, i) => ({ name: name as Exclude<TransplantCondition, "transplant">, after: afterOf(name), units: controlUnits[i + 1] })),
      gains: conditions.map((condition, c) => ({ condition, ...gains[c] })),
      versusControls: conditions.slice(1).map((control, i) => ({ control: control as Exclude<TransplantCondition, "transplant">, ...differences[i] })),
      ablationCheck: { after: check, removed: gained === null || gained <= 0 ? null : ((after.perClass[target!] ?? 0) - (check.perClass[target!] ?? 0)) / gained, samePredictionsAsBefore: sameAsBefore },
      repeats: perRepeat,
      level: options.level ?? 0.95,
      resamples: options.resamples ?? 1000,
      warnings,
      model: transplantModelBytes(first!.merged.network, first!.values, recipient, {
        donor: donor.name,
        donorSha256: donor.sha256,
        recipient: recipient.name,
        recipientSha256: recipient.sha256,
        class: target,
        site: transplanted.site,
        units: transplanted.units,
        donorSite: donorSite.name,
        donorUnits: population.units,
        branch: transplanted.branch,
      }),
    };
  } finally {
    await releaseDense64(cache);
  }
}

/** The indices of `count` samples of `data` drawn without replacement, seeded, ascending. */
function budgetSample(data: Dataset, count: number, seed: number): number[] {
  if (!(Number.isInteger(count) && count >= 1 && count <= data.n)) fail("bad-option", `\`budgetSamples\` must be 1..${data.n} (the samples of ${data.spec}), got ${count}`, { options: ["budgetSamples"], value: count });
  return shuffle(Array.from({ length: data.n }, (_, i) => i), seeded(seed * 104729 + 7)).slice(0, count).sort((a, b) => a - b);
}
