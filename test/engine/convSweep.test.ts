/**
 * The delta path (src/engine/sweep/convSweep.ts): zeroing channels as a delta on the next layer. On the committed CNN
 * fixtures every filter of the sites it takes equals a float64 PyTorch reading of the same ONNX graph
 * (test/fixtures/cnn/make_conv_reference.py → conv.reference.json), and its outcomes equal maskedSweep's; on a tiny
 * CNN built here, each site's outcomes equal plain float32 runs of the network with the filter's incoming weights and
 * bias zeroed (the same as zeroing its ReLU output), a graph the sweep never sees.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, getSession, openModel, resolveSite, type LesionModel } from "../../src/engine/model.js";
import { OrtTensor } from "../../src/engine/ort.js";
import { maskedSweep } from "../../src/engine/sweep/maskedSweep.js";
import { planSweep, sweep } from "../../src/engine/sweep/sweep.js";
import type { SweepCondition, SweepResult } from "../../src/engine/sweep/types.js";
import { buildClassifier, type LayerSpec } from "../../src/onnx/build.js";
import { writeMetadata } from "../../src/onnx/metadata.js";
import { encodeModel } from "../../src/onnx/proto.js";
import { importModel } from "../../src/models/importModel.js";
import { ablate } from "../../src/study/ablate.js";
import { condition } from "../../src/study/conditions.js";
import { random, randomArray } from "../helpers.js";

interface Unit {
  unit: number;
  correctPerClass: number[];
  loss: number;
}
interface Reference {
  mean: number[];
  std: number[];
  vgg_bn: { intact: { correctPerClass: number[] }; sites: Record<string, { units: Unit[] }> };
  resnet18: { intact: { correctPerClass: number[] }; sites: Record<string, { units: Unit[] }> };
}

const dir = new URL("../fixtures/cnn/", import.meta.url).pathname;
const reference = JSON.parse(readFileSync(join(dir, "conv.reference.json"), "utf8")) as Reference;
let cifar: Dataset | undefined;
const data = async () => (cifar ??= await loadDataset("cifar10:test", { cacheDir: mkdtempSync(join(tmpdir(), "lesion-conv-")) }));
const singles = (units: number): SweepCondition[] => Array.from({ length: units }, (_, u) => ({ units: [u], mode: "zero" as const }));

/** Same changed samples, predictions and counts; losses equal to float32 precision. */
function expectSameOutcomes(actual: SweepResult, expected: SweepResult, label: string): void {
  expect(actual.intact.correctPerClass, label).toEqual(expected.intact.correctPerClass);
  expect(Array.from(actual.intact.predictions), label).toEqual(Array.from(expected.intact.predictions));
  expect(Math.abs(actual.intact.lossSum - expected.intact.lossSum) / expected.intact.lossSum, label).toBeLessThan(1e-5);
  actual.conditions.forEach((c, i) => {
    const e = expected.conditions[i];
    expect(Array.from(c.changed), `${label}:${i}`).toEqual(Array.from(e.changed));
    expect(Array.from(c.changedPredictions), `${label}:${i}`).toEqual(Array.from(e.changedPredictions));
    expect(c.correctPerClass, `${label}:${i}`).toEqual(e.correctPerClass);
    expect(Math.abs(c.lossSum! - e.lossSum!) / e.lossSum!, `${label}:${i} loss ${c.lossSum} vs ${e.lossSum}`).toBeLessThan(1e-5);
  });
}

async function fixture(name: "vgg_bn" | "resnet18"): Promise<LesionModel> {
  const imported = await importModel(join(dir, `${name}.onnx`), { mean: reference.mean, std: reference.std });
  return openModel(imported.bytes, { name });
}

/**
 * The filters checked per site: all, except at the VGG's first four sites, whose suffix is most of the network (a
 * quarter, then half of their filters keeps the test within its time; all 224 VGG filters matched when the path was
 * written).
 */
