/**
 * Real CNN exports (test/fixtures/cnn/make_cnn_fixtures.py, PyTorch 1.13): a VGG-style CIFAR-10 network with
 * BatchNorm folded at export, and ResNet-18 adapted to 32×32 (BasicBlocks whose ReLU module runs twice). Imported
 * with per-channel --mean/--std, every filter of one conv site of each, zeroed on the bundled CIFAR-10 test subset,
 * gives the per-class correct counts of PyTorch forward hooks with the model in float64 (cnn.reference.json), with
 * every near tie settled in float64 (none left unresolved).
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import type { Dataset } from "../../src/data/types.js";
import { maskedSweep } from "../../src/engine/sweep/maskedSweep.js";
import { closeModel, openModel, resolveSite } from "../../src/engine/model.js";
import { importModel } from "../../src/models/importModel.js";

interface Row {
  unit: number | null;
  correctPerClass: number[];
  accuracy: number;
}
interface Reference {
  mean: number[];
  std: number[];
  vgg_bn: { site: string; intact: Row; units: Row[] };
  resnet18: { site: string; intact: Row; units: Row[] };
}

const dir = new URL("../fixtures/cnn/", import.meta.url).pathname;
const reference = JSON.parse(readFileSync(join(dir, "cnn.reference.json"), "utf8")) as Reference;
let cifar: Dataset | undefined;
// An empty cache directory: the bundled 1,000 test images, never a full CIFAR-10 a developer has cached.
const data = async () => (cifar ??= await loadDataset("cifar10:test", { cacheDir: mkdtempSync(join(tmpdir(), "lesion-cnn-")) }));

describe("CNN fixtures exported by PyTorch", () => {
  for (const name of ["vgg_bn", "resnet18"] as const) {
    const expected = reference[name];
    it(`maskedSweep(import(${name}.onnx, --mean R,G,B --std R,G,B), every filter of ${expected.site}) equals float64 PyTorch hooks class by class, unresolvedTies 0`, { timeout: 300_000 }, async () => {
      const imported = await importModel(join(dir, `${name}.onnx`), { mean: reference.mean, std: reference.std });
      expect(imported.preprocessing.mean).toEqual(reference.mean);
      expect(imported.preprocessing.std).toEqual(reference.std);
      const model = await openModel(imported.bytes, { name });
      try {
        const site = resolveSite(model, expected.site);
        expect(site.units).toBe(expected.units.length);
        const result = await maskedSweep({ model, site, data: await data(), conditions: expected.units.map((r) => ({ units: [r.unit!], mode: "zero" as const })) });
        expect(result.stats.unresolvedTies).toBe(0);
        expect(result.intact.correctPerClass).toEqual(expected.intact.correctPerClass);
        result.conditions.forEach((c, i) => expect(c.correctPerClass, `${expected.site}:${i}`).toEqual(expected.units[i].correctPerClass));
        console.log(`${name} ${expected.site}: ${result.stats.rowsFloat64} rows settled in float64, ${result.stats.rowsEvaluated} rows, ${result.stats.seconds.toFixed(1)} s`);
      } finally {
        await closeModel(model);
      }
    });
  }
});
