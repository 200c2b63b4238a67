/**
 * The fresh-units control of transplant against an independent NumPy computation of it
 * (test/fixtures/freshUnits/make.py → reference.json): m = 2 new units at fc1 of a 100-8-3 recipient, PyTorch's
 * default initialisation drawn as lesion draws it, only their incoming weights, biases and outgoing columns trained
 * on 60 images whose 90 background pixels are constant (as on MNIST). Under Adam (lr 0.01) both new units die
 * (active on no budget image) and the control computes exactly what the recipient did, the fault a new-user trial
 * found on MNIST; under the default (SGD, momentum 0.9, lr 0.01) both stay active and the test accuracy moves.
 * Then the trial's own run, networks trained here exactly as its `lesion train` commands trained them.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { readFileSync } from "node:fs";
import type { Dataset } from "../../src/data/types.js";
import { loadDataset } from "../../src/data/loadDataset.js";
import { closeModel, openModel, type LesionModel } from "../../src/engine/model.js";
import { trainNetwork } from "../../src/engine/train.js";
import { networkInputs, train } from "../../src/models/train.js";
import { buildClassifier } from "../../src/onnx/build.js";
import { writeMetadata } from "../../src/onnx/metadata.js";
import { networkOf } from "../../src/onnx/network.js";
import { encodeModel } from "../../src/onnx/proto.js";
import { transplant, type TransplantOptions, type TransplantResult } from "../../src/transplant/transplant.js";
import { freshUnits, mergeNetworks } from "../../src/transplant/transplantNetwork.js";

interface Setting {
  optimizer: "sgd" | "adam";
  lr: number;
  after: number;
  activeAfter: number;
  newIncoming: number[];
  newBias: number[];
  newOutgoing: number[];
}
const ref = JSON.parse(readFileSync(new URL("../fixtures/freshUnits/reference.json", import.meta.url), "utf8")) as {
  inputs: number;
  hidden: number;
  classes: number;
  epochs: number;
  batchSize: number;
  seed: number;
  recipient: number[][];
  donor: number[][];
  pixels: number[];
  labels: number[];
  testPixels: number[];
  testLabels: number[];
  freshWeight: number[];
  freshBias: number[];
  before: number;
  activeBefore: number;
  settings: { adam: Setting; sgd: Setting };
};
const { inputs: D, hidden: H, classes: K } = ref;
const M = ref.freshBias.length;

function model([w1, b1, w2, b2]: number[][]): Uint8Array {
  const proto = buildClassifier({
    layers: [
      { op: "linear", name: "fc1", weight: Float32Array.from(w1), shape: [H, D], bias: Float32Array.from(b1) },
      { op: "relu" },
      { op: "linear", name: "fc2", weight: Float32Array.from(w2), shape: [K, H], bias: Float32Array.from(b2) },
    ],
    inputShape: [D],
  });
  writeMetadata(proto, { preprocessing: { layout: "flat", mean: [0.5], std: [0.5], imageShape: [1, 1, D] }, classNames: null });
  return encodeModel(proto);
}

const dataset = (bytes: number[], labels: number[], spec: string): Dataset => ({
  spec,
  n: labels.length,
  shape: [1, 1, D],
  images: Float32Array.from(bytes, (b) => b / 255),
  labels: Int32Array.from(labels),
  numClasses: K,
  classNames: Array.from({ length: K }, (_, k) => String(k)),
  source: "test",
});
const budget = dataset(ref.pixels, ref.labels, "fresh-units budget");
const test = dataset(ref.testPixels, ref.testLabels, "fresh-units test");

describe("transplant's fresh-units control against NumPy (test/fixtures/freshUnits)", () => {
  let donor: LesionModel;
  let recipient: LesionModel;
  const run = (options: Partial<TransplantOptions>) => transplant(donor, recipient, budget, { test, units: [0, 1], budgetEpochs: ref.epochs, batchSize: ref.batchSize, seed: ref.seed, resamples: 20, ...options });
  const fresh = (result: TransplantResult) => result.repeats.find((r) => r.condition === "fresh-units")!;

  beforeAll(async () => {
    donor = await openModel(model(ref.donor), { name: "donor" });
    recipient = await openModel(model(ref.recipient), { name: "recipient" });
  });
  afterAll(async () => {
    for (const m of [donor, recipient]) if (m) await closeModel(m);
  });

  it("freshUnits(2, 100, 0) draws PyTorch's default initialisation, U(±1/√100), as the reference does", () => {
    const { weight, bias } = freshUnits(M, D, ref.seed);
    expect(weight.length).toBe(ref.freshWeight.length);
    weight.forEach((v, i) => expect(v).toBe(Math.fround(ref.freshWeight[i])));
    bias.forEach((v, i) => expect(v).toBe(Math.fround(ref.freshBias[i])));
    expect(Math.max(...Array.from(weight, Math.abs))).toBeLessThan(0.1);
  });

  for (const name of ["sgd", "adam"] as const) {
    it(`mergeNetworks({train: "new-units"}) + trainNetwork(${name}) moves the new units' incoming, bias and outgoing weights as NumPy does, nothing else`, async () => {
      const s = ref.settings[name];
      const chain = networkOf(recipient.proto, recipient.inputShape)!;
      const merged = mergeNetworks({ recipient: { ...chain, preprocessing: recipient.preprocessing }, depth: 0, population: freshUnits(M, D, ref.seed), branch: [], train: "new-units" });
      const trained = await trainNetwork(merged.network, {
        optimizer: s.optimizer,
        momentum: 0.9,
        weightDecay: 0,
        betas: [0.9, 0.999],
        eps: 1e-8,
        masks: {},
        gradientMasks: merged.gradientMasks,
        epochs: ref.epochs,
        batchSize: ref.batchSize,
        lr: s.lr,
        seed: ref.seed,
        parameters: merged.values,
        train: networkInputs(budget, recipient.preprocessing),
        classes: K,
      });
      const w1 = trained.parameters.get("fc1.weight")!;
      const b1 = trained.parameters.get("fc1.bias")!;
      const w2 = trained.parameters.get("fc2.weight")!;
      s.newIncoming.forEach((v, i) => expect(w1[H * D + i]).toBeCloseTo(v, 4));
      s.newBias.forEach((v, i) => expect(b1[H + i]).toBeCloseTo(v, 4));
      s.newOutgoing.forEach((v, i) => expect(w2[Math.floor(i / M) * (H + M) + H + (i % M)]).toBeCloseTo(v, 4));
      // They moved (the outgoing columns start at 0), and every recipient entry is bit-identical.
      expect(s.newOutgoing.some((v) => Math.abs(v) > 1e-3)).toBe(true);
      for (const [key, before] of merged.values) {
        const mask = merged.gradientMasks[key];
        const after = trained.parameters.get(key)!;
        before.forEach((v, i) => (mask[i] === 0 ? expect(after[i]).toBe(v) : undefined));
      }
    });
  }

  it("transplant(…, {optimizer: 'adam', lr: 0.01}): both new units die as in NumPy, fresh-units equals the recipient, and a warning says so", async () => {
    const result = await run({ optimizer: "adam", lr: 0.01 });
    expect(ref.settings.adam.activeAfter).toBe(0);
    expect(result.before.accuracy).toBeCloseTo(ref.before, 12);
    expect(fresh(result).siteActive).toEqual({ units: M, before: ref.activeBefore, after: 0 });
    expect(fresh(result).after.accuracy).toBeCloseTo(ref.settings.adam.after, 12);
    expect(fresh(result).after.accuracy).toBeCloseTo(result.before.accuracy, 12);
    expect(result.warnings).toContain(
      "fresh-units (seed 0): 2 of the 2 active new units at fc1 died in training (0 of 2 still active on the 60 budget images), so this control computes what the recipient computed; Adam's first steps move every incoming weight by about the learning rate, whatever its gradient: try a smaller `lr`",
    );
    expect(result.repeats.find((r) => r.condition === "transplant")!.siteActive).toBeNull();
  });

  it("transplant(…) with the default optimizer (SGD, momentum 0.9, lr 0.01): both new units stay active and the test accuracy moves to NumPy's", async () => {
    const result = await run({});
    expect(result.budget.optimizer).toBe("sgd");
    expect(result.budget.lr).toBe(0.01);
    expect(fresh(result).siteActive).toEqual({ units: M, before: ref.activeBefore, after: ref.settings.sgd.activeAfter });
    expect(ref.settings.sgd.activeAfter).toBe(M);
    expect(fresh(result).after.accuracy).toBeCloseTo(ref.settings.sgd.after, 12);
    expect(Math.abs(fresh(result).after.accuracy - result.before.accuracy)).toBeGreaterThan(0.1);
    // No unit died (the warning "fresh-units (seed 0): … died"); it may say the control lowered the accuracy.
    expect(result.warnings.filter((w) => w.startsWith("fresh-units (seed"))).toEqual([]);
    const lowered = result.warnings.some((w) => w.startsWith("fresh-units lowered the overall test accuracy"));
    expect(lowered).toBe(fresh(result).after.accuracy < result.before.accuracy - 0.05);
  });
});

describe("the new-user trial's run: lesion transplant donor.onnx --into recipient.onnx --data mnist --class 3 --budget-samples 100", () => {
  let donor: LesionModel;
  let recipient: LesionModel;
  let data: Dataset;
  let test: Dataset;

  beforeAll(async () => {
    // lesion train --arch mlp:784-100-10 --data mnist --epochs 1 --seed 0 (donor) and --seed 1 (recipient).
    data = await loadDataset("mnist:train");
    test = await loadDataset("mnist:test");
    donor = await openModel((await train(data, { arch: "mlp:784-100-10", epochs: 1, seed: 0 })).model, { name: "donor" });
    recipient = await openModel((await train(data, { arch: "mlp:784-100-10", epochs: 1, seed: 1 })).model, { name: "recipient" });
  }, 60_000);
  afterAll(async () => {
    for (const m of [donor, recipient]) if (m) await closeModel(m);
  });

  it("transplant(…, {optimizer: 'adam', lr: 0.01}) is the trial's symptom, now counted and warned about: every fresh unit dead, accuracy exactly as before", async () => {
    const result = await transplant(donor, recipient, data, { test, class: 3, budgetSamples: 100, optimizer: "adam", lr: 0.01, resamples: 50 });
    const fresh = result.repeats.find((r) => r.condition === "fresh-units")!;
    expect(fresh.siteActive!.after).toBe(0);
    expect(fresh.siteActive!.before).toBeGreaterThan(0);
    expect(fresh.after.perClass).toEqual(result.before.perClass);
    expect(result.warnings.some((w) => w.startsWith("fresh-units (seed 0):") && w.includes("so this control computes what the recipient computed"))).toBe(true);
  }, 60_000);

  it("transplant(…) with the defaults: the fresh units stay active and fresh-units' accuracy differs from before", async () => {
    const result = await transplant(donor, recipient, data, { test, class: 3, budgetSamples: 100, resamples: 50 });
    const fresh = result.repeats.find((r) => r.condition === "fresh-units")!;
    expect(fresh.siteActive!.after).toBe(fresh.siteActive!.before);
    expect(fresh.after.accuracy).not.toBe(result.before.accuracy);
    expect(fresh.after.perClass[3]).not.toBe(result.before.perClass[3]);
    const finetune = result.repeats.find((r) => r.condition === "finetune")!;
    expect(finetune.siteActive!.after).toBeGreaterThan(finetune.siteActive!.before / 2);
    expect(result.warnings).toEqual([]);
  }, 60_000);
});
