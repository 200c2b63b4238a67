/** Tiny models built in code, and a seeded random source, for tests. */
import { LesionError } from "../src/errors.js";
import { buildClassifier, type LayerSpec } from "../src/onnx/build.js";
import { writeMetadata } from "../src/onnx/metadata.js";
import { encodeModel } from "../src/onnx/proto.js";
import { seeded as random } from "../src/random.js";

/** The project's seeded generator, under the name the tests use. */
export { random };

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
