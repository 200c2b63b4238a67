/**
 * The training loop: one onnxruntime session runs a whole training step (src/onnx/trainGraph.ts); parameters and
 * optimizer state go in and come out each step. Everything random is seeded per (seed, epoch, step), so a run is
 * the same bit for bit on a machine, and a run resumed from its saved epoch state continues exactly as it would have.
 */
import { fail, yieldThenCheck } from "../errors.js";
import { seeded, shuffle } from "../random.js";
import { encodeModel } from "../onnx/proto.js";
import { buffers, layerShapes, parameters, type Network } from "../onnx/network.js";
import { dropoutInput, forwardModel, LOGITS_OUTPUT, LOSS_OUTPUT, maskInput, stateNames, STEP_INPUTS, trainStepModel, updated, type StepOptions } from "../onnx/trainGraph.js";
import { createSession, defaultThreads, OrtTensor, type OrtSession } from "./ort.js";
import { crossEntropy } from "./sweep/logits.js";

export interface TrainingData {
  /** n × sample-size network inputs, preprocessed, in the network's input layout. */
  inputs: Float32Array;
  labels: Int32Array;
}

export interface TrainNetworkOptions extends StepOptions {
  epochs: number;
  batchSize: number;
  lr: number;
  seed: number;
  /** Parameter values to start from, by name, and the buffers (BatchNorm running statistics) when the network has any. */
  parameters: Map<string, Float32Array>;
  /** Optimizer state to continue from (a resumed run); default zeros. */
  state?: Map<string, Float32Array>;
  /** Epochs already done (a resumed run). Default 0. */
  startEpoch?: number;
  train: TrainingData;
  /** Evaluated after every epoch when given. */
  test?: TrainingData;
  classes: number;
  threads?: number;
  /** Called after every epoch with its figures and the live parameters and state (for the saved epoch state). */
  onEpoch?: (epoch: EpochResult, parameters: Map<string, Float32Array>, state: Map<string, Float32Array>) => void;
  onStep?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

/** One training epoch's figures (`TrainResult.history`, MODEL.history.json, the report's training curve). */
export interface EpochResult {
  /** 1-based epoch number. */
  epoch: number;
  /** Mean training loss over the epoch's steps. */
  trainLoss: number;
  /** Accuracy on the test data after the epoch, a fraction 0..1; null without test data. */
  testAccuracy: number | null;
  /** Mean cross-entropy on the test data after the epoch (nats; float32 logits, float64 softmax); null without test data. */
  testLoss: number | null;
  /** Per-class test accuracy [classes], fractions 0..1 (null for a class without test samples); null without test data. */
  testPerClass: Array<number | null> | null;
  /** Wall-clock seconds of the epoch, its test evaluation included. */
  seconds: number;
}

export interface TrainedNetwork {
  /** Trained parameters and updated buffers (BatchNorm running statistics), by name. */
  parameters: Map<string, Float32Array>;
  state: Map<string, Float32Array>;
  history: EpochResult[];
}

/**
 * Throws LesionError `bad-option` for a learning rate that is not a positive number (a negative one climbs the loss
 * and had been reported as a divergence: "lower --lr (-1 now)").
 */
export function checkLearningRate(lr: number | undefined): void {
  if (lr !== undefined && !(Number.isFinite(lr) && lr > 0)) fail("bad-option", `\`lr\` (the learning rate) must be a positive number, got ${lr}`, { options: ["lr"], value: lr });
}

/**
 * Throws LesionError `bad-option` for an SGD momentum outside [0, 1): from 1 up the velocity grows without bound (a
 * trial's 1.5 diverged, and the divergence warning blamed the learning rate). Adam has none (`optimizer` "adam").
 */
export function checkMomentum(optimizer: "sgd" | "adam" | undefined, momentum: number | undefined): void {
  if ((optimizer ?? "sgd") === "sgd" && momentum !== undefined && !(momentum >= 0 && momentum < 1)) fail("bad-option", `\`momentum\` must be at least 0 and below 1, got ${momentum}`, { options: ["momentum"], value: momentum });
}

export async function trainNetwork(network: Network, options: TrainNetworkOptions): Promise<TrainedNetwork> {
  checkLearningRate(options.lr);
  checkMomentum(options.optimizer, options.momentum);
  const threads = options.threads ?? defaultThreads();
  const params = parameters(network);
  const shapes = layerShapes(network);
  const size = network.inputShape.reduce((a, b) => a * b, 1);
  const n = options.train.labels.length;
  if (options.train.inputs.length !== n * size) fail("shape-mismatch", `training inputs hold ${options.train.inputs.length / n} values per sample; the network takes ${size}`, { expected: [size], actual: [options.train.inputs.length / n] });
  // A CNN's step runs back to back with multithreaded convolutions: threads that spin between steps made an epoch of
  // cnn:small ~1.2× faster (farm-bench, 5 pairs, idle 2-core machine), where an MLP's epoch was ~1.1× slower.
  const step = await createSession(encodeModel(trainStepModel(network, options)), threads, { spinning: network.layers.some((l) => l.op === "conv") });
  const evaluator = options.test ? await createSession(encodeModel(forwardModel(network, options.masks)), threads) : null;
  try {
    const values = new Map(options.parameters);
    const state = options.state ? new Map(options.state) : new Map(params.flatMap((p) => stateNames(options.optimizer, p.name).map((s) => [s, new Float32Array(values.get(p.name)!.length)] as const)));
    const masks = maskFeeds(shapes, options.masks);
    const history: EpochResult[] = [];
    // A batch larger than the data is the whole data (`--batch-size 1e9` had tried to allocate 1e9 samples).
    const batchSize = Math.min(options.batchSize, n);
    const batches = Math.ceil(n / batchSize);
    let t = (options.startEpoch ?? 0) * batches;
    const x = new Float32Array(batchSize * size);
    const y = new Int32Array(batchSize);
    for (let epoch = (options.startEpoch ?? 0) + 1; epoch <= options.epochs; epoch++) {
      const started = performance.now();
      const order = permutation(n, seeded(options.seed * 1000003 + epoch));
      let lossSum = 0;
      for (let b = 0; b < batches; b++) {
        await yieldThenCheck(options.signal);
        const count = Math.min(batchSize, n - b * batchSize);
        for (let r = 0; r < count; r++) {
          const s = order[b * batchSize + r];
          x.set(options.train.inputs.subarray(s * size, (s + 1) * size), r * size);
          y[r] = options.train.labels[s];
        }
        t++;
        const feeds: Record<string, OrtTensor> = {
          [STEP_INPUTS.x]: new OrtTensor("float32", x.subarray(0, count * size), [count, ...network.inputShape]),
          [STEP_INPUTS.y]: new OrtTensor("int32", y.subarray(0, count), [count]),
          [STEP_INPUTS.lr]: new OrtTensor("float32", new Float32Array([options.lr]), []),
          ...masks,
        };
        if (options.optimizer === "adam") {
          feeds[STEP_INPUTS.c1] = new OrtTensor("float32", new Float32Array([1 / (1 - options.betas[0] ** t)]), []);
          feeds[STEP_INPUTS.c2] = new OrtTensor("float32", new Float32Array([1 / (1 - options.betas[1] ** t)]), []);
        }
        Object.assign(feeds, valueFeeds(network, values));
        for (const p of params) for (const s of stateNames(options.optimizer, p.name)) feeds[s] = new OrtTensor("float32", state.get(s)!, p.shape);
        network.layers.forEach((layer, i) => {
          if (layer.op !== "dropout") return;
          const units = shapes[i].reduce((a, c) => a * c, 1);
          const rand = seeded(((options.seed * 1000003 + epoch) * 1000003 + b) * 31 + i);
          const keep = 1 - layer.p;
          const mask = Float32Array.from({ length: count * units }, () => (rand() < keep ? 1 / keep : 0));
          feeds[dropoutInput(i)] = new OrtTensor("float32", mask, [count, ...shapes[i]]);
        });
        const out = await step.run(feeds);
        lossSum += (out[LOSS_OUTPUT].data as Float32Array)[0];
        for (const b of buffers(network)) values.set(b.name, out[updated(b.name)].data as Float32Array);
        for (const p of params) {
          values.set(p.name, out[updated(p.name)].data as Float32Array);
          for (const s of stateNames(options.optimizer, p.name)) state.set(s, out[updated(s)].data as Float32Array);
        }
        options.onStep?.((epoch - 1 - (options.startEpoch ?? 0)) * batches + b + 1, (options.epochs - (options.startEpoch ?? 0)) * batches);
      }
      // A loss that is no longer finite is a diverged run (or NaN in the network): its weights are garbage, and a
      // model written from them would "succeed" (a trial's --lr 1e30 wrote a NaN model with exit 0).
      if (!Number.isFinite(lossSum)) {
        fail("bad-option", `the training loss of epoch ${epoch} is ${lossSum} (not finite): training diverged; lower \`lr\` (${options.lr} now), or check the network and data for NaN`, { options: ["lr"], value: options.lr });
      }
      const tested = evaluator && options.test ? await score(evaluator, network, values, masks, options.test, options.classes) : null;
      const result: EpochResult = { epoch, trainLoss: lossSum / batches, testAccuracy: tested?.accuracy ?? null, testLoss: tested?.loss ?? null, testPerClass: tested?.perClass ?? null, seconds: (performance.now() - started) / 1000 };
      history.push(result);
      options.onEpoch?.(result, values, state);
    }
    return { parameters: values, state, history };
  } finally {
    await step.release();
    await evaluator?.release();
  }
}

/** What evaluateNetwork measures: accuracy overall and per class (fractions 0..1; null for a class without samples) and the mean cross-entropy (nats). */
export interface NetworkScore {
  accuracy: number;
  perClass: Array<number | null>;
  loss: number;
}

/** Accuracy overall and per class, and the mean cross-entropy, of the network with the given parameters (masks applied). */
export async function evaluateNetwork(network: Network, values: Map<string, Float32Array>, masks: Record<number, number[]>, data: TrainingData, classes: number, threads = defaultThreads()): Promise<NetworkScore> {
  const session = await createSession(encodeModel(forwardModel(network, masks)), threads);
  try {
    return await score(session, network, values, maskFeeds(layerShapes(network), masks), data, classes);
  } finally {
    await session.release();
  }
}

async function score(session: OrtSession, network: Network, values: Map<string, Float32Array>, masks: Record<string, OrtTensor>, data: TrainingData, classes: number): Promise<NetworkScore> {
  const size = network.inputShape.reduce((a, b) => a * b, 1);
  const n = data.labels.length;
  const correct = new Array<number>(classes).fill(0);
  const counts = new Array<number>(classes).fill(0);
  let loss = 0;
  const batch = 2048;
  for (let start = 0; start < n; start += batch) {
    const count = Math.min(batch, n - start);
    const feeds: Record<string, OrtTensor> = { [STEP_INPUTS.x]: new OrtTensor("float32", data.inputs.subarray(start * size, (start + count) * size), [count, ...network.inputShape]), ...masks, ...valueFeeds(network, values) };
    const logits = (await session.run(feeds))[LOGITS_OUTPUT].data as Float32Array;
    for (let r = 0; r < count; r++) {
      let best = 0;
      for (let c = 1; c < classes; c++) if (logits[r * classes + c] > logits[r * classes + best]) best = c;
      const label = data.labels[start + r];
      // As evaluate's: float64 cross-entropy of the float32 logits.
      loss += crossEntropy(logits, label, r * classes, classes);
      counts[label]++;
      if (best === label) correct[label]++;
    }
  }
  return { accuracy: correct.reduce((a, b) => a + b, 0) / n, perClass: correct.map((c, k) => (counts[k] === 0 ? null : c / counts[k])), loss: loss / n };
}

/** Parameters and buffers as graph feeds; a missing value is a caller's bug. */
function valueFeeds(network: Network, values: Map<string, Float32Array>): Record<string, OrtTensor> {
  const feeds: Record<string, OrtTensor> = {};
  for (const p of [...parameters(network), ...buffers(network)]) {
    const value = values.get(p.name);
    if (!value) throw new Error(`no value for ${p.name}`);
    feeds[p.name] = new OrtTensor("float32", value, p.shape);
  }
  return feeds;
}

function maskFeeds(shapes: number[][], masks: Record<number, number[]>): Record<string, OrtTensor> {
  const feeds: Record<string, OrtTensor> = {};
  for (const [key, units] of Object.entries(masks)) {
    const i = Number(key);
    const channels = shapes[i][0];
    const mask = new Float32Array(channels).fill(1);
    for (const u of units) mask[u] = 0;
    feeds[maskInput(i)] = new OrtTensor("float32", mask, [1, channels, ...shapes[i].slice(1).map(() => 1)]);
  }
  return feeds;
}

/** A seeded permutation of 0..n−1. */
function permutation(n: number, rand: () => number): number[] {
  return shuffle(Array.from({ length: n }, (_, i) => i), rand);
}
