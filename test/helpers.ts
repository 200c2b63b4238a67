/** Tiny models built in code, and a seeded random source, for tests. */
import { loadDataset } from "../src/data/loadDataset.js";
import { LesionError } from "../src/errors.js";
import type { Dataset } from "../src/data/types.js";
import { train } from "../src/models/train.js";
import { buildClassifier, type LayerSpec } from "../src/onnx/build.js";
import type { DenseChain } from "../src/onnx/chain.js";
import { writeMetadata } from "../src/onnx/metadata.js";
import { decodeModel, encodeModel } from "../src/onnx/proto.js";
import { seeded as random } from "../src/random.js";

/** The project's seeded generator, under the name the tests use. */
export { random };

/** Every layer's output of a dense chain for one input, in float64 loop by loop, `units` of layer `layer` zeroed. */
export function denseForward(chain: DenseChain, input: number[], layer: number, units: number[]): number[][] {
  let x = input;
  return chain.layers.map((l, j) => {
    const y = new Array<number>(l.out).fill(0);
    for (let o = 0; o < l.out; o++) {
      let sum = l.bias ? l.bias[o] : 0;
      for (let i = 0; i < l.in; i++) sum += l.weight[o * l.in + i] * x[i];
      y[o] = l.activation === "relu" ? Math.max(0, sum) : sum;
    }
    if (j === layer) for (const u of units) y[u] = 0;
    return (x = y);
  });
}

/**
 * A dense chain's predictions and summed cross-entropy over `inputs` (the network's input, n × in), in float64
 * (denseForward), with `units` of layer `layer` zeroed after it: the reference the dense sweep is tested against.
 */
export function denseReference(chain: DenseChain, inputs: ArrayLike<number>, labels: Int32Array, layer: number, units: number[]): { predictions: Int32Array; lossSum: number } {
  const width = chain.layers[0].in;
  const n = labels.length;
  const k = chain.layers[chain.layers.length - 1].out;
  const predictions = new Int32Array(n);
  let lossSum = 0;
  for (let s = 0; s < n; s++) {
    const x = denseForward(chain, Array.from({ length: width }, (_, i) => inputs[s * width + i]), layer, units).at(-1)!;
    let best = 0;
    for (let c = 1; c < k; c++) if (x[c] > x[best]) best = c;
    predictions[s] = best;
    const max = Math.max(...x);
    lossSum += Math.log(x.reduce((a, v) => a + Math.exp(v - max), 0)) + max - x[labels[s]];
  }
  return { predictions, lossSum };
}

/** The LesionError `run` throws (sync or async); any other error is rethrown, and no error fails. */
export async function errorOf(run: () => unknown): Promise<LesionError> {
  try {
    await run();
  } catch (error) {
    if (error instanceof LesionError) return error;
    throw error;
  }
  throw new Error("no error");
}

export function randomArray(length: number, rand: () => number, scale = 1): Float32Array {
  return Float32Array.from({ length }, () => (rand() * 2 - 1) * scale);
}

/** An MLP over [C,H,W] images flattened: sizes = [input, hidden..., classes], ReLU between layers. */
export function randomMlp(sizes: number[], seed = 1, imageShape: [number, number, number] = [1, 1, sizes[0]], bias = true): Uint8Array {
  const rand = random(seed);
  const layers: LayerSpec[] = [];
  for (let i = 1; i < sizes.length; i++) {
    const scale = 1 / Math.sqrt(sizes[i - 1]);
    layers.push({ op: "linear", name: `fc${i}`, weight: randomArray(sizes[i] * sizes[i - 1], rand, scale * 1.7), shape: [sizes[i], sizes[i - 1]], bias: bias ? randomArray(sizes[i], rand, 0.2) : null });
    if (i < sizes.length - 1) layers.push({ op: "relu" });
  }
  const model = buildClassifier({ layers, inputShape: [sizes[0]] });
  writeMetadata(model, { preprocessing: { layout: "flat", mean: [0.5], std: [0.5], imageShape }, classNames: null });
  return encodeModel(model);
}

/** A CNN over [1,8,8] images: conv(4)-relu-maxpool-conv(6)-relu-flatten-linear(classes). */
export function randomCnn(seed = 1, classes = 5): Uint8Array {
  const rand = random(seed);
  const layers: LayerSpec[] = [
    { op: "conv", name: "conv1", weight: randomArray(4 * 1 * 3 * 3, rand, 0.6), shape: [4, 1, 3, 3], bias: randomArray(4, rand, 0.1), stride: 1, padding: 1 },
    { op: "relu" },
    { op: "maxpool", kernel: 2, stride: 2 },
    { op: "conv", name: "conv2", weight: randomArray(6 * 4 * 3 * 3, rand, 0.3), shape: [6, 4, 3, 3], bias: randomArray(6, rand, 0.1), stride: 1, padding: 1 },
    { op: "relu" },
    { op: "flatten" },
    { op: "linear", name: "fc", weight: randomArray(classes * 6 * 16, rand, 0.2), shape: [classes, 6 * 16], bias: randomArray(classes, rand, 0.1) },
  ];
  const model = buildClassifier({ layers, inputShape: [1, 8, 8] });
  writeMetadata(model, { preprocessing: { layout: "nchw", mean: [0.5], std: [0.5], imageShape: [1, 8, 8] }, classNames: null });
  return encodeModel(model);
}