const SAMPLED: Record<string, number> = { "features.0": 4, "features.3": 4, "features.7": 2, "features.10": 2 };
const checked = (site: string, units: number): number[] => Array.from({ length: units }, (_, u) => u).filter((u) => u % (SAMPLED[site] ?? 1) === 1 % (SAMPLED[site] ?? 1));

describe("convSweep on the CNN fixtures exported by PyTorch", () => {
  for (const name of ["vgg_bn", "resnet18"] as const) {
    it(`sweep(${name}, the filters of ${Object.keys(reference[name].sites).join(", ")}) takes the delta path and equals float64 PyTorch class by class, unresolvedTies 0`, { timeout: 400_000 }, async () => {
      const model = await fixture(name);
      try {
        for (const [siteName, expected] of Object.entries(reference[name].sites)) {
          const site = resolveSite(model, siteName);
          expect(site.units).toBe(expected.units.length);
          const units = checked(siteName, site.units);
          const conditions = units.map((u) => ({ units: [u], mode: "zero" as const }));
          expect((await planSweep(model, site, conditions)).engine, siteName).toBe("delta");
          const result = await sweep({ model, site, data: await data(), conditions, loss: true });
          expect(result.stats.unresolvedTies).toBe(0);
          expect(result.intact.correctPerClass).toEqual(reference[name].intact.correctPerClass);
          result.conditions.forEach((c, i) => {
            const unit = expected.units[units[i]];
            expect(c.correctPerClass, `${siteName}:${unit.unit}`).toEqual(unit.correctPerClass);
            // float32 logits' loss against the float64 network's: close, not equal.
            expect(Math.abs(c.lossSum! / 1000 - unit.loss), `${siteName}:${unit.unit} loss`).toBeLessThan(1e-4 * unit.loss + 1e-6);
          });
        }
      } finally {
        await closeModel(model);
      }
    });
  }

  it("sweep(vgg_bn / resnet18, filters and pairs of conv sites) equals maskedSweep: changed samples, predictions, counts, loss to 1e-5", { timeout: 240_000 }, async () => {
    const cases: Array<["vgg_bn" | "resnet18", string, SweepCondition[]]> = [
      ["vgg_bn", "features.3", [{ units: [6], mode: "zero" }, { units: [2, 9], mode: "zero" }]],
      ["vgg_bn", "features.14", [...singles(64).filter((c) => c.units[0] % 16 === 3), { units: [0, 5, 63], mode: "zero" }]],
      ["vgg_bn", "classifier.1", [...singles(64).filter((c) => c.units[0] % 8 === 0), { units: [1, 7], mode: "zero" }]],
      ["resnet18", "layer2.1.conv1", [...singles(16).filter((c) => c.units[0] % 8 === 0), { units: [3, 4], mode: "zero" }]],
    ];
    for (const name of ["vgg_bn", "resnet18"] as const) {
      const model = await fixture(name);
      try {
        for (const [, siteName, conditions] of cases.filter(([m]) => m === name)) {
          const site = resolveSite(model, siteName);
          expect((await planSweep(model, site, conditions)).engine).toBe("delta");
          const fast = await sweep({ model, site, data: await data(), conditions, loss: true });
          const masked = await maskedSweep({ model, site, data: await data(), conditions });
          expect(fast.stats.unresolvedTies).toBe(0);
          // Only samples on which a channel is non-zero are evaluated: fewer rows than the masked path's.
          expect(fast.stats.rowsEvaluated).toBeLessThanOrEqual(masked.stats.rowsEvaluated);
          expectSameOutcomes(fast, masked, `${name} ${siteName}`);
        }
      } finally {
        await closeModel(model);
      }
    }
  });

  it("planSweep(resnet18, a block output feeding a Conv and the residual Add) stays on the masked path", { timeout: 30_000 }, async () => {
    const model = await fixture("resnet18");
    try {
      for (const siteName of ["layer2.1", "conv1", "layer2.1.conv2"]) {
        expect((await planSweep(model, resolveSite(model, siteName), singles(2))).engine, siteName).toBe("masked");
      }
    } finally {
      await closeModel(model);
    }
  });
});

