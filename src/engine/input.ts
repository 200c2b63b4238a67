/** Turns [0,1] NCHW pixels into the graph's input layout, normalised by the model's preprocessing. */
import type { Preprocessing } from "../onnx/metadata.js";

/** Writes `count` samples starting at `start` into `out` (length count·C·H·W). */
export function fillInput(
  out: Float32Array,
  images: Float32Array,
  start: number,
  count: number,
  shape: readonly [number, number, number],
  preprocessing: Preprocessing,
): void {
  const [channels, height, width] = shape;
  const plane = height * width;
  const sampleSize = channels * plane;
  // (x − mean) / std rounded to float32 at each step, as PyTorch's float32 Normalize computes it.
  const means = new Float32Array(channels);
  const stds = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    means[c] = preprocessing.mean[c % preprocessing.mean.length];
    stds[c] = preprocessing.std[c % preprocessing.std.length];
  }
  const nhwc = preprocessing.layout === "nhwc";
  for (let s = 0; s < count; s++) {
    const source = (start + s) * sampleSize;
    const target = s * sampleSize;
    for (let c = 0; c < channels; c++) {
      const mean = means[c];
      const std = stds[c];
      const from = source + c * plane;
      if (nhwc) {
        for (let p = 0; p < plane; p++) out[target + p * channels + c] = Math.fround(images[from + p] - mean) / std;
      } else {
        const to = target + c * plane;
        for (let p = 0; p < plane; p++) out[to + p] = Math.fround(images[from + p] - mean) / std;
      }
    }
  }
}
