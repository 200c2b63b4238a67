/** PCA scores of the stimulus map: the Gram-matrix path (fewer samples than pixels) against the covariance path. */
import { describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { principalComponents } from "../../src/study/stimulusMap.js";
import { random } from "../helpers.js";

function randomImages(n: number, shape: [number, number, number], seed: number): Dataset {
  const rand = random(seed);
  const d = shape[0] * shape[1] * shape[2];
  // Pixels with a few strong directions, so the top components are well separated.
  const basis = Array.from({ length: 4 }, () => Float32Array.from({ length: d }, () => rand() - 0.5));
  const images = new Float32Array(n * d);
  for (let s = 0; s < n; s++) {
    const weights = [4, 3, 2, 1].map((w) => w * (rand() - 0.5));
    for (let i = 0; i < d; i++) images[s * d + i] = 0.05 * rand() + weights.reduce((sum, w, b) => sum + w * basis[b][i], 0);
  }
  return { spec: "random", n, shape, images, labels: new Int32Array(n), numClasses: 1, classNames: ["0"], source: "test" };
}

describe("principalComponents", () => {
  it("principalComponents(40 samples of 60 pixels) by the Gram matrix equals the covariance path's scores (with 61+ samples) up to each component's sign", () => {
    const data = randomImages(80, [1, 6, 10], 7);
    const few = Array.from({ length: 40 }, (_, i) => i);
    const gram = principalComponents(data, few, 3);
    // The covariance path on the same 40 samples, padded to more samples than pixels would change the mean: instead
    // the reference is the covariance path on a copy with the 40 samples repeated twice (80 > 60, same mean, the
    // covariance doubled, so scores are the same and eigenvectors too).
    const twice = { ...data, images: Float32Array.from([...data.images.subarray(0, 40 * 60), ...data.images.subarray(0, 40 * 60)]) };
    const covariance = principalComponents(twice, Array.from({ length: 80 }, (_, i) => i), 3);
    for (let c = 0; c < 3; c++) {
      const sign = Math.sign(gram[0][c]) * Math.sign(covariance[0][c]);
      for (let r = 0; r < 40; r++) expect(gram[r][c]).toBeCloseTo(sign * covariance[r][c], 8);
    }
  });
});
