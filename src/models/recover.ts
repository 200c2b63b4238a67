/**
 * Recovery (Meyes et al. 2019): ablate units, retrain the damaged network, and watch how much of the loss comes back,
 * class by class. Held (default): the ablated units are masked to zero during training and pass no gradient, and in
 * the saved model their incoming weights and bias are zero (for ReLU and Tanh units that is an output of exactly
 * zero). A network with BatchNorm trains in PyTorch's training mode (batch statistics, running statistics updated,
 * γ and β learnt) and is evaluated with the running statistics; the mask sits on the site's output (after BatchNorm
 * and activation), and the saved model also zeroes the held units' γ and β, so they output exactly zero. At a residual
 * block's output (ReLU after the join) no layer's weights alone zero a unit (the shortcut adds its input): the saved
 * model pins the unit's channel of the join's BatchNorm (γ = 0, β = −1e30), or Linear/Conv (weights 0, bias −1e30),
 * so the join is below −1e30 + its other input and the ReLU gives exactly zero. Free (`free: true`): the units
 * start from fresh incoming weights and bias (PyTorch's initialisation, seeded by `seed`; a BatchNorm's γ = 1, β = 0)
 * and learn again; at zero a ReLU unit would get no gradient and stay silent.
 * Recovered fraction per class = (accuracy after − accuracy ablated) / (accuracy intact − accuracy ablated), null for a
 * class the ablation did not hurt.
 * Control (`control: true`): the intact network retrained with the same budget (epochs, optimizer, seed, batches), so
 * a recovery can be read against what the extra training alone gives (a "recovered 112 %" may be mostly that).
 */
import { dataIdentity } from "../data/dataIdentity.js";
import type { Dataset } from "../data/types.js";
import { fail } from "../errors.js";
import { checkData } from "../engine/forward.js";
import { checkUnits, resolveSite, type LesionModel, type Site } from "../engine/model.js";
import { classNames } from "../engine/evaluate.js";
import { checkLearningRate, checkMomentum, evaluateNetwork, trainNetwork, type EpochResult } from "../engine/train.js";
import { inputOf, networkOf, siteLayerIndex, type Network } from "../onnx/network.js";
import type { Progress } from "../progress.js";
import { seeded } from "../random.js";
import { decodeModel, encodeModel, setMetadataValue } from "../onnx/proto.js";
import { classifierBytes, networkInputs } from "./train.js";

/** Options of `recover` (`lesion recover`'s flags). */
export interface RecoverOptions {
  /** The site whose units are ablated: the output of a trainable layer (or a residual block's output, held only). */
  site: string;
  /** The ablated units (at least one). */
  units: number[];
  /** Data the network is evaluated on after every epoch (its test set). */
  test: Dataset;
  /** Default 3. */
  epochs?: number;
  /** Let the ablated units learn again, from fresh weights (PyTorch's initialisation, seeded by `seed`). Default false (held at zero). */
  free?: boolean;
  /** Also retrain the intact network with the same budget, as the control. Default false. */
  control?: boolean;
  /** Default "sgd". */
  optimizer?: "sgd" | "adam";
  /**
   * Default 0.01 for SGD, 0.001 for Adam; a tenth of that for a residual network without BatchNorm (an exported or
   * imported ResNet, whose BatchNorm is folded into its convs: at 0.01 one diverged in lesion and in PyTorch alike).
   */
  lr?: number;
  /** Default 0.9. */
  momentum?: number;
  /** Default 128. */
  batchSize?: number;
  /** Default 0. */
  seed?: number;
  /** onnxruntime intra-op threads of the training and evaluation sessions. Default: every core. */
  threads?: number;
  /** Progress events, phase "recover": `done` of `total` optimisation steps (the control's included). */
  onProgress?: (event: Progress) => void;
  /** Aborts the run with LesionError `aborted`. */
  signal?: AbortSignal;
}

/** One retraining epoch: the training figures, and the test accuracy against the intact and ablated baselines. */
export interface RecoveryEpoch extends EpochResult {
  /** Test accuracy after the epoch, a fraction 0..1 (`testAccuracy`). */
  accuracy: number;
  /** Per-class test accuracy [classes], fractions 0..1; null for a class without test samples. */
  perClass: Array<number | null>;
  /** Fraction of the accuracy lost to the ablation that is back, overall and per class. */
  recovered: number | null;
  /**
   * Per class: (after − ablated) / (intact − ablated) accuracy; null where the ablation did not hurt the class (or it
   * has no test samples). 1 is full recovery; it can exceed 1 or fall below 0.
   */
  recoveredPerClass: Array<number | null>;
}

