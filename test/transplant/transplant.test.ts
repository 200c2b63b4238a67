/**
 * transplant(donor, recipient, data, options): the canonical experiment of issue 15 at test size (MNIST, a donor
 * trained on every class, a recipient trained without class 3, 100 budget images of which 30 are 3s), checked
 * against lesion's other verbs on the merged model (evaluate, record, ablate: independent forward passes through
 * the saved ONNX file), and every bad input it refuses.
 */
import { describe, expect, it, beforeAll, afterAll } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadDataset } from "../../src/data/loadDataset.js";
import { parseNpy } from "../../src/data/npy.js";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel, resolveSite, type LesionModel } from "../../src/engine/model.js";
import { buildClassifier, type LayerSpec } from "../../src/onnx/build.js";
import { writeMetadata } from "../../src/onnx/metadata.js";
import { encodeModel, metadataValue, decodeModel, makeTensor, tensorDims, tensorValues } from "../../src/onnx/proto.js";
import { ablate } from "../../src/study/ablate.js";
import { condition } from "../../src/study/conditions.js";
import { evaluate } from "../../src/engine/evaluate.js";
import { record } from "../../src/engine/record.js";
import { train } from "../../src/models/train.js";
import { transplant, type TransplantResult } from "../../src/transplant/transplant.js";
import { transplantFiles } from "../../src/runs/transplantFiles.js";
import { writeResultDir } from "../../src/runs/resultDir.js";
import { TRANSPLANT_KEY } from "../../src/transplant/transplantModel.js";
import { mergeNetworks } from "../../src/transplant/transplantNetwork.js";
import { trainNetwork } from "../../src/engine/train.js";
import type { Network } from "../../src/onnx/network.js";
import { random, randomArray, randomCnn, randomMlp, transplantSetup, deepTransplantSetup, errorOf } from "../helpers.js";
import { BIN } from "../lesionCli.js";


describe("transplant: the canonical MNIST experiment (class 3)", () => {
  let donor: LesionModel;
  let recipient: LesionModel;
  let merged: LesionModel;
  let test: Dataset;
  let result: TransplantResult;
  let dir = "";

  beforeAll(async () => {
    // The budget: 30 threes and 70 other digits (7 or 8 per class) from training images neither network saw.
    const setup = await transplantSetup({ train: 6000, test: 2000, budget: 100, threes: 30, arch: "mlp:784-32-10", epochs: 2 });
    test = setup.test;
    donor = await openModel(setup.donor, { name: "donor" });
    recipient = await openModel(setup.recipient, { name: "recipient" });
    const budget = setup.budget;
    result = await transplant(donor, recipient, budget, { test, class: 3, budgetEpochs: 10, resamples: 200 });
    dir = mkdtempSync(join(tmpdir(), "lesion-transplant-"));
    const { files, summary } = transplantFiles(result);
    writeResultDir(dir, files, summary);
    merged = await openModel(join(dir, "model.onnx"));
  }, 120_000);

  afterAll(async () => {
    for (const m of [donor, recipient, merged]) if (m) await closeModel(m);
  });

  it("transplant(donor, recipient without 3, 100 images) moves class 3: ≈0 % before, a gain whose CI excludes 0", () => {
    expect(result.budget.samples).toBe(100);
    expect(result.budget.perClass[3]).toBe(30);
    expect(result.before.perClass[3]).toBeLessThan(0.02);
    expect(result.after.perClass[3]!).toBeGreaterThan(0.5);
    const gain = result.gains[0];
    expect(gain.condition).toBe("transplant");
    expect(gain.target!.low).toBeGreaterThan(0);
    for (const g of result.gains) for (const key of ["overall", "target", "others"] as const) expect(g[key]!.low).toBeLessThanOrEqual(g[key]!.estimate);
    expect(result.controls.map((c) => c.name)).toEqual(["random-units", "fresh-units", "finetune"]);
    expect(result.population.units.length).toBeGreaterThan(0);
    expect(result.population.units.length).toBeLessThan(32);
  });

  it("before equals evaluate(recipient, test); after equals evaluate(merged model.onnx, test)", async () => {
    const before = await evaluate(recipient, test);
    expect(result.before.perClass).toEqual(before.perClass);
    const after = await evaluate(merged, test);
    expect(after.accuracy).toBeCloseTo(result.after.accuracy, 10);
    expect(after.perClass).toEqual(result.after.perClass);
  });

  it("the transplanted units of model.onnx compute the donor's units exactly (record class means)", async () => {
    const site = result.transplanted.site;
    const mine = await record(merged, test, { sites: [site] });
    const theirs = await record(donor, test, { sites: [result.population.site] });
    const m = mine.sites[0].classMeans.data;
    const d = theirs.sites[0].classMeans.data;
    const mergedUnits = mine.sites[0].mean.length;
    const donorUnits = theirs.sites[0].mean.length;
    result.transplanted.units.forEach((u, i) => {
      const v = result.population.units[i];
      for (let k = 0; k < 10; k++) expect(m[k * mergedUnits + u]).toBeCloseTo(d[k * donorUnits + v], 4);
    });
    const provenance = JSON.parse(metadataValue(decodeModel(readFileSync(join(dir, "model.onnx"))), TRANSPLANT_KEY)!);
    expect(provenance.donorUnits).toEqual(result.population.units);
    expect(provenance.units).toEqual(result.transplanted.units);
  });

  it("ablate(model.onnx, the transplanted units) takes class 3 back to the recipient's, as the summary records", async () => {
    const site = resolveSite(merged, result.transplanted.site);
    const ablated = await ablate(merged, test, { conditions: [condition(site, result.transplanted.units, "zero")], loss: false });
    expect(ablated.conditions[0].perClass).toEqual(result.before.perClass);
    expect(result.ablationCheck.after.perClass).toEqual(result.before.perClass);
    expect(result.ablationCheck.samePredictionsAsBefore).toBe(true);
    expect(result.ablationCheck.removed).toBe(1);
    const summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8"));
    expect(summary.ablationCheck.removed).toBe(1);
    for (const name of ["transplant.csv", "random-units.csv", "fresh-units.csv", "finetune.csv", "gains.csv"]) expect(existsSync(join(dir, name))).toBe(true);
    // Per-class columns by class name, as ablate's.
    expect(summary.classNames).toEqual(test.classNames);
    expect(readFileSync(join(dir, "transplant.csv"), "utf8").split("\n")[0]).toBe(["condition", "seed", "accuracy", ...test.classNames.map((c) => `accuracy_${c}`)].join(","));
  });
});

