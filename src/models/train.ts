/**
 * Training networks with lesion's own engine (src/engine/train.ts): the default network of a study, the papers'
 * networks, and the starting point of recovery. Initialisation is PyTorch's default for Linear and Conv
 * (uniform in ±1/√fan-in for weights and biases), drawn from a seeded generator; data are shuffled per epoch with a
 * seed derived from (seed, epoch). The initial weights are returned too (Meyes et al. compare trained with initial
 * weights). With `epochState`, the state after every epoch is saved there and a rerun resumes from it (a `resume` progress event says so: `done` of `total` epochs, `detail` the path).
 */
import { rmSync } from "node:fs";
import { matchClassNames } from "../data/matchClassNames.js";
import { withoutClasses } from "../data/pickSamples.js";
import type { Dataset } from "../data/types.js";
import { fail } from "../errors.js";
import { dataIdentity, type DataIdentity } from "../data/dataIdentity.js";
import { fillInput } from "../engine/input.js";
import { trainNetwork, type EpochResult, type TrainingData } from "../engine/train.js";
import { writeFileAtomic } from "../files.js";
import { buildClassifier } from "../onnx/build.js";
import { checkChannels, checkMeanStd, writeMetadata, type Preprocessing } from "../onnx/metadata.js";
import { buffers, classifierLayers, parameters, type Network } from "../onnx/network.js";
import { encodeModel } from "../onnx/proto.js";
import { seeded } from "../random.js";
import type { Progress } from "../progress.js";
import { decodeValues, encodeValues, readEpochState } from "./epochState.js";
import { zooNetwork } from "./zoo.js";

/** Options of `train` (`lesion train`'s flags). */
export interface TrainOptions {
  /** An architecture in the grammar of src/models/arch.ts: `mlp:784-100-100-100-10`, `cnn:small`, `vgg:small` (BatchNorm), or a layer list whose conv and linear layers give `out`. */
  arch: string;
  /** Evaluated after every epoch. Default: none. */
  test?: Dataset;
  /** Default 10. */
  epochs?: number;
  /** Default 128. */
  batchSize?: number;
  /** Default "sgd". */
  optimizer?: "sgd" | "adam";
  /** Default 0.02 for SGD, 0.001 for Adam. */
  lr?: number;
  /** SGD momentum, in [0, 1). Default 0.9; unused by Adam (the result's `options.momentum` is then null). */
  momentum?: number;
  /** Default 0. */
  weightDecay?: number;
  /** Default 0. */
  seed?: number;
  /** Input normalisation stored in the model. Default mean 0.5, std 0.5 (pixels to [−1, 1], as Meyes et al.). */
  mean?: number[];
  /** Per-channel divisor after the mean, stored in the model. Default [0.5]. */
  std?: number[];
  /** Path of the epoch state to write after every epoch, and to resume from when it exists; removed at the end unless `keepEpochState`. Default: none. */
  epochState?: string;
  /** Leave the epoch state in place at the end (the command line removes it once the model is written). Default false. */
  keepEpochState?: boolean;
  /**
   * Classes (indices) whose samples are left out of the training data; the network keeps an output for each class.
   * A transplant's recipient that never saw a class (README: Transplant). Default: none.
   */
  excludeClasses?: number[];
  /** onnxruntime intra-op threads of the training session. Default: every core. */
  threads?: number;
  /** Progress events: phase "train" (`done` of `total` optimisation steps), once "resume" when an epoch state was read. */
  onProgress?: (event: Progress) => void;
  /** Called after each epoch with its figures. */
  onEpoch?: (epoch: EpochResult) => void;
  /** Aborts training with LesionError `aborted` (the epoch state keeps the finished epochs). */
  signal?: AbortSignal;
}

/** What `train` made: the trained and initial models and the history per epoch. */
export interface TrainResult {
  /** The architecture spec, as given. */
  arch: string;
  /** The training data's spec; with `excludeClasses`, "SPEC without class 3" (or "classes 3, 5"). */
  data: string;
  /** The spec of the data each epoch's test accuracy is measured on; null without test data. */
  test: string | null;
  /** The trained model: ONNX with lesion's metadata. */
  model: Uint8Array;
  /** The same network with its initial weights. */
  initial: Uint8Array;
  /** One entry per epoch, in order (a resumed run's earlier epochs included). */
  history: EpochResult[];
  /** The settings used, defaults filled in. */
  options: { epochs: number; batchSize: number; optimizer: "sgd" | "adam"; lr: number; momentum: number | null; weightDecay: number; seed: number };
  /** Problems worth a user's attention that did not stop training (a network that did not learn: notLearntWarning). */
  warnings: string[];
}

interface EpochState {
  /**
   * What a resumed run must share (more epochs may be asked for): the architecture, the training data's and test data's
   * identity (spec, size, SHA-256 of the loaded content), the input normalisation and the optimisation settings.
   */
  header: { arch: string; data: DataIdentity; test: DataIdentity | null; mean: number[]; std: number[]; options: Omit<TrainResult["options"], "epochs"> };
  epoch: number;
  history: EpochResult[];
  parameters: Record<string, string>;
  state: Record<string, string>;
  initial: Record<string, string>;
}