/** conv1 → ReLU → MaxPool → conv2 → ReLU → Flatten → fc1 → ReLU → fc2, optionally a BatchNorm after conv1's ReLU. */
function tinyCnn(zero: { layer: "conv1" | "conv2" | "fc1"; units: number[] } | null, batchNorm = false): Uint8Array {
  const rand = random(5);
  const w1 = randomArray(4 * 9, rand, 0.7);
  const b1 = randomArray(4, rand, 0.2);
  const w2 = randomArray(6 * 4 * 9, rand, 0.4);
  const b2 = randomArray(6, rand, 0.2);
  const f1 = randomArray(12 * 96, rand, 0.3);
  const c1 = randomArray(12, rand, 0.1);
  const f2 = randomArray(5 * 12, rand, 0.6);
  const c2 = randomArray(5, rand, 0.1);
  // Zeroing a unit's incoming weights and bias zeroes its ReLU output: the papers' ablation, in a different graph.
  for (const u of zero?.units ?? []) {
    const [w, b, fanIn] = zero!.layer === "conv1" ? [w1, b1, 9] : zero!.layer === "conv2" ? [w2, b2, 36] : [f1, c1, 96];
    w.fill(0, u * fanIn, (u + 1) * fanIn);
    b[u] = 0;
  }
  const bn: LayerSpec[] = batchNorm
    ? [{ op: "batchnorm", name: "bn1", scale: Float32Array.of(1, 2, 0.5, 1), bias: Float32Array.of(0.1, -0.2, 0.3, 0), mean: Float32Array.of(0.2, 0, 0.1, 0.3), variance: Float32Array.of(1, 0.5, 2, 1), epsilon: 1e-5 }]
    : [];
  const layers: LayerSpec[] = [
    { op: "conv", name: "conv1", weight: w1, shape: [4, 1, 3, 3], bias: b1, stride: 1, padding: 1 },
    { op: "relu" },
    ...bn,
    { op: "maxpool", kernel: 2, stride: 2 },
    { op: "conv", name: "conv2", weight: w2, shape: [6, 4, 3, 3], bias: b2, stride: 1, padding: 1 },
    { op: "relu" },
    { op: "flatten" },
    { op: "linear", name: "fc1", weight: f1, shape: [12, 96], bias: c1 },
    { op: "relu" },
    { op: "linear", name: "fc2", weight: f2, shape: [5, 12], bias: c2 },
  ];
  const model = buildClassifier({ layers, inputShape: [1, 8, 8] });
  writeMetadata(model, { preprocessing: { layout: "nchw", mean: [0.5], std: [0.5], imageShape: [1, 8, 8] }, classNames: null });
  return encodeModel(model);
}

