/**
 * transplant(donor, recipient, data, options) of plain CNNs: channels at a conv site (with the donor's earlier conv
 * layer as the branch), and a dense site behind the conv layers (the branch reaches it through the flatten). Checked
 * as the MLP experiment is (transplant.test.ts): against lesion's other verbs on the merged model.onnx (evaluate,
 * record, ablate: onnxruntime's float32 passes with float64 ties settled, not the transplant's own JS float64 pass).
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel, resolveSite, type LesionModel } from "../../src/engine/model.js";
import { evaluate } from "../../src/engine/evaluate.js";
import { record } from "../../src/engine/record.js";
import { trainNetwork } from "../../src/engine/train.js";
import { buildClassifier, type LayerSpec } from "../../src/onnx/build.js";
import { writeMetadata } from "../../src/onnx/metadata.js";
import type { Network } from "../../src/onnx/network.js";
import { decodeModel, encodeModel } from "../../src/onnx/proto.js";
import { ablate } from "../../src/study/ablate.js";
import { condition } from "../../src/study/conditions.js";
import { transplant, type TransplantResult } from "../../src/transplant/transplant.js";
import { mergeNetworks } from "../../src/transplant/transplantNetwork.js";
import { choosePopulation } from "../../src/transplant/transplantPopulation.js";
import { transplantFiles } from "../../src/runs/transplantFiles.js";
import { writeResultDir } from "../../src/runs/resultDir.js";
import { readTransplantReportData } from "../../src/report/transplantReportData.js";
import { networkOf } from "../../src/onnx/network.js";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { errorOf, random, randomArray, randomCnn, randomDataset, transplantSetup } from "../helpers.js";

const CNN = "conv(out=6,padding=1),relu,maxpool(2),conv(out=8,padding=1),relu,maxpool(2),flatten,linear(out=32),relu,linear";

/**
 * Equal to float32 precision: record runs onnxruntime's float32 kernels, which sum fc1's 392 (merged: 784) inputs in
 * another order when the layer is wider (seen: 1.3e-6 apart on values near 10); a wrong weight moves them by far more.
 */
const close = (a: number[], b: number[]) => a.forEach((v, i) => expect(Math.abs(v - b[i])).toBeLessThanOrEqual(1e-5 * Math.max(1, Math.abs(b[i]))));

/** Per-sample activations of `site` (a conv unit's spatial mean, as record gives it), unit `unit`. */
async function column(model: LesionModel, data: Dataset, site: string, unit: number): Promise<number[]> {
  const samples = (await record(model, data, { sites: [site], samples: true })).sites[0].samples!;
  return Array.from({ length: data.n }, (_, s) => samples.data[s * samples.shape[1] + unit]);
}