/**
 * The content of MODEL.history.json beside a trained model: architecture, training and test data specs, options and
 * the per-epoch history (what the report's training curve reads). Throws nothing.
 */
export function trainingHistory(result: TrainResult): { arch: string; data: string; test: string | null; options: TrainResult["options"]; history: EpochResult[] } {
  return { arch: result.arch, data: result.data, test: result.test, options: result.options, history: result.history };
}

/**
 * Trains a network of the zoo (`arch`: "mlp:784-100-10" widths or a named CNN) on `data` with lesion's engine (SGD
 * with momentum or Adam, as torch.optim; PyTorch's default initialisation, seeded), and returns the trained and the
 * initial model (ONNX bytes with lesion's metadata) and the history per epoch (train loss, test accuracy as a fraction
 * 0..1). With `epochState`, the state after every epoch is saved there and a rerun resumes from it (a `resume` progress event says so: `done` of `total` epochs, `detail` the path).
 * @throws LesionError `bad-arch` (an architecture the zoo cannot read or that does not fit the data); `bad-option`
 * (a negative or non-finite setting, epochs or batchSize below 1, an excluded class out of range or one that leaves no
 * sample); `resume-mismatch` (an epoch state of another run, naming what differs; unreadable; or holding more epochs than asked for); `unwritable-path` (the epoch state);
 * `shape-mismatch` (test images of another shape); `label-out-of-range` (a test label that is no class of the training
 * data); `bad-data` (a test image folder's sub-folder that is no class of the training data); `aborted` (options.signal).
 */
export async function train(all: Dataset, options: TrainOptions): Promise<TrainResult> {
  const data = options.excludeClasses && options.excludeClasses.length > 0 ? withoutClasses(all, options.excludeClasses) : all;
  const test = options.test ? testDataFor(options.test, all) : undefined;
  const network = zooNetwork(options.arch, data.shape, data.numClasses);
  const settings = trainSettings(options);
  // As import checks them: a count that fits neither one value nor one per channel would be misread at evaluation.
  checkMeanStd(options.mean, options.std);
  const preprocessing: Preprocessing = { layout: "nchw", mean: options.mean ?? [0.5], std: options.std ?? [0.5], imageShape: data.shape };
  checkChannels(preprocessing, data.shape[0]);
  const initial = initialParameters(network, settings.seed);
  const { epochs: _epochs, ...shared } = settings;
  // The data's identities hash their content: computed only for a run that saves its state.
  const header: EpochState["header"] | null = options.epochState
    ? { arch: options.arch, data: dataIdentity(data), test: test ? dataIdentity(test) : null, mean: preprocessing.mean, std: preprocessing.std, options: shared }
    : null;
  const resumed = options.epochState ? readEpochState<EpochState>(options.epochState, header!, "a training run", settings.epochs, (s) => s.epoch) : null;
  if (resumed) options.onProgress?.({ phase: "resume", done: resumed.epoch, total: settings.epochs, detail: options.epochState });
  const started = resumed?.epoch ?? 0;
  const history: EpochResult[] = resumed?.history ?? [];
  const batches = Math.ceil(data.n / settings.batchSize);
  const trained = await trainNetwork(network, {
    ...settings,
    momentum: settings.momentum ?? 0,
    betas: [0.9, 0.999],
    eps: 1e-8,
    masks: {},
    parameters: resumed ? decodeValues(resumed.parameters) : initial,
    state: resumed ? decodeValues(resumed.state) : undefined,
    startEpoch: started,
    train: networkInputs(data, preprocessing),
    test: test ? networkInputs(test, preprocessing) : undefined,
    classes: data.numClasses,
    threads: options.threads,
    signal: options.signal,
    onStep: (done, total) => options.onProgress?.({ phase: "train", done: started * batches + done, total: started * batches + total }),
    onEpoch: (epoch, values, state) => {
      history.push(epoch);
      options.onEpoch?.(epoch);
      if (options.epochState) {
        const saved: EpochState = { header: header!, epoch: epoch.epoch, history, parameters: encodeValues(values), state: encodeValues(state), initial: encodeValues(initial) };
        writeFileAtomic(options.epochState, JSON.stringify(saved));
      }
    },
  });
  const result: TrainResult = {
    arch: options.arch,
    data: data.spec,
    test: options.test?.spec ?? null,
    model: classifierBytes(network, trained.parameters, preprocessing, data.classNames),
    initial: classifierBytes(network, resumed ? decodeValues(resumed.initial) : initial, preprocessing, data.classNames),
    history,
    options: settings,
    warnings: notLearntWarning(history, data.numClasses, settings.lr),
  };
  if (options.epochState && !options.keepEpochState) rmSync(options.epochState, { force: true });
  return result;
}

/**
 * The optimisation settings `train` takes from `options`, defaults filled in (TrainResult.options): what a rerun of a
 * training run is compared by, whether a default or the same value was given (`lr` 0.02 is SGD's default).
 * @throws LesionError `bad-option` (a negative or non-finite setting; epochs or batchSize not a whole number ≥ 1).
 */