/** `n` images of `shape` with seeded uniform [0, 1) pixels, labelled i mod `classes` (named "0", "1", …), named `spec`. */
export function randomDataset(spec: string, n: number, shape: [number, number, number], classes: number, seed: number): Dataset {
  const rand = random(seed);
  const size = shape[0] * shape[1] * shape[2];
  return { spec, n, shape, images: Float32Array.from({ length: n * size }, () => rand()), labels: Int32Array.from({ length: n }, (_, i) => i % classes), numClasses: classes, classNames: Array.from({ length: classes }, (_, c) => String(c)), source: "test" };
}

/**
 * `n` 1×1×4 images of three classes ("circle", "square", "star", labelled i mod 3), named `blobs:<seed>`: pixel p is
 * 0.3·noise, plus 0.6 where p is the label, clamped to [0, 1]. Separable, so a small network learns them in a few steps.
 */
export function fourPixelBlobs(n: number, seed: number): Dataset {
  const rand = random(seed);
  const images = new Float32Array(n * 4);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
  for (let s = 0; s < n; s++) for (let p = 0; p < 4; p++) images[s * 4 + p] = Math.min(1, Math.max(0, 0.3 * rand() + (p === labels[s] ? 0.6 : 0)));
  return { spec: `blobs:${seed}`, n, shape: [1, 1, 4], images, labels, numClasses: 3, classNames: ["circle", "square", "star"], source: "test" };
}

/** The rows `indices` of a data set, named `spec`. */
export function subset(data: Dataset, indices: number[], spec: string): Dataset {
  const per = data.images.length / data.n;
  const images = new Float32Array(indices.length * per);
  indices.forEach((s, r) => images.set(data.images.subarray(s * per, (s + 1) * per), r * per));
  return { ...data, spec, n: indices.length, images, labels: Int32Array.from(indices, (s) => data.labels[s]) };
}

/** The canonical transplant experiment's networks and data (README, "Transplant"), scaled by the options. */
export interface TransplantSetup {
  donor: Uint8Array;
  recipient: Uint8Array;
  test: Dataset;
  budget: Dataset;
}

/**
 * A donor trained on the first `train` MNIST training images, a recipient on the same images without class 3, the
 * first `test` test images, and a budget of `budget` training images neither saw (from index 6000 on), `threes` of them
 * 3s and the rest spread over the other classes as evenly as the count allows (lower classes first).
 */
export async function transplantSetup(options: { train: number; test: number; budget: number; threes: number; arch: string; epochs: number }): Promise<TransplantSetup> {
  const all = await loadDataset("mnist:train");
  const test = subset(await loadDataset("mnist:test"), Array.from({ length: options.test }, (_, i) => i), `mnist:test[:${options.test}]`);
  const trainSet = subset(all, Array.from({ length: options.train }, (_, i) => i), `mnist:train[:${options.train}]`);
  const without3 = subset(trainSet, Array.from(trainSet.labels.keys()).filter((i) => trainSet.labels[i] !== 3), `mnist:train[:${options.train}] without 3`);
  const others = options.budget - options.threes;
  const quota = (k: number) => (k === 3 ? options.threes : Math.floor(others / 9) + (k - (k > 3 ? 1 : 0) < others % 9 ? 1 : 0));
  const counts = new Array(10).fill(0);
  const indices: number[] = [];
  for (let i = 6000; i < all.n && indices.length < options.budget; i++) {
    if (counts[all.labels[i]] < quota(all.labels[i])) {
      counts[all.labels[i]]++;
      indices.push(i);
    }
  }
  const budget = subset(all, indices, "mnist:train budget");
  const donor = await train(trainSet, { arch: options.arch, epochs: options.epochs, seed: 0 });
  const recipient = await train(without3, { arch: options.arch, epochs: options.epochs, seed: 1 });
  return { donor: donor.model, recipient: recipient.model, test, budget };
}

/** The data and networks of the deeper-population transplant: 60 random 8-pixel samples of 3 classes, a donor 8-6-5-3, a recipient 8-7-4-3 normalising pixels with `mean`/`std`. */
export function deepTransplantSetup(mean: number, std: number): { data: Dataset; donor: Uint8Array; recipient: Uint8Array } {
  const rand = random(11);
  const n = 60;
  const images = Float32Array.from({ length: n * 8 }, () => rand());
  const data: Dataset = { spec: "random:deep", n, shape: [1, 1, 8], images, labels: Int32Array.from({ length: n }, (_, i) => i % 3), numClasses: 3, classNames: ["0", "1", "2"], source: "test" };
  const recipient = decodeModel(randomMlp([8, 7, 4, 3], 2));
  writeMetadata(recipient, { preprocessing: { layout: "flat", mean: [mean], std: [std], imageShape: [1, 1, 8] }, classNames: null });
  return { data, donor: randomMlp([8, 6, 5, 3], 1), recipient: encodeModel(recipient) };
}
