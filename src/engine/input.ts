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
  if (channels === 1) {
    // One channel: NCHW and NHWC are the same bytes, the batch one contiguous run; one loop over zero-based views
    // (the same float32 arithmetic, ~1.5x faster than per-sample offsets).
    const from = images.subarray(start * sampleSize, (start + count) * sampleSize);
    const to = out.subarray(0, count * sampleSize);
    const mean = means[0];
    const std = stds[0];
    for (let p = 0; p < from.length; p++) to[p] = Math.fround(from[p] - mean) / std;
    return;
  }
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