export function trainSettings(options: Omit<TrainOptions, "arch">): TrainResult["options"] {
  const optimizer = options.optimizer ?? "sgd";
  const settings = {
    epochs: options.epochs ?? 10,
    batchSize: options.batchSize ?? 128,
    optimizer,
    lr: options.lr ?? (optimizer === "sgd" ? 0.02 : 0.001),
    // Adam has none: recorded as null, not a 0.9 it never used.
    momentum: optimizer === "sgd" ? options.momentum ?? 0.9 : null,
    weightDecay: options.weightDecay ?? 0,
    seed: options.seed ?? 0,
  };
  for (const [key, value] of Object.entries(settings)) {
    if (typeof value === "number" && !(Number.isFinite(value) && value >= 0)) fail("bad-option", `\`${key}\` must be a number ≥ 0, got ${value}`, { options: [key], value });
  }
  for (const key of ["epochs", "batchSize"] as const) {
    if (!(Number.isInteger(settings[key]) && settings[key] >= 1)) fail("bad-option", `\`${key}\` must be a whole number ≥ 1, got ${settings[key]}`, { options: [key], value: settings[key] });
  }
  return settings;
}

/**
 * A last epoch whose mean training loss is above ln k, the cross-entropy of a uniform guess over k classes, is a
 * network that learnt nothing or diverged (a trial's `--lr 100` ended at a loss of 214,776 and 10.7 % accuracy, and
 * the model was written without a word; a non-finite loss already stops training).
 */
function notLearntWarning(history: EpochResult[], classes: number, lr: number): string[] {
  const last = history[history.length - 1];
  const uniform = Math.log(classes);
  if (!last || !(last.trainLoss > uniform)) return [];
  const loss = last.trainLoss.toPrecision(4);
  if (last.trainLoss > 2 * uniform) return [`training diverged: the last epoch's mean training loss, ${loss}, is far above ln ${classes} = ${uniform.toFixed(4)}, a uniform guess's; give a smaller \`lr\` (${lr} now)`];
  return [`the network did not learn: the last epoch's mean training loss, ${loss}, is above ln ${classes} = ${uniform.toFixed(4)}, a uniform guess's (labels that do not follow the images, too few epochs, or an \`lr\` too small or too large: ${lr} now)`];
}

/**
 * PyTorch's default initialisation: U(−1/√fanIn, 1/√fanIn) for the weights and biases of Linear and Conv (drawn in
 * layer order from one seeded generator); BatchNorm γ = 1, β = 0, running mean 0 and running variance 1. Throws nothing.
 * @returns parameters and buffers by name (`conv1.weight`, `bn1.running_var`, …).
 */
export function initialParameters(network: Network, seed: number): Map<string, Float32Array> {
  const rand = seeded(seed * 7919 + 17);
  const values = new Map<string, Float32Array>();
  for (const p of parameters(network)) {
    const size = p.shape.reduce((a, b) => a * b, 1);
    if (network.layers[p.layer].op === "batchnorm") values.set(p.name, new Float32Array(size).fill(p.name.endsWith(".weight") ? 1 : 0));
    else values.set(p.name, Float32Array.from({ length: size }, () => (rand() * 2 - 1) * (1 / Math.sqrt(p.fanIn))));
  }
  for (const b of buffers(network)) values.set(b.name, new Float32Array(b.shape[0]).fill(b.name.endsWith(".running_var") ? 1 : 0));
  return values;
}

/**
 * The test data labelled as the training data labels its classes: an image folder matched to its class names by name
 * (a test folder without one of the classes numbers the others differently: a `frog/` would be scored as `dog`), images
 * of its shape, labels among its classes.
 */
function testDataFor(test: Dataset, data: Dataset): Dataset {
  const matched = test.folderClasses ? matchClassNames(test, data.classNames) : test;
  if (matched.shape.join("x") !== data.shape.join("x")) fail("shape-mismatch", `test data ${test.spec} has ${test.shape.join("x")} images but training data ${data.spec} has ${data.shape.join("x")}`, { expected: [...data.shape], actual: [...test.shape] });
  const bad = matched.labels.findIndex((label) => !(label >= 0 && label < data.numClasses));
  if (bad >= 0) fail("label-out-of-range", `label ${matched.labels[bad]} of sample ${bad} in test data ${test.spec} is no class of training data ${data.spec} (0..${data.numClasses - 1})`, { label: matched.labels[bad], sample: bad, numClasses: data.numClasses, source: test.spec });
  return matched;
}

export function networkInputs(data: Dataset, preprocessing: Preprocessing): TrainingData {
  const inputs = new Float32Array(data.images.length);
  fillInput(inputs, data.images, 0, data.n, data.shape, preprocessing);
  return { inputs, labels: data.labels };
}

/** The plain classifier of `network` with `values` as ONNX bytes, with lesion's metadata (class names: none where null). */
export function classifierBytes(network: Network, values: Map<string, Float32Array>, preprocessing: Preprocessing, classNames: string[] | null): Uint8Array {
  const model = buildClassifier({ layers: classifierLayers(network, values), inputShape: network.inputShape });
  writeMetadata(model, { preprocessing, classNames });
  return encodeModel(model);
}