describe("convSweep on a tiny CNN built in code", () => {
  const n = 300;
  const rand = random(21);
  const images = Float32Array.from({ length: n * 64 }, () => rand());
  const labels = Int32Array.from({ length: n }, () => Math.floor(rand() * 5));
  const tiny: Dataset = { spec: "tiny", n, shape: [1, 8, 8], images, labels, numClasses: 5, classNames: ["0", "1", "2", "3", "4"], source: "test" };

  /** Predictions and summed loss of a plain float32 run of the network with `zero`'s incoming weights zeroed. */
  async function plain(zero: Parameters<typeof tinyCnn>[0]): Promise<{ predictions: number[]; loss: number }> {
    const model = await openModel(tinyCnn(zero), { name: "tiny" });
    try {
      const session = await getSession(model, "plain", () => model.proto);
      const input = Float32Array.from(images, (v) => Math.fround(Math.fround(v - 0.5) / 0.5));
      const logits = (await session.run({ [model.inputName]: new OrtTensor("float32", input, [n, 1, 8, 8]) }))[model.outputName].data as Float32Array;
      let loss = 0;
      const predictions = Array.from({ length: n }, (_, s) => {
        const row = Array.from(logits.subarray(s * 5, s * 5 + 5));
        const max = Math.max(...row);
        loss += Math.log(row.reduce((a, v) => a + Math.exp(v - max), 0)) + max - row[labels[s]];
        return row.indexOf(max);
      });
      return { predictions, loss };
    } finally {
      await closeModel(model);
    }
  }

  it("sweep(tiny CNN, filters and pairs at conv1 → MaxPool → Conv, conv2 → Flatten → Gemm, fc1 → Gemm) equals runs with the filters' weights zeroed", async () => {
    const model = await openModel(tinyCnn(null), { name: "tiny" });
    try {
      const intact = await plain(null);
      const cases: Array<["conv1" | "conv2" | "fc1", number[][]]> = [
        ["conv1", [[0], [1], [2], [3], [0, 2]]],
        ["conv2", [[0], [1], [2], [3], [4], [5], [1, 4]]],
        ["fc1", [[0], [3], [7], [11], [2, 5]]],
      ];
      let changedSomewhere = 0;
      for (const [layer, unitSets] of cases) {
        const site = resolveSite(model, layer);
        const conditions = unitSets.map((units) => ({ units, mode: "zero" as const }));
        expect((await planSweep(model, site, conditions)).engine, layer).toBe("delta");
        const result = await sweep({ model, site, data: tiny, conditions, loss: true });
        expect(result.stats.unresolvedTies).toBe(0);
        expect(Array.from(result.intact.predictions)).toEqual(intact.predictions);
        for (let i = 0; i < unitSets.length; i++) {
          const expected = await plain({ layer, units: unitSets[i] });
          const predictions = [...intact.predictions];
          result.conditions[i].changed.forEach((s, j) => (predictions[s] = result.conditions[i].changedPredictions[j]));
          expect(predictions, `${layer}:${unitSets[i]}`).toEqual(expected.predictions);
          expect(Math.abs(result.conditions[i].lossSum! - expected.loss) / expected.loss).toBeLessThan(1e-5);
          changedSomewhere += result.conditions[i].changed.length;
        }
      }
      expect(changedSomewhere).toBeGreaterThan(50);
    } finally {
      await closeModel(model);
    }
  });

  it("planSweep(tiny CNN with BatchNorm between conv1's ReLU and the MaxPool, conv1) stays masked; mean ablations and large groups too", async () => {
    const withBn = await openModel(tinyCnn(null, true), { name: "tiny-bn" });
    const model = await openModel(tinyCnn(null), { name: "tiny" });
    try {
      expect((await planSweep(withBn, resolveSite(withBn, "conv1"), singles(2))).engine).toBe("masked");
      const site = resolveSite(model, "conv2");
      const plan = await planSweep(model, site, [{ units: [0], mode: "mean" }, { units: [0, 1, 2, 3, 4, 5], mode: "zero" }, { units: [1], mode: "zero" }]);
      expect(plan.engine).toBe("delta");
      // The mean ablation runs masked; the zero ablations (a group of 6 ≤ CONV_UNITS included) on the delta path.
      expect(plan.blocks).toEqual([[1, 2], [0]]);
      // A run of mean ablations only took no delta path: its result says masked (helper trial 'newuser66': "delta").
      const sites = (modes: Array<"zero" | "mean">) => ablate(model, tiny, { conditions: modes.map((mode) => condition(site, [0], mode)) }).then((r) => r.engine.conv2);
      expect([await sites(["mean"]), await sites(["mean", "zero"])]).toEqual(["masked", "delta"]);
    } finally {
      await closeModel(withBn);
      await closeModel(model);
    }
  });
});