describe("transplant of a CNN: MNIST class 3 (donor on every class, recipient without 3)", () => {
  let donor: LesionModel;
  let recipient: LesionModel;
  let test: Dataset;
  let budget: Dataset;
  const merged: LesionModel[] = [];
  let atConv: TransplantResult;
  let atDense: TransplantResult;

  beforeAll(async () => {
    const setup = await transplantSetup({ train: 6000, test: 1000, budget: 100, threes: 30, arch: CNN, epochs: 2 });
    ({ test, budget } = setup);
    donor = await openModel(setup.donor, { name: "donor" });
    recipient = await openModel(setup.recipient, { name: "recipient" });
    atConv = await transplant(donor, recipient, budget, { test, class: 3, site: "conv2", budgetEpochs: 10, resamples: 100 });
    atDense = await transplant(donor, recipient, budget, { test, class: 3, site: "fc1", budgetEpochs: 10, resamples: 100 });
    for (const result of [atConv, atDense]) merged.push(await openModel(result.model, { name: "merged" }));
  }, 240_000);

  afterAll(async () => {
    for (const m of [donor, recipient, ...merged]) if (m) await closeModel(m);
  });

  it("transplant({site: 'conv2'}) moves channels with conv1 as their branch: the population, the branch and where they sit", () => {
    expect(atConv.population.site).toBe("conv2");
    expect(atConv.population.units.length).toBeGreaterThan(0);
    expect(atConv.population.units.length).toBeLessThan(8);
    expect(atConv.transplanted.site).toBe("conv2");
    expect(atConv.transplanted.units).toEqual(atConv.population.units.map((_, i) => 8 + i));
    expect(atConv.transplanted.branch).toEqual([{ site: "conv1", units: [6, 7, 8, 9, 10, 11], donorSite: "conv1" }]);
    expect(atConv.before.perClass[3]).toBeLessThan(0.05);
    expect(atConv.after.perClass[3]!).toBeGreaterThan(atConv.before.perClass[3]! + 0.2);
  });

  it("before equals evaluate(recipient, test); after equals evaluate(merged model.onnx, test), at both sites", async () => {
    const before = await evaluate(recipient, test);
    for (const [i, result] of [atConv, atDense].entries()) {
      expect(result.before.perClass).toEqual(before.perClass);
      const after = await evaluate(merged[i], test);
      expect(after.perClass).toEqual(result.after.perClass);
      expect(after.accuracy).toBeCloseTo(result.after.accuracy, 12);
    }
  });

  it("the merged model's conv1 branch and conv2 channels compute the donor's exactly; the recipient's own channels are untouched (record, per sample)", async () => {
    for (let u = 0; u < 6; u++) close(await column(merged[0], test, "conv1", 6 + u), await column(donor, test, "conv1", u));
    for (const [i, u] of atConv.population.units.entries()) close(await column(merged[0], test, "conv2", atConv.transplanted.units[i]), await column(donor, test, "conv2", u));
    for (let u = 0; u < 8; u++) close(await column(merged[0], test, "conv2", u), await column(recipient, test, "conv2", u));
  });

  it("transplant({site: 'fc1'}) behind the convs: the branch is both conv layers, and the fc1 units compute the donor's exactly through the flatten", async () => {
    expect(atDense.transplanted.branch).toEqual([
      { site: "conv1", units: [6, 7, 8, 9, 10, 11], donorSite: "conv1" },
      { site: "conv2", units: [8, 9, 10, 11, 12, 13, 14, 15], donorSite: "conv2" },
    ]);
    for (const [i, u] of atDense.population.units.entries()) close(await column(merged[1], test, "fc1", atDense.transplanted.units[i]), await column(donor, test, "fc1", u));
    for (let u = 0; u < 32; u++) close(await column(merged[1], test, "fc1", u), await column(recipient, test, "fc1", u));
  });

  it("ablate(model.onnx, the transplanted channels) gives back the recipient's predictions, as the ablation check records", async () => {
    for (const [i, result] of [atConv, atDense].entries()) {
      const site = resolveSite(merged[i], result.transplanted.site);
      const ablated = await ablate(merged[i], test, { conditions: [condition(site, result.transplanted.units, "zero")], loss: false });
      expect(ablated.conditions[0].perClass).toEqual(result.before.perClass);
      expect(result.ablationCheck.after.perClass).toEqual(result.before.perClass);
      expect(result.ablationCheck.samePredictionsAsBefore).toBe(true);
    }
  });

  it("the transplant report's weights: per branch channel, the sum of the donor's weights through which a unit reads it (conv2: 3×3 kernels of conv1's channels; fc1: 49 positions of conv2's, after the flatten)", () => {
    const donorValues = networkOf(donor.proto, donor.inputShape)!.values;
    for (const [result, layer, per, channels] of [[atConv, "conv2", 9, 6], [atDense, "fc1", 49, 8]] as const) {
      const { files, summary } = transplantFiles(result);
      const dir = mkdtempSync(join(tmpdir(), "lesion-transplant-cnn-"));
      writeResultDir(dir, files, summary);
      const weights = readTransplantReportData(dir).weights!;
      expect([weights.perInput, weights.inputs!.units.length, weights.kernel]).toEqual([per, channels, false]);
      const donorWeight = donorValues.get(`${layer}.weight`)!;
      const fanIn = donorWeight.length / (layer === "conv2" ? 8 : 32);
      result.population.units.forEach((v, i) => {
        for (let c = 0; c < channels; c++) {
          let sum = 0;
          for (let p = 0; p < per; p++) sum += donorWeight[v * fanIn + c * per + p];
          expect(weights.values[i][c]).toBeCloseTo(sum, 4);
        }
      });
    }
  });

  it("the population's impact ranks conv2's channels by what zeroing each (every position) costs class 3's mean log-probability, as ablate's loss on the class's images does", async () => {
    const threes = Array.from(budget.labels.keys()).filter((s) => budget.labels[s] === 3);
    const size = 28 * 28;
    const images = new Float32Array(threes.length * size);
    threes.forEach((s, r) => images.set(budget.images.subarray(s * size, (s + 1) * size), r * size));
    const only3: Dataset = { ...budget, n: threes.length, images, labels: Int32Array.from(threes, () => 3), spec: "threes" };
    const site = resolveSite(donor, "conv2");
    const singles = await ablate(donor, only3, { conditions: Array.from({ length: 8 }, (_, u) => condition(site, [u], "zero")), loss: true });
    // impact = drop of the mean log-probability of class 3 = rise of the mean cross-entropy on its images.
    singles.conditions.forEach((c, u) => expect(atConv.population.impact![u]).toBeCloseTo(c.loss! - singles.baseline.loss!, 4));
  });
});