/** What `recover` measured, and the retrained model (Meyes et al. 2019's recovery). */
export interface RecoverResult {
  /** The model's name. */
  model: string;
  /** The site's name. */
  site: string;
  /** The ablated units, ascending. */
  units: number[];
  /** "held": the units stayed at zero while the rest retrained; "free": they learnt again from fresh weights. */
  mode: "held" | "free";
  /** The model's class names (else the data's, else "0".."k−1"): the order of every perClass array. */
  classNames: string[];
  /** The intact network on the test data: accuracy and per-class accuracy (fractions 0..1; null for an empty class). */
  intact: { accuracy: number; perClass: Array<number | null> };
  /** The ablated network before retraining, on the test data, likewise. */
  ablated: { accuracy: number; perClass: Array<number | null> };
  /** One entry per retraining epoch, in order. */
  epochs: RecoveryEpoch[];
  /** With `control`: the intact network retrained with the same budget, its test accuracy per epoch; else null. */
  control: Array<{ epoch: number; trainLoss: number; accuracy: number; perClass: Array<number | null> }> | null;
  /** The retrained network (ONNX with lesion's metadata). */
  recovered: Uint8Array;
  /** How it retrained (the defaults filled in), to replay it: README "Recovery". */
  settings: { optimizer: "sgd" | "adam"; lr: number; momentum: number; batchSize: number; epochs: number; seed: number };
  /** Problems in the model worth a user's attention that do not stop the run (non-finite weights), as `evaluate`'s. */
  warnings: string[];
}

/**
 * What `recover` checks before any work, for a caller that must know before it starts (the command line, before it
 * claims an output directory whose previous run `--overwrite` would remove). Returns the site.
 * @throws LesionError as `recover` does before training: `unknown-site`, `unit-out-of-range`, `bad-units`, `bad-option`
 * (a learning rate ≤ 0, an SGD momentum outside [0, 1)), `unsupported-op`, `shape-mismatch`, `bad-data`, `label-out-of-range`.
 */
export function checkRecover(model: LesionModel, data: Dataset, options: Pick<RecoverOptions, "site" | "units" | "lr" | "momentum" | "optimizer" | "test" | "free">): Site {
  checkData(model, data);
  checkData(model, options.test);
  const site = resolveSite(model, options.site);
  checkUnits(site, options.units);
  checkLearningRate(options.lr);
  checkMomentum(options.optimizer, options.momentum);
  if (options.units.length === 0) fail("bad-units", "recover needs at least one unit to ablate");
  recoverableSite(model, site.name, options.free ?? false);
  return site;
}

/**
 * Recovery after ablation (Meyes et al. 2019): the network retrained on `data` with `units` of `site` held at zero
 * ("held") or released ("free"), measured on `options.test` after every epoch (accuracy and per-class accuracy,
 * fractions 0..1), with the intact and ablated baselines and, with `control`, the intact network retrained with the
 * same budget.
 * @throws LesionError `unknown-site` (a site not in the model, or not the output of a trainable layer);
 * `unit-out-of-range`; `bad-units` (no units); `unsupported-op` (layers lesion cannot train; a residual block's output
 * it cannot hold, see recoverableSite); `bad-option` (a learning rate ≤ 0; `free` at a residual block's output); `shape-mismatch` (images
 * of another shape than the model takes), `bad-data` (an image folder not matched to the model's classes),
 * `label-out-of-range` (a label beyond the model's classes); `bad-option` (training diverged: a non-finite loss);
 * `aborted` (options.signal).
 */