describe("transplant: a deeper population brings its upstream branch", () => {
  it("transplant({site: 'fc2'}) into a recipient of other widths and normalisation: the units compute the donor's exactly, the recipient is untouched", async () => {
    // The recipient normalises pixels differently (mean 0, std 1): the first layer of the branch is rewritten for it.
    const { data: d, donor: donorBytes, recipient: recipientBytes } = deepTransplantSetup(0, 1);
    const donor = await openModel(donorBytes, { name: "donor" });
    const recipient = await openModel(recipientBytes, { name: "recipient" });
    const result = await transplant(donor, recipient, d, { test: d, site: "fc2", units: [0, 3], class: 1, budgetEpochs: 2, resamples: 50 });
    expect(result.transplanted.site).toBe("fc2");
    expect(result.transplanted.units).toEqual([4, 5]);
    expect(result.transplanted.branch).toEqual([{ site: "fc1", units: [7, 8, 9, 10, 11, 12], donorSite: "fc1" }]);
    const merged = await openModel(result.model, { name: "merged" });
    const mine = await record(merged, d, { sites: ["fc1", "fc2"], samples: true });
    const theirs = await record(donor, d, { sites: ["fc1", "fc2"], samples: true });
    const alone = await record(recipient, d, { sites: ["fc1", "fc2"], samples: true });
    const column = (r: typeof mine, site: number, unit: number) => {
      const m = r.sites[site].samples!;
      return Array.from({ length: d.n }, (_, s) => m.data[s * m.shape[1] + unit]);
    };
    const close = (a: number[], b: number[]) => a.forEach((v, i) => expect(v).toBeCloseTo(b[i], 5));
    for (let u = 0; u < 6; u++) close(column(mine, 0, 7 + u), column(theirs, 0, u)); // the whole upstream layer
    close(column(mine, 1, 4), column(theirs, 1, 0));
    close(column(mine, 1, 5), column(theirs, 1, 3));
    for (let u = 0; u < 7; u++) close(column(mine, 0, u), column(alone, 0, u)); // the recipient's own units unchanged
    for (let u = 0; u < 4; u++) close(column(mine, 1, u), column(alone, 1, u));
    expect(result.ablationCheck.samePredictionsAsBefore).toBe(true);
    for (const m of [donor, recipient, merged]) await closeModel(m);
  });
});

