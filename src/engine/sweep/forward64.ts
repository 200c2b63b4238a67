/** The dense chain in float64, for the rows whose float32 logits nearly tie (src/engine/sweep/logits.ts). */
import type { DenseChain, DenseLayer } from "../../onnx/chain.js";
import { decide } from "./logits.js";

/**
 * The chain in float64 from the (float32) input, with `units` of layer `siteLayer` zeroed after it (siteLayer −1:
 * intact). The intact float64 activations of a sample are kept in `cache`, so a recheck runs only the layers after
 * the site.
 */
export function forward64(chain: DenseChain, inputs: Float32Array, sample: number, siteLayer: number, units: readonly number[], cache?: Map<number, Float64Array[]>): Float64Array {
  let activations = cache?.get(sample);
  if (!activations) {
    const width = chain.layers[0].in;
    let x: Float64Array = Float64Array.from(inputs.subarray(sample * width, (sample + 1) * width));
    activations = chain.layers.map((layer) => (x = dense64(layer, x)));
    cache?.set(sample, activations);
  }
  if (siteLayer < 0) return activations[activations.length - 1];
  let x: Float64Array = Float64Array.from(activations[siteLayer]);
  for (const u of units) x[u] = 0;
  for (let j = siteLayer + 1; j < chain.layers.length; j++) x = dense64(chain.layers[j], x);
  return x;
}

function dense64(layer: DenseLayer, x: Float64Array): Float64Array {
  const { weight, bias, in: width } = layer;
  const relu = layer.activation === "relu";
  const y = new Float64Array(layer.out);
  for (let o = 0; o < layer.out; o++) {
    const row = o * width;
    // Four partial sums: the multiply-adds overlap instead of waiting on one chain (~3× on a 784-wide layer).
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let i = 0;
    for (; i + 3 < width; i += 4) {
      s0 += weight[row + i] * x[i];
      s1 += weight[row + i + 1] * x[i + 1];
      s2 += weight[row + i + 2] * x[i + 2];
      s3 += weight[row + i + 3] * x[i + 3];
    }
    for (; i < width; i++) s0 += weight[row + i] * x[i];
    const sum = (bias ? bias[o] : 0) + (s0 + s1 + (s2 + s3));
    y[o] = relu ? Math.max(sum, 0) : sum;
  }
  return y;
}

/** The prediction from float64 logits: exact, ties toward the lower class. */
export function exactPrediction(logits: Float64Array): number {
  const d = decide(logits);
  return d < 0 ? -1 - d : d;
}
