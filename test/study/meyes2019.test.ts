/**
 * Reproduction of Meyes et al. 2019 on their published checkpoints: import without Python, the published accuracies,
 * and every single-unit and pair ablation of mlp20 equal to an independent float64 PyTorch computation
 * (test/fixtures/torch/make_meyes2019_references.py); every single-unit and pair ablation of each hidden layer of
 * mlp100x3 through the pruned path equal to float64 NumPy (test/fixtures/torch/make_mlp100x3_sweep_references.py).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel, resolveSite, type LesionModel } from "../../src/engine/model.js";
import { ablate } from "../../src/study/ablate.js";
import { condition, pairs, singles } from "../../src/study/conditions.js";
import { evaluate } from "../../src/engine/evaluate.js";
import { importModel } from "../../src/models/importModel.js";
import { record } from "../../src/engine/record.js";

interface Reference {
  layers: Array<[string, number[]]>;
  accuracy: number;
  perClass: number[];
  conditions: Array<{ site: string; units: number[]; correct: number[]; correct32: number[]; ties: number }>;
  recording?: Record<string, { mean: number[]; std: number[]; fractionActive: number[]; classMeans: number[][] }>;
}

const references = JSON.parse(readFileSync(new URL("../fixtures/torch/meyes2019.reference.json", import.meta.url), "utf8")) as Record<string, Reference>;
const checkpoint = (name: string) => fileURLToPath(new URL(`../fixtures/meyes2019/${name}/trained.pt`, import.meta.url));
let data: Dataset;
const models = new Map<string, LesionModel>();

beforeAll(async () => {
  data = await loadDataset("mnist:test");
  for (const name of ["meyes2019-mlp20", "meyes2019-mlp100x3"]) {
    const imported = await importModel(checkpoint(name), { arch: "mlp", activation: "relu", mean: [0.5], std: [0.5] });
    models.set(name, await openModel(imported.bytes, { name }));
  }
});

afterAll(async () => {
  for (const model of models.values()) await closeModel(model);
});

describe("Meyes et al. 2019 checkpoints", () => {
  it("importModel(mlp20, {arch: 'mlp'}) then evaluate gives the published 0.9464 and per-class accuracies", async () => {
    const result = await evaluate(models.get("meyes2019-mlp20")!, data);
    expect(result.accuracy).toBe(0.9464);
    expect(result.perClass.map((p) => Number(p!.toFixed(4)))).toEqual([0.9776, 0.9841, 0.9486, 0.9436, 0.9389, 0.9271, 0.9572, 0.9455, 0.9138, 0.9207]);
    expect(result.perClass).toEqual(references["meyes2019-mlp20"].perClass);
  });

  it("importModel(mlp100x3, saved from cuda:0) then evaluate gives the published 0.9718", async () => {
    const model = models.get("meyes2019-mlp100x3")!;
    expect(model.sites.map((s) => [s.name, s.units])).toEqual(references["meyes2019-mlp100x3"].layers.map(([name, shape]) => [name, shape[0]]));
    expect((await evaluate(model, data)).accuracy).toBe(0.9718);
  });

  for (const name of ["meyes2019-mlp20", "meyes2019-mlp100x3"]) {
    it(`ablate(${name}, mnist:test, singles and pairs, with loss and without: pruned) equals PyTorch float64 per-class counts for every condition`, async () => {
      const model = models.get(name)!;
      const reference = references[name];
      const conditions = reference.conditions.map((c) => condition(resolveSite(model, c.site), c.units));
      for (const loss of [true, false]) {
        const result = await ablate(model, data, { conditions, loss });
        expect(result.baseline.accuracy).toBe(reference.accuracy);
        let differsFrom32 = 0;
        reference.conditions.forEach((c, i) => {
          const correct = result.conditions[i].perClass.map((p, k) => Math.round(p! * result.classCounts[k]));
          expect(correct, `${result.conditions[i].id} loss ${loss}`).toEqual(c.correct);
          // float32 PyTorch may differ only on near ties.
          correct.forEach((v, k) => {
            expect(Math.abs(v - c.correct32[k])).toBeLessThanOrEqual(c.ties);
            if (v !== c.correct32[k]) differsFrom32++;
          });
        });
        expect(differsFrom32).toBeLessThanOrEqual(3);
      }
    });
  }

  it("ablate(mlp100x3, every single and pair of h0, h1, h2, loss off: the pruned path) equals float64 per-class counts for all 15,150 conditions", async () => {
    const model = models.get("meyes2019-mlp100x3")!;
    const reference = JSON.parse(gunzipSync(readFileSync(new URL("../fixtures/torch/mlp100x3-sweep.reference.json.gz", import.meta.url))).toString("utf8")) as { baseline: number[]; sweeps: Record<string, number[]> };
    let checked = 0;
    let changed = 0;
    for (const site of ["h0", "h1", "h2"]) {
      for (const kind of ["singles", "pairs"] as const) {
        const conditions = (kind === "singles" ? singles : pairs)(resolveSite(model, site));
        const result = await ablate(model, data, { conditions, loss: false });
        const expected = reference.sweeps[`${site} ${kind}`];
        expect(expected.length).toBe(conditions.length * 10);
        result.conditions.forEach((c, i) => {
          const delta = c.perClass.map((p, k) => Math.round(p! * result.classCounts[k]) - reference.baseline[k]);
          expect(delta, c.id).toEqual(expected.slice(i * 10, i * 10 + 10));
          if (delta.some((d) => d !== 0)) changed++;
          checked++;
        });
      }
    }
    expect(checked).toBe(15150);
    // The sweeps are not trivially unchanged: most conditions move some class count.
    expect(changed).toBeGreaterThan(10000);
  });

  it("record(mlp20) equals PyTorch's activation statistics, and ablating a never-active unit changes nothing", async () => {
    const model = models.get("meyes2019-mlp20")!;
    const recording = await record(model, data, { sites: ["fc1", "fc2"] });
    const reference = references["meyes2019-mlp20"].recording!;
    for (const site of recording.sites) {
      const r = reference[site.site];
      site.mean.forEach((m, u) => expect(m).toBeCloseTo(r.mean[u], 5));
      site.std.forEach((s, u) => expect(s).toBeCloseTo(r.std[u], 5));
      expect(site.fractionActive).toEqual(r.fractionActive);
      r.classMeans.forEach((row, c) => row.forEach((m, u) => expect(site.classMeans.data[c * site.units + u]).toBeCloseTo(m, 5)));
    }
    const dead = recording.sites.flatMap((s) => s.dead.map((u) => condition(resolveSite(model, s.site), [u])));
    const inactive = (r: Reference["recording"]) => Object.values(r!).reduce((sum, s) => sum + s.fractionActive.filter((f) => f === 0).length, 0);
    expect(dead.length).toBe(inactive(reference));
    if (dead.length > 0) {
      const result = await ablate(model, data, { conditions: dead });
      for (const c of result.conditions) expect([c.delta, c.lost, c.gained]).toEqual([0, 0, 0]);
    }
  });
});
