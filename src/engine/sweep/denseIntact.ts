/**
 * The dense sweep's intact pass: every layer's pre-activation cached once per data set, float64-exact predictions,
 * per-class room to the decision boundary and the per-layer bounds computed later on top of them.
 */
import type { DenseChain } from "../../onnx/chain.js";
import { withOutputs } from "../../onnx/surgery.js";
import { getSession, type LesionModel } from "../model.js";
import { OrtTensor } from "../ort.js";
import { exactActivations, exactPrediction, forward64 } from "./forward64.js";
import type { DenseIntact } from "./types.js";
import { crossEntropy, decide } from "./logits.js";

const INTACT_BATCH = 8192;

export async function denseIntact(model: LesionModel, chain: DenseChain, inputs: Float32Array, labels: Int32Array): Promise<DenseIntact> {
  const layers = chain.layers;
  const width = layers[0].in;
  const n = inputs.length / width;
  const k = layers[layers.length - 1].out;
  const tensors = layers.map((l) => l.preActivation);
  const session = await getSession(model, "dense:intact", () => withOutputs(model.proto, tensors));
  const pre = layers.map((l) => new Float32Array(n * l.out));
  for (let start = 0; start < n; start += INTACT_BATCH) {
    const count = Math.min(INTACT_BATCH, n - start);
    const feed = new OrtTensor("float32", inputs.subarray(start * width, (start + count) * width), [count, ...model.inputShape]);
    const out = await session.run({ [model.inputName]: feed }, tensors);
    layers.forEach((l, i) => pre[i].set(out[l.preActivation].data as Float32Array, start * l.out));
  }
  const logits = pre[layers.length - 1];
  const predictions = new Int32Array(n);
  const loss = new Float64Array(n);
  const correctPerClass = new Array<number>(k).fill(0);
  let lossSum = 0;
  let rowsFloat64 = 0;
  const exact = new Map<number, Float64Array[]>();
  // Near ties first, in one float64 batch.
  const ties: number[] = [];
  for (let s = 0; s < n; s++) if (decide(logits, s * k, k) < 0) ties.push(s);
  await exactActivations(model, chain, inputs, ties, exact);
  for (let s = 0; s < n; s++) {
    let best = decide(logits, s * k, k);
    if (best < 0) {
      best = exactPrediction(forward64(chain, inputs, s, -1, [], exact));
      rowsFloat64++;
    }
    predictions[s] = best;
    loss[s] = crossEntropy(logits, labels[s], s * k, k);
    lossSum += loss[s];
    if (best === labels[s]) correctPerClass[best]++;
  }
  return { n, pre, predictions, room: roomOf(logits, predictions, n, k), loss, correctPerClass, lossSum, rowsFloat64, bounds: new Map(), exact, lossSums: new Map() };
}

/** DenseIntact.room. */
function roomOf(logits: Float32Array, predictions: Int32Array, n: number, k: number): Float64Array {
  const room = new Float64Array(n * k);
  for (let s = 0; s < n; s++) {
    const t = predictions[s];
    for (let c = 0; c < k; c++) room[s * k + c] = c === t ? Infinity : 0.999 * (logits[s * k + t] - logits[s * k + c]) - 1e-5;
  }
  return room;
}