describe("transplant of a CNN with batch norm (after each conv and after fc1): trained with the statistics frozen", () => {
  it("transplant({site: 'conv2'}) and ({site: 'fc1'}): the branch and the units compute the donor's (their batch norms moved with them), the recipient's own are untouched, evaluate and ablate agree with the summary", async () => {
    const arch = "conv(out=4,padding=1),bn,relu,maxpool(2),conv(out=6,padding=1),bn,relu,maxpool(2),flatten,linear(out=16),bn,relu,linear";
    const setup = await transplantSetup({ train: 3000, test: 500, budget: 100, threes: 30, arch, epochs: 1 });
    const donor = await openModel(setup.donor, { name: "donor" });
    const recipient = await openModel(setup.recipient, { name: "recipient" });
    const result = await transplant(donor, recipient, setup.budget, { test: setup.test, class: 3, site: "conv2", units: [0, 2, 5], budgetEpochs: 3, resamples: 50 });
    const merged = await openModel(result.model, { name: "merged" });
    try {
      expect(result.transplanted).toEqual({ site: "conv2", units: [6, 7, 8], branch: [{ site: "conv1", units: [4, 5, 6, 7], donorSite: "conv1" }] });
      for (let u = 0; u < 4; u++) close(await column(merged, setup.test, "conv1", 4 + u), await column(donor, setup.test, "conv1", u));
      for (const [i, u] of [0, 2, 5].entries()) close(await column(merged, setup.test, "conv2", 6 + i), await column(donor, setup.test, "conv2", u));
      for (let u = 0; u < 6; u++) close(await column(merged, setup.test, "conv2", u), await column(recipient, setup.test, "conv2", u));
      const after = await evaluate(merged, setup.test);
      expect(after.perClass).toEqual(result.after.perClass);
      expect((await evaluate(recipient, setup.test)).perClass).toEqual(result.before.perClass);
      const site = resolveSite(merged, "conv2");
      const ablated = await ablate(merged, setup.test, { conditions: [condition(site, [6, 7, 8], "zero")], loss: false });
      expect(ablated.conditions[0].perClass).toEqual(result.before.perClass);
      expect(result.ablationCheck.samePredictionsAsBefore).toBe(true);
      // At fc1, behind its BatchNorm1d: the units come with their batch norm, both conv layers as the branch.
      const dense = await transplant(donor, recipient, setup.budget, { test: setup.test, class: 3, site: "fc1", units: [1, 3], budgetEpochs: 2, resamples: 50 });
      const denseMerged = await openModel(dense.model, { name: "merged-fc1" });
      try {
        for (const [i, u] of [1, 3].entries()) close(await column(denseMerged, setup.test, "fc1", 16 + i), await column(donor, setup.test, "fc1", u));
        expect(dense.ablationCheck.samePredictionsAsBefore).toBe(true);
      } finally {
        await closeModel(denseMerged);
      }
    } finally {
      for (const m of [donor, recipient, merged]) await closeModel(m);
    }
  }, 120_000);
});