describe("transplant between a flat-input MLP and one that flattens its image", () => {
  /** A recipient as `lesion train` writes one: image input [1, 1, 8], a Flatten, then fc1 (7), fc2 (4), fc3 (3). */
  const flatteningRecipient = (): Uint8Array => {
    const rand = random(5);
    const linear = (name: string, out: number, inp: number): LayerSpec => ({ op: "linear", name, weight: randomArray(out * inp, rand, 0.6), shape: [out, inp], bias: randomArray(out, rand, 0.2) });
    const model = buildClassifier({ layers: [{ op: "flatten" }, linear("fc1", 7, 8), { op: "relu" }, linear("fc2", 4, 7), { op: "relu" }, linear("fc3", 3, 4)], inputShape: [1, 1, 8] });
    writeMetadata(model, { preprocessing: { layout: "nchw", mean: [0.5], std: [0.5], imageShape: [1, 1, 8] }, classNames: null });
    return encodeModel(model);
  };

  it("transplant(an imported flat MLP, a trained one that flattens): the Flatten is no other activation; the units compute the donor's exactly both ways (helper trial 'newuser46': refused as 'flatten,linear,relu' against 'linear,relu')", async () => {
    const { data: d, donor: flatBytes } = deepTransplantSetup(0.5, 0.5);
    const flat = await openModel(flatBytes, { name: "flat" });
    const flattening = await openModel(flatteningRecipient(), { name: "flattening" });
    try {
      for (const [donor, recipient, first] of [[flat, flattening, 7], [flattening, flat, 6]] as const) {
        const result = await transplant(donor, recipient, d, { test: d, site: "fc1", units: [0, 2], class: 1, budgetEpochs: 1, resamples: 20 });
        expect(result.transplanted.units).toEqual([first, first + 1]);
        const merged = await openModel(result.model, { name: "merged" });
        try {
          const mine = (await record(merged, d, { sites: ["fc1"], samples: true })).sites[0].samples!;
          const theirs = (await record(donor, d, { sites: ["fc1"], samples: true })).sites[0].samples!;
          for (let s = 0; s < d.n; s++) {
            expect(mine.data[s * mine.shape[1] + first]).toBeCloseTo(theirs.data[s * theirs.shape[1]], 5);
            expect(mine.data[s * mine.shape[1] + first + 1]).toBeCloseTo(theirs.data[s * theirs.shape[1] + 2], 5);
          }
        } finally {
          await closeModel(merged);
        }
      }
    } finally {
      await closeModel(flat);
      await closeModel(flattening);
    }
  });
});

describe("mergeNetworks + trainNetwork({gradientMasks})", () => {
  it("trains only the new outgoing columns: every other entry stays bit-identical, the recipient's output before training is unchanged", async () => {
    const rand = random(5);
    const network: Network = { inputShape: [4], layers: [{ op: "linear", name: "fc1", in: 4, out: 3, bias: true }, { op: "relu" }, { op: "linear", name: "fc2", in: 3, out: 2, bias: true }] };
    const values = new Map([["fc1.weight", randomArray(12, rand)], ["fc1.bias", randomArray(3, rand)], ["fc2.weight", randomArray(6, rand)], ["fc2.bias", randomArray(2, rand)]]);
    const preprocessing = { layout: "flat" as const, mean: [0], std: [1], imageShape: [1, 1, 4] as [number, number, number] };
    const merged = mergeNetworks({ recipient: { network, values, preprocessing }, depth: 0, population: { weight: randomArray(8, rand), bias: randomArray(2, rand) }, branch: [], train: "outgoing" });
    expect(merged.units).toEqual([3, 4]);
    const w2 = merged.values.get("fc2.weight")!;
    expect(Array.from(w2)).toEqual([...Array.from(values.get("fc2.weight")!.subarray(0, 3)), 0, 0, ...Array.from(values.get("fc2.weight")!.subarray(3, 6)), 0, 0]);
    const inputs = randomArray(40 * 4, rand);
    const labels = Int32Array.from({ length: 40 }, (_, i) => i % 2);
    const trained = await trainNetwork(merged.network, { optimizer: "adam", momentum: 0.9, weightDecay: 0.01, betas: [0.9, 0.999], eps: 1e-8, masks: {}, gradientMasks: merged.gradientMasks, epochs: 3, batchSize: 8, lr: 0.05, seed: 0, parameters: merged.values, train: { inputs, labels }, classes: 2 });
    for (const [name, before] of merged.values) {
      const after = trained.parameters.get(name)!;
      const mask = merged.gradientMasks[name];
      before.forEach((v, i) => (mask[i] === 0 ? expect(after[i]).toBe(v) : undefined));
    }
    const after2 = trained.parameters.get("fc2.weight")!;
    for (const i of [3, 4, 8, 9]) expect(after2[i]).not.toBe(0);
  });
});