export async function recover(model: LesionModel, data: Dataset, options: RecoverOptions): Promise<RecoverResult> {
  const site = checkRecover(model, data, options);
  const { network, values, layer, pin } = recoverableSite(model, site.name, options.free ?? false);
  const free = options.free ?? false;
  // What the result and the saved model's record name: each unit once, ascending.
  const units = [...new Set(options.units)].sort((a, b) => a - b);
  const masks = { [layer]: options.units };
  const optimizer = options.optimizer ?? "sgd";
  const lr = options.lr ?? defaultLearningRate(network, optimizer);
  const train = networkInputs(data, model.preprocessing);
  const test = networkInputs(options.test, model.preprocessing);
  const k = model.numClasses;
  const intact = await evaluateNetwork(network, values, {}, test, k, options.threads);
  // Held units start with zero incoming weights too: their output is masked and they get no gradient, so this changes
  // nothing for finite weights, and a NaN or infinite weight cannot reach the network through mask·NaN.
  // Free units start from fresh weights: at zero a ReLU unit's gradient is 0 and it could never learn again, so
  // "free" gave the held result (a new-user trial found free and held models bit-identical).
  const start = free ? reinitIncoming(network, values, layer, options.units, options.seed ?? 0) : zeroIncoming(network, values, layer, options.units);
  const ablated = await evaluateNetwork(network, start, masks, test, k, options.threads);
  const batches = Math.ceil(data.n / (options.batchSize ?? 128));
  const epochs = options.epochs ?? 3;
  const control = options.control ?? false;
  const run = (parameters: Map<string, Float32Array>, held: Record<number, number[]>, offset: number) => trainNetwork(network, {
    optimizer,
    momentum: options.momentum ?? 0.9,
    weightDecay: 0,
    betas: [0.9, 0.999],
    eps: 1e-8,
    masks: held,
    epochs,
    batchSize: options.batchSize ?? 128,
    lr,
    seed: options.seed ?? 0,
    parameters,
    train,
    test,
    classes: k,
    threads: options.threads,
    signal: options.signal,
    onStep: (done) => options.onProgress?.({ phase: "recover", done: offset + done, total: (control ? 2 : 1) * epochs * batches }),
  });
  const trained = await run(start, free ? {} : masks, 0);
  const controlRun = control ? await run(values, {}, epochs * batches) : null;
  const fraction = (after: number | null, before: number | null, full: number | null) =>
    after === null || before === null || full === null || full - before <= 0 ? null : (after - before) / (full - before);
  const final = free ? trained.parameters : pin !== null ? pinChannels(network, trained.parameters, pin, options.units) : zeroIncoming(network, trained.parameters, layer, options.units);
  return {
    model: model.name,
    site: site.name,
    units,
    mode: free ? "free" : "held",
    classNames: classNames(model, data),
    intact,
    ablated,
    epochs: trained.history.map((e) => ({
      ...e,
      accuracy: e.testAccuracy!,
      perClass: e.testPerClass!,
      recovered: fraction(e.testAccuracy, ablated.accuracy, intact.accuracy),
      recoveredPerClass: e.testPerClass!.map((p, c) => fraction(p, ablated.perClass[c], intact.perClass[c])),
    })),
    control: controlRun ? controlRun.history.map((e) => ({ epoch: e.epoch, trainLoss: e.trainLoss, accuracy: e.testAccuracy!, perClass: e.testPerClass! })) : null,
    settings: { optimizer, lr, momentum: options.momentum ?? 0.9, batchSize: options.batchSize ?? 128, epochs, seed: options.seed ?? 0 },
    recovered: withRecoveryRecord(classifierBytes(network, final, model.preprocessing, model.classNames), { site: site.name, units, mode: free ? "free" : "held", from: model.sha256 }),
    warnings: [...model.warnings, ...sameDataWarning(data, options.test), ...worseWarning(trained.history, ablated.accuracy, controlRun?.history ?? null, intact.accuracy, lr), ...wholeSiteWarning(site, units, free)],
  };
}

/**
 * Retraining that ends more than 5 pp below where it started (the ablated network; the control, the intact one) took
 * steps too large for the network: a ResNet whose BatchNorm the exporter folded into its convs collapsed to 10–18 % at
 * SGD lr 0.01 in lesion and in PyTorch alike, and retrained at 0.001 (now its default: defaultLearningRate).
 */
function worseWarning(history: Array<{ testAccuracy: number | null }>, ablated: number, control: Array<{ testAccuracy: number | null }> | null, intact: number, lr: number): string[] {
  const last = (h: Array<{ testAccuracy: number | null }>) => h[h.length - 1]?.testAccuracy ?? null;
  const pct = (x: number) => `${(100 * x).toFixed(2)} %`;
  const worse = (after: number | null, before: number) => after !== null && after < before - 0.05;
  const parts = [
    ...(worse(last(history), ablated) ? [`the retrained network ends at ${pct(last(history)!)} against ${pct(ablated)} ablated`] : []),
    ...(control && worse(last(control), intact) ? [`the control at ${pct(last(control)!)} against ${pct(intact)} intact`] : []),
  ];
  return parts.length === 0 ? [] : [`retraining made the network worse (${parts.join("; ")}): the steps are likely too large for it; give a smaller \`lr\` (${lr} now)`];
}

/** PyTorch's usual step per optimizer. */
export const USUAL_LEARNING_RATE = { sgd: 0.01, adam: 0.001 } as const;

/** PyTorch's usual step (USUAL_LEARNING_RATE), a tenth of it for a residual network without BatchNorm. */
export function defaultLearningRate(network: Network, optimizer: "sgd" | "adam"): number {
  const folded = network.layers.some((l) => l.op === "add") && !network.layers.some((l) => l.op === "batchnorm");
  return USUAL_LEARNING_RATE[optimizer] * (folded ? 0.1 : 1);
}