describe("choosePopulation: a donor that never gets the class right", () => {
  it("is bad-units saying how much of the class it gets right, and asking whether it is given its inputs as trained", () => {
    // Output bias 100 on class 1: every image is called 1, so zeroing units never lowers class 0's accuracy (0 %).
    const network: Network = { inputShape: [2], layers: [{ op: "linear", name: "fc1", in: 2, out: 2, bias: true }, { op: "relu" }, { op: "linear", name: "fc2", in: 2, out: 2, bias: true }] };
    const values = new Map([["fc1.weight", Float32Array.of(1, 0, 0, 1)], ["fc1.bias", Float32Array.of(0, 0)], ["fc2.weight", Float32Array.of(1, 0, 0, 1)], ["fc2.bias", Float32Array.of(0, 100)]]);
    const donor = { name: "d.onnx", network, values, siteLayer: 1, site: "fc1" };
    expect(() => choosePopulation(donor, Float32Array.of(1, 2, 3, 4, 5, 6), Int32Array.of(0, 0, 1), 0, "pts")).toThrow(
      "no population of d.onnx site fc1 holds class 0: ablating its units never lowers the class's accuracy on pts (the donor gets 0.0% of its 2 images of the class right; is it given its inputs as it was trained? lesion info shows the normalisation it records)",
    );
  });
});

describe("mergeNetworks of a CNN + trainNetwork({gradientMasks})", () => {
  it("trains only conv2's new input channels (2 channels × 3×3 per output): every other entry stays bit-identical", async () => {
    const rand = random(7);
    const network: Network = {
      inputShape: [1, 6, 6],
      layers: [
        { op: "conv", name: "conv1", in: 1, out: 3, kernel: 3, stride: 1, padding: 1, bias: true },
        { op: "relu" },
        { op: "conv", name: "conv2", in: 3, out: 4, kernel: 3, stride: 1, padding: 0, bias: true },
        { op: "relu" },
        { op: "flatten" },
        { op: "linear", name: "fc", in: 64, out: 2, bias: true },
      ],
    };
    const values = new Map([
      ["conv1.weight", randomArray(27, rand)], ["conv1.bias", randomArray(3, rand)],
      ["conv2.weight", randomArray(108, rand)], ["conv2.bias", randomArray(4, rand)],
      ["fc.weight", randomArray(128, rand)], ["fc.bias", randomArray(2, rand)],
    ]);
    const preprocessing = { layout: "nchw" as const, mean: [0], std: [1], imageShape: [1, 6, 6] as [number, number, number] };
    const merged = mergeNetworks({ recipient: { network, values, preprocessing }, depth: 0, population: { weight: randomArray(18, rand), bias: randomArray(2, rand) }, branch: [], train: "outgoing" });
    expect(merged.units).toEqual([3, 4]);
    expect(merged.network.layers[2]).toMatchObject({ in: 5, out: 4 });
    // conv2's row per output: the recipient's 3 channels' 3×3 kernels, then 2 new ones of zeros.
    const w2 = merged.values.get("conv2.weight")!;
    const own = values.get("conv2.weight")!;
    for (let o = 0; o < 4; o++) {
      expect(Array.from(w2.subarray(o * 45, o * 45 + 27))).toEqual(Array.from(own.subarray(o * 27, (o + 1) * 27)));
      expect(Array.from(w2.subarray(o * 45 + 27, (o + 1) * 45))).toEqual(new Array(18).fill(0));
    }
    const data = randomDataset("random:6x6", 24, [1, 6, 6], 2, 3);
    const trained = await trainNetwork(merged.network, { optimizer: "sgd", momentum: 0.9, weightDecay: 0, betas: [0.9, 0.999], eps: 1e-8, masks: {}, gradientMasks: merged.gradientMasks, epochs: 2, batchSize: 8, lr: 0.1, seed: 0, parameters: merged.values, train: { inputs: data.images, labels: data.labels }, classes: 2 });
    let moved = 0;
    for (const [name, before] of merged.values) {
      const after = trained.parameters.get(name)!;
      const mask = merged.gradientMasks[name];
      before.forEach((v, i) => (mask[i] === 0 ? expect(after[i]).toBe(v) : (moved += after[i] !== v ? 1 : 0)));
    }
    expect(moved).toBeGreaterThan(0);
  });
});