describe("transplant: bad input, one clear line each", () => {
  const data = (n: number, size: number, classes: number): Dataset => {
    const rand = random(n + size);
    return { spec: `random:${size}`, n, shape: [1, 1, size], images: Float32Array.from({ length: n * size }, () => rand()), labels: Int32Array.from({ length: n }, (_, i) => i % classes), numClasses: classes, classNames: Array.from({ length: classes }, (_, i) => String(i)), source: "test" };
  };
  const open = (bytes: Uint8Array, name: string) => openModel(bytes, { name });
  const d = data(40, 8, 3);

  it("transplant(8-input donor, 6-input recipient) is shape-mismatch naming both inputs", async () => {
    const [a, b] = [await open(randomMlp([8, 6, 3], 1), "a.onnx"), await open(randomMlp([6, 6, 3], 2), "b.onnx")];
    const error = await errorOf(() => transplant(a, b, d, { test: d, class: 0 }));
    expect([error.code, error.message]).toEqual(["shape-mismatch", "donor a.onnx takes inputs of [8] but recipient b.onnx takes [6]; a transplant needs one input space"]);
  });

  // A trial's NaN donor was told "no population … holds class 3 … is it given its inputs as it was trained?".
  it("transplant(a donor with a NaN weight) is bad-model naming the weight, before any population is searched", async () => {
    const spec = decodeModel(randomMlp([8, 6, 3], 1));
    const initializers = spec.graph!.initializer!;
    const at = initializers.findIndex((t) => t.name === "fc1.weight");
    const values = Float32Array.from(tensorValues(initializers[at]) as Float32Array);
    values[3] = NaN;
    initializers[at] = makeTensor("fc1.weight", tensorDims(initializers[at]), values);
    const bytes = encodeModel(spec);
    const [a, b] = [await open(bytes, "nan.onnx"), await open(randomMlp([8, 6, 3], 2), "b.onnx")];
    const error = await errorOf(() => transplant(a, b, d, { test: d, class: 0 }));
    expect([error.code, error.message]).toEqual(["bad-model", "nan.onnx has NaN or infinite weights (fc1.weight): a transplant (its population search and training) needs finite activations"]);
  });

  it("transplant(3-class donor, 4-class recipient) is shape-mismatch naming both class counts", async () => {
    const [a, b] = [await open(randomMlp([8, 6, 3], 1), "a.onnx"), await open(randomMlp([8, 6, 4], 2), "b.onnx")];
    const error = await errorOf(() => transplant(a, b, d, { test: d, class: 0 }));
    expect([error.code, error.message]).toEqual(["shape-mismatch", "donor a.onnx has 3 classes but recipient b.onnx has 4; a transplant needs the same classes"]);
  });

  it("transplant({site: 'fc9'}) or ({recipientSite: 'fc9'}) is unknown-site naming the model and the closest sites; a recipient site at another depth is bad-option", async () => {
    const [a, b] = [await open(randomMlp([8, 6, 5, 3], 1), "a.onnx"), await open(randomMlp([8, 6, 5, 3], 2), "b.onnx")];
    const error = await errorOf(() => transplant(a, b, d, { test: d, class: 0, site: "fc9" }));
    expect(error.code).toBe("unknown-site");
    expect(error.message).toMatch(/^unknown site 'fc9' in a\.onnx; closest: /);
    const missing = await errorOf(() => transplant(a, b, d, { test: d, class: 0, site: "fc1", recipientSite: "fc9" }));
    expect(missing.code).toBe("unknown-site");
    expect(missing.message).toMatch(/^unknown site 'fc9' in b\.onnx; closest: /);
    const other = await errorOf(() => transplant(a, b, d, { test: d, class: 0, site: "fc1", recipientSite: "fc2" }));
    expect([other.code, other.message]).toEqual(["bad-option", "recipient site fc2 must be the output of linear layer 1 of b.onnx, the depth of donor site fc1"]);
  });

  it("transplant({units}) of dead units is bad-units naming them", async () => {
    const rand = random(3);
    const bias = new Float32Array(6).fill(0.1);
    bias[1] = bias[4] = -100; // inputs lie in [−1, 1]: units 1 and 4 never fire
    const layers: LayerSpec[] = [
      { op: "linear", name: "fc1", weight: randomArray(48, rand, 0.5), shape: [6, 8], bias },
      { op: "relu" },
      { op: "linear", name: "fc2", weight: randomArray(18, rand, 0.5), shape: [3, 6], bias: null },
    ];
    const proto = buildClassifier({ layers, inputShape: [8] });
    writeMetadata(proto, { preprocessing: { layout: "flat", mean: [0.5], std: [0.5], imageShape: [1, 1, 8] }, classNames: null });
    const [a, b] = [await open(encodeModel(proto), "a.onnx"), await open(randomMlp([8, 6, 3], 2), "b.onnx")];
    const error = await errorOf(() => transplant(a, b, d, { test: d, site: "fc1", units: [1, 4] }));
    expect([error.code, error.message]).toEqual(["bad-units", "units fc1:1,4 of a.onnx are dead on random:8 (never active): nothing to transplant"]);
  });

  it("transplant(a CNN donor, an MLP recipient) is bad-model naming both networks' layers up to the site", async () => {
    const [a, b] = [await open(randomCnn(1, 5), "cnn.onnx"), await open(randomMlp([64, 6, 5], 2, [1, 8, 8]), "b.onnx")];
    const images = data(20, 64, 5);
    const error = await errorOf(() => transplant(a, b, { ...images, shape: [1, 8, 8] }, { test: { ...images, shape: [1, 8, 8] }, class: 0, site: "conv1" }));
    expect([error.code, error.message]).toEqual(["bad-model", "donor layers up to conv1 (conv(kernel=3,stride=1,padding=1),relu) differ from the recipient's up to fc1 (linear,relu); the units need the same activations and windows"]);
  });

  it("lesion transplant --class by the recipient's class name: resolved to its index (the console names it); a name it lacks is one line, exit 1, nothing written; the drawn budget's indices are written", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-transplant-class-"));
    const names = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];
    for (const [file, seed] of [["a.onnx", 1], ["b.onnx", 2]] as const) {
      const model = decodeModel(randomMlp([784, 8, 10], seed, [1, 28, 28]));
      writeMetadata(model, { preprocessing: { layout: "flat", mean: [0.5], std: [0.5], imageShape: [1, 28, 28] }, classNames: names });
      writeFileSync(join(dir, file), encodeModel(model));
    }
    const run = (klass: string, out: string) =>
      spawnSync(process.execPath, [BIN, "transplant", "a.onnx", "--into", "b.onnx", "--data", "mnist:test", "--test", "mnist:test", "--class", klass, "--site", "fc1", "--units", "0,1", "--budget-samples", "100", "--budget-epochs", "1", "--repeats", "1", "--resamples", "10", "-o", out], { cwd: dir, encoding: "utf8", env: { ...process.env, LESION_DEBUG: "" } });
    const byName = run("three", "named");
    expect(byName.status, byName.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(join(dir, "named", "summary.json"), "utf8"));
    expect(summary.class).toBe(3);
    // The drawn budget's images, by index into --data: their labels give the summary's per-class counts.
    expect(summary.budget.indicesFile).toBe("budget_samples.npy");
    const indices = Array.from(new Int32Array(new Uint8Array(parseNpy(readFileSync(join(dir, "named", "budget_samples.npy")), "budget").data).buffer));
    expect(indices).toHaveLength(100);
    expect(indices).toEqual([...new Set(indices)].sort((a, b) => a - b));
    const labels = (await loadDataset("mnist:test")).labels;
    expect(Array.from({ length: 10 }, (_, c) => indices.filter((i) => labels[i] === c).length)).toEqual(summary.budget.perClass);
    expect(byName.stdout).toMatch(/^ {2}before .*, class three /m);
    const missing = run("cat", "missing");
    expect(missing.status).toBe(1);
    expect(missing.stderr.trimEnd().split("\n")).toEqual(["lesion: --class cat: the recipient has no class of that name (its classes: zero, one, two, three, four, five, six, seven, eight, nine)"]);
    expect(existsSync(join(dir, "missing"))).toBe(false);
  }, 60_000);

  it("lesion transplant with a missing site: one stderr line, exit 1, nothing written", () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-transplant-bin-"));
    writeFileSync(join(dir, "a.onnx"), randomMlp([16, 6, 3], 1, [1, 4, 4]));
    writeFileSync(join(dir, "b.onnx"), randomMlp([16, 6, 3], 2, [1, 4, 4]));
    const run = spawnSync(process.execPath, [BIN, "transplant", "a.onnx", "--into", "b.onnx", "--data", "mnist:test", "--site", "fc7", "--units", "1,2", "-o", "out"], { cwd: dir, encoding: "utf8", env: { ...process.env, LESION_DEBUG: "" } });
    expect(run.status).toBe(1);
    const lines = run.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^lesion: /);
    expect(existsSync(join(dir, "out"))).toBe(false);
  });
});