/**
 * The trainable network of `model`, its parameter values, the index of the layer whose output is `siteName`, and at a
 * residual block's output the layer whose channels hold its units (`pin`, see pinChannels; else null): what
 * `recover` retrains. A study with recovery asks before its first step.
 * @throws LesionError `unsupported-op` (layers lesion cannot train, naming the first; a residual block's output with no
 * ReLU after its Add or no branch layer to pin); `bad-option` (`free` at a residual block's output);
 * `unknown-site` (a site no trainable layer computes).
 */
export function recoverableSite(model: LesionModel, siteName: string, free = false): { network: Network; values: Map<string, Float32Array>; layer: number; pin: number | null } {
  let why = "";
  const found = networkOf(model.proto, model.inputShape, (reason) => (why = reason));
  if (!found) fail("unsupported-op", `${model.name} has layers lesion cannot train (it trains Linear, Conv, BatchNorm, pooling and activations, in chains or residual blocks): ${why}`);
  const { network, values } = found;
  const layer = siteLayerIndex(network, siteName);
  if (layer < 0) fail("unknown-site", `site ${siteName} is not the output of a trainable layer of ${model.name}`, { model: model.name, site: siteName, closest: [] });
  // A residual block's output is the sum of its branches: held units are pinned below zero in one branch before a
  // ReLU (pinChannels). Without a ReLU right after the join, or a branch layer to pin, the retrained model could
  // not keep them ablated (the mask that holds them in training is not part of a model).
  const owner = ownerOf(network, layer);
  if (network.layers[owner]?.op !== "add") return { network, values, layer, pin: null };
  const inside = model.sites.filter((s) => s.name.startsWith(`${siteName}.`)).map((s) => s.name);
  const elsewhere = `recover a site inside the block${inside.length > 0 ? ` (${inside.join(", ")})` : " (a conv's output: `lesion info` lists them)"}`;
  if (free) fail("bad-option", `site ${siteName} is a residual block's output: its units have no incoming weights of their own to learn again from fresh ones (\`free\`); hold them (without \`free\`), or ${elsewhere}`, { options: ["free"], value: true });
  const pin = pinnableInput(network, owner, values);
  if (!(network.layers[layer].op === "relu" && inputOf(network, layer) === owner && pin >= 0)) {
    fail("unsupported-op", `site ${siteName} is a residual block's output (the sum of its branches) with no ReLU right after the join or no BatchNorm, Linear or Conv with a bias feeding it: its units cannot be held at zero in the retrained model; ${elsewhere}`, { site: siteName, op: "Add" });
  }
  return { network, values, layer, pin };
}

/** A recovery measured on the images it retrains on (`--data cifar10:test` with the default test set) says so. */
function sameDataWarning(data: Dataset, test: Dataset): string[] {
  const same = data === test || (data.n === test.n && dataIdentity(data).sha256 === dataIdentity(test).sha256);
  return same ? [`the test data is the training data (${test.spec}): recovery is measured on the images the network retrains on; give \`test\` another set`] : [];
}

/**
 * A copy of `values` in which `units` of the Linear/Conv layer behind `layer` have fresh incoming weights and bias,
 * drawn as PyTorch initialises them (U(−1/√fanIn, 1/√fanIn), seeded), and a BatchNorm after it has γ = 1, β = 0 for
 * them: the units of a free recovery, which then learn again.
 */
function reinitIncoming(network: Network, values: Map<string, Float32Array>, layer: number, units: number[], seed: number): Map<string, Float32Array> {
  const rand = seeded(seed * 7919 + 23);
  return replaceIncoming(network, values, layer, units, (fanIn) => {
    const bound = 1 / Math.sqrt(fanIn);
    return () => (rand() * 2 - 1) * bound;
  }, { weight: 1, bias: 0 });
}

/**
 * A copy of the parameters with the held units' incoming weights and bias zeroed (the layer feeding site `layer`).
 * With a BatchNorm between that layer and the site, its γ and β are zeroed too: the unit's output is then exactly zero
 * whatever the running statistics (γ·x̂ + β = 0).
 */
function zeroIncoming(network: Network, values: Map<string, Float32Array>, layer: number, units: number[]): Map<string, Float32Array> {
  return replaceIncoming(network, values, layer, units, () => () => 0, { weight: 0, bias: 0 });
}

/**
 * A copy of `values` in which `units` (in ascending order) of the Linear/Conv layer behind site `layer` get incoming
 * weights, then biases, from `draw(fanIn)`, and a BatchNorm between that layer and the site the γ and β of `norm`.
 */