describe("transplant of CNNs: what it refuses, one clear line each", () => {
  const images = randomDataset("random:8x8", 20, [1, 8, 8], 5, 1);

  it("transplant(first conv padded, donor mean 0.5, recipient mean 0) is unsupported-op naming both means, before any population is searched", async () => {
    const recipient = decodeModel(randomCnn(2, 5));
    writeMetadata(recipient, { preprocessing: { layout: "nchw", mean: [0], std: [1], imageShape: [1, 8, 8] }, classNames: null });
    const [a, b] = [await openModel(randomCnn(1, 5), { name: "a.onnx" }), await openModel(encodeModel(recipient), { name: "b.onnx" })];
    // With a class too: checked before the population is searched (a trial was told that no population held its class).
    const error = await errorOf(() => transplant(a, b, images, { test: images, site: "conv1", class: 0 }));
    expect(error.code).toBe("unsupported-op");
    expect(error.message).toBe("the donor normalises its input with mean 0.5 and the recipient with 0; the first conv layer conv1 pads its input with zeros, which are other pixels in the two, so its units cannot be moved exactly (give both networks the same --mean)");
  });

  it("transplant(conv2 of a donor whose conv1 strides 2 into one that does not) is bad-model naming both windows", async () => {
    const rand = random(9);
    const layers: LayerSpec[] = [
      { op: "conv", name: "conv1", weight: randomArray(36, rand, 0.6), shape: [4, 1, 3, 3], bias: randomArray(4, rand, 0.1), stride: 2, padding: 1 },
      { op: "relu" },
      { op: "conv", name: "conv2", weight: randomArray(216, rand, 0.3), shape: [6, 4, 3, 3], bias: randomArray(6, rand, 0.1), stride: 1, padding: 1 },
      { op: "relu" },
      { op: "flatten" },
      { op: "linear", name: "fc", weight: randomArray(5 * 96, rand, 0.2), shape: [5, 96], bias: randomArray(5, rand, 0.1) },
    ];
    const model = buildClassifier({ layers, inputShape: [1, 8, 8] });
    writeMetadata(model, { preprocessing: { layout: "nchw", mean: [0.5], std: [0.5], imageShape: [1, 8, 8] }, classNames: null });
    const [a, b] = [await openModel(encodeModel(model), { name: "strided.onnx" }), await openModel(randomCnn(2, 5), { name: "b.onnx" })];
    const error = await errorOf(() => transplant(a, b, images, { test: images, site: "conv2", units: [0] }));
    expect([error.code, error.message]).toEqual(["bad-model", "donor layers up to conv2 (conv(kernel=3,stride=2,padding=1),relu,conv(kernel=3,stride=1,padding=1),relu) differ from the recipient's up to conv2 (conv(kernel=3,stride=1,padding=1),relu,maxpool(kernel=2,stride=2,padding=0),conv(kernel=3,stride=1,padding=1),relu); the units need the same activations and windows"]);
  });
});
