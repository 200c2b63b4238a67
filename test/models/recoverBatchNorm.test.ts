/**
 * recover() of a CNN with BatchNorm (conv → BN → ReLU → max-pool → linear), held mode. Hand-derived expectations:
 * the held channels of site conv1 (after BN and ReLU) output exactly 0 on every test image in the saved model (their
 * γ, β and filters are zero, so γ·x̂ + β = 0 whatever the running statistics), their filters stay zero, and
 * retraining brings back part of the accuracy the ablation took (the task, which corner holds a bright or a dark
 * blob, needs more than the one channel left; measured: intact 1.0, ablated 0.5, 0.75 after four epochs).
 */
import { describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { trainNetwork } from "../../src/engine/train.js";
import { closeModel, openModel } from "../../src/engine/model.js";
import { recover } from "../../src/models/recover.js";
import { classifierBytes, initialParameters, networkInputs } from "../../src/models/train.js";
import { networkOf, type Network } from "../../src/onnx/network.js";
import { decodeModel } from "../../src/onnx/proto.js";
import { record } from "../../src/engine/record.js";
import { random } from "../helpers.js";

/** 8×8 grey images (0.5 ± noise); class 2q + d has a 3×3 blob in corner q (of 2), bright for d = 0, dark for d = 1. */
function blobs(n: number, seed: number): Dataset {
  const rand = random(seed);
  const images = new Float32Array(n * 64);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 4);
  const corners = [[0, 0], [5, 5]];
  for (let s = 0; s < n; s++) {
    for (let p = 0; p < 64; p++) images[s * 64 + p] = 0.35 + 0.3 * rand();
    const [r0, c0] = corners[labels[s] >> 1];
    const value = () => (labels[s] & 1 ? 0.1 * rand() : 0.9 + 0.1 * rand());
    for (let r = 0; r < 3; r++) for (let c = 0; c < 3; c++) images[s * 64 + (r0 + r) * 8 + c0 + c] = value();
  }
  return { spec: `blobs8:${seed}`, n, shape: [1, 8, 8], images, labels, numClasses: 4, classNames: ["a", "b", "c", "d"], source: "test" } as Dataset;
}

const network: Network = {
  inputShape: [1, 8, 8],
  layers: [
    { op: "conv", name: "conv1", in: 1, out: 6, kernel: 3, stride: 1, padding: 1, bias: false },
    { op: "batchnorm", name: "bn1", channels: 6, eps: 1e-5, momentum: 0.1 },
    { op: "relu" },
    { op: "maxpool", kernel: 2, stride: 2 },
    { op: "flatten" },
    { op: "linear", name: "fc", in: 6 * 16, out: 4, bias: true },
  ],
};

describe("recover with BatchNorm", () => {
  it("recover(cnn with BN, {site: conv1, units: [0..4]}) holds the units at exactly zero and recovers accuracy", async () => {
    const preprocessing = { layout: "nchw" as const, mean: [0.5], std: [0.5], imageShape: [1, 8, 8] as [number, number, number] };
    const train = blobs(240, 1);
    const test = blobs(120, 2);
    const trained = await trainNetwork(network, {
      optimizer: "sgd", momentum: 0.9, weightDecay: 0, betas: [0.9, 0.999], eps: 1e-8, masks: {}, epochs: 3, batchSize: 16, lr: 0.05, seed: 0,
      parameters: initialParameters(network, 0), train: networkInputs(train, preprocessing), classes: 4, threads: 1,
    });
    const model = await openModel(classifierBytes(network, trained.parameters, preprocessing, train.classNames), { name: "bn-cnn" });
    try {
      const held = [0, 1, 2, 3, 4];
      const result = await recover(model, train, { site: "conv1", units: held, test, epochs: 4, lr: 0.05, batchSize: 16, threads: 1 });
      expect(result.intact.accuracy).toBeGreaterThan(0.9);
      // The ablation hurts, and retraining brings back most of it.
      expect(result.ablated.accuracy).toBeLessThan(result.intact.accuracy - 0.2);
      const last = result.epochs.at(-1)!;
      expect(last.accuracy).toBeGreaterThan(result.ablated.accuracy + 0.15);
      expect(last.recovered!).toBeGreaterThan(0.3);

      // The saved network keeps its BatchNorm (not folded), with zero γ, β and filters for the held channels.
      const saved = networkOf(decodeModel(result.retrained), [1, 8, 8])!;
      expect(saved.network.layers.map((l) => l.op)).toEqual(network.layers.map((l) => l.op));
      for (const u of held) {
        expect(saved.values.get("bn1.weight")![u]).toBe(0);
        expect(saved.values.get("bn1.bias")![u]).toBe(0);
        expect(Array.from(saved.values.get("conv1.weight")!.subarray(u * 9, u * 9 + 9))).toEqual(new Array(9).fill(0));
      }
      // Running statistics moved in training (they are PyTorch-style buffers, not frozen).
      expect(Array.from(saved.values.get("bn1.running_mean")!.subarray(5))).not.toEqual(Array.from(trained.parameters.get("bn1.running_mean")!.subarray(5)));

      // On every test image, the held channels of site conv1 output exactly 0; the others do not.
      const recovered = await openModel(result.retrained, { name: "recovered" });
      try {
        const recording = (await record(recovered, test, { sites: ["conv1"] })).sites[0];
        expect(recording.site).toBe("conv1");
        for (const u of held) {
          expect(recording.max[u]).toBe(0);
          expect(recording.fractionActive[u]).toBe(0);
        }
        expect(recording.max[5]).toBeGreaterThan(0);
      } finally {
        await closeModel(recovered);
      }
    } finally {
      await closeModel(model);
    }
  });
});
