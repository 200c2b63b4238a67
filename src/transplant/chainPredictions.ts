/**
 * A conv network's predictions in a transplant, equal to its float64 network's: onnxruntime's float32 pass for every
 * sample (it has no double Conv), and the float64 pass (chainForward64.ts) for the rows whose top two logits are a near
 * tie (within TIE_MARGIN, as the sweeps settle them). The JS float64 pass alone took 7 ms per MNIST image through
 * `cnn:small`, 70 s per pass over mnist:test, and a transplant makes six such passes.
 */
import { createSession, OrtTensor } from "../engine/ort.js";
import { decide } from "../engine/sweep/logits.js";
import { buildClassifier, INPUT_NAME, OUTPUT_NAME } from "../onnx/build.js";
import { classifierLayers, type Network } from "../onnx/network.js";
import { encodeModel } from "../onnx/proto.js";
import { chainPredictions64 } from "./chainForward64.js";
import { positionsAfter, rowSize, type Weighted } from "./transplantNetwork.js";

/** Samples per onnxruntime run. */
const BATCH = 1024;

/** Layers that keep a zero output zero: between a site and the next weighted layer, silencing units there is zeroing their outgoing weights. */
const KEEPS_ZERO = ["relu", "leakyrelu", "tanh", "maxpool", "avgpool", "globalavgpool", "flatten", "dropout"];

/**
 * The predicted class per sample (argmax of the logits, the lower class on ties) of `network` with `values`, as its
 * float64 network predicts; `inputs` [n, sample size] preprocessed; `zeroed`: units (channels, at every position) of
 * the output of layer `zeroed.layer` forced to 0. One session, released before returning.
 */
export async function chainPredictions(network: Network, values: Map<string, Float32Array>, inputs: Float32Array, n: number, threads: number, zeroed: { layer: number; units: number[] } | null = null): Promise<Int32Array> {
  if (zeroed) {
    const silenced = withoutOutgoing(network, values, zeroed.layer, zeroed.units);
    if (!silenced) return chainPredictions64(network, values, inputs, n, { [zeroed.layer]: zeroed.units });
    values = silenced;
  }
  const model = buildClassifier({ layers: classifierLayers(network, values), inputShape: network.inputShape });
  const session = await createSession(encodeModel(model), threads);
  const size = inputs.length / n;
  const predictions = new Int32Array(n);
  const ties: number[] = [];
  try {
    for (let start = 0; start < n; start += BATCH) {
      const count = Math.min(BATCH, n - start);
      const out = await session.run({ [INPUT_NAME]: new OrtTensor("float32", inputs.subarray(start * size, (start + count) * size), [count, ...network.inputShape]) });
      const logits = out[OUTPUT_NAME].data as Float32Array;
      const k = logits.length / count;
      for (let r = 0; r < count; r++) {
        const decided = decide(logits, r * k, k);
        predictions[start + r] = decided < 0 ? -1 - decided : decided;
        if (decided < 0) ties.push(start + r);
      }
    }
  } finally {
    await session.release();
  }
  if (ties.length > 0) {
    const rows = new Float32Array(ties.length * size);
    ties.forEach((s, r) => rows.set(inputs.subarray(s * size, (s + 1) * size), r * size));
    chainPredictions64(network, values, rows, ties.length).forEach((p, r) => (predictions[ties[r]] = p));
  }
  return predictions;
}

/**
 * `values` with the outgoing weights of `units` of layer `layer`'s output zeroed in the next weighted layer: a conv
 * layer's k×k kernels of those input channels, a linear layer's columns (a channel's every position where a flatten
 * comes between). The same network as zeroing the units' outputs, where every layer between keeps 0 at 0; null where
 * one does not (a sigmoid).
 */
function withoutOutgoing(network: Network, values: Map<string, Float32Array>, layer: number, units: number[]): Map<string, Float32Array> | null {
  const next = network.layers.findIndex((l, i) => i > layer && (l.op === "linear" || l.op === "conv"));
  const between = network.layers.slice(layer + 1, next);
  if (next < 0 || !between.every((l) => KEEPS_ZERO.includes(l.op))) return null;
  const target = network.layers[next] as Weighted;
  // A unit's block in each row of the next layer: its k×k kernel, else its features (positions, after a flatten).
  const positions = target.op === "conv" ? target.kernel * target.kernel : positionsAfter(network, layer);
  const row = rowSize(target);
  const weight = Float32Array.from(values.get(`${target.name}.weight`)!);
  for (let o = 0; o < target.out; o++) for (const u of units) weight.fill(0, o * row + u * positions, o * row + (u + 1) * positions);
  return new Map(values).set(`${target.name}.weight`, weight);
}