function replaceIncoming(network: Network, values: Map<string, Float32Array>, layer: number, units: number[], draw: (fanIn: number) => () => number, norm: { weight: number; bias: number }): Map<string, Float32Array> {
  const owner = ownerOf(network, layer);
  const l = network.layers[owner];
  if (l.op !== "linear" && l.op !== "conv") return values;
  const copy = new Map(values);
  const sorted = [...units].sort((a, b) => a - b);
  const fanIn = copy.get(`${l.name}.weight`)!.length / l.out;
  const value = draw(fanIn);
  setUnits(copy, `${l.name}.weight`, sorted, fanIn, value);
  setUnits(copy, `${l.name}.bias`, sorted, 1, value);
  const bn = network.layers[owner + 1];
  if (bn?.op === "batchnorm" && inputOf(network, owner + 1) === owner && owner + 1 <= layer) {
    setUnits(copy, `${bn.name}.weight`, sorted, 1, () => norm.weight);
    setUnits(copy, `${bn.name}.bias`, sorted, 1, () => norm.bias);
  }
  return copy;
}

/** Replaces in `copy` the entries of parameter `name` that belong to `units` (`per` entries each, in order) by `value()`, on a copy of the array; a parameter the network lacks is left out. */
function setUnits(copy: Map<string, Float32Array>, name: string, units: number[], per: number, value: () => number): void {
  const array = copy.get(name);
  if (!array) return;
  const next = Float32Array.from(array);
  for (const u of units) for (let i = u * per; i < (u + 1) * per; i++) next[i] = value();
  copy.set(name, next);
}

/** What a pinned unit's branch outputs: below any other finite branch's value, so the ReLU after the join gives 0. */
const PINNED = -1e30;

/**
 * The input of residual join `add` whose channels can be pinned: a BatchNorm, or a Linear/Conv with a bias, read by
 * the join directly (the block's own branch first, then the shortcut's); −1 if neither.
 */
function pinnableInput(network: Network, add: number, values: Map<string, Float32Array>): number {
  const join = network.layers[add] as { from: number };
  for (const i of [inputOf(network, add), join.from]) {
    const l = network.layers[i];
    if ((l?.op === "batchnorm" || l?.op === "linear" || l?.op === "conv") && values.has(`${l.name}.weight`) && values.has(`${l.name}.bias`)) return i;
  }
  return -1;
}

/**
 * A copy of the parameters in which `units` of a residual block's output (a ReLU after the join) are exactly zero:
 * their channels of layer `pin` (pinnableInput) output −1e30 (BatchNorm: γ = 0, β = −1e30; Linear/Conv: weights 0,
 * bias −1e30), so the join stays below zero for any other branch's value under 1e30.
 */
function pinChannels(network: Network, values: Map<string, Float32Array>, pin: number, units: number[]): Map<string, Float32Array> {
  const { name } = network.layers[pin] as { name: string };
  const copy = new Map(values);
  const channels = copy.get(`${name}.bias`)!.length;
  setUnits(copy, `${name}.weight`, units, copy.get(`${name}.weight`)!.length / channels, () => 0);
  setUnits(copy, `${name}.bias`, units, 1, () => PINNED);
  return copy;
}

/** The layer that computes site `layer`'s units: following inputs back to a Linear, Conv or residual Add (−1: none). */
function ownerOf(network: Network, layer: number): number {
  let owner = layer;
  while (owner >= 0 && !["linear", "conv", "add"].includes(network.layers[owner].op)) owner = inputOf(network, owner);
  return owner;
}

/** The metadata key of a retrained model's record: which units of which site were held or freed, from which model. */
export const RECOVER_KEY = "lesion.recover";

/** The model bytes with what the recovery did recorded in their metadata (`lesion.recover`, JSON). */
function withRecoveryRecord(bytes: Uint8Array, record: { site: string; units: number[]; mode: "held" | "free"; from: string }): Uint8Array {
  const proto = decodeModel(bytes);
  setMetadataValue(proto, RECOVER_KEY, JSON.stringify(record));
  return encodeModel(proto);
}

/**
 * Every unit of the site (`units`: distinct) held at zero: the site's output is constant, so no information passes it and what the
 * retraining brings back is only what the layers after it learn to guess (a trial's "recovered 1.86 %" of fc1's 100
 * units, without a word).
 */
function wholeSiteWarning(site: { name: string; units: number }, units: readonly number[], free: boolean): string[] {
  if (free || units.length < site.units) return [];
  return [`every unit of ${site.name} (${site.units}) is held at zero: nothing passes the site, so retraining can only fit the layers after it to a constant input`];
}
