/**
 * A class the data has no images of (a test split without class 7): it has no mean activation and no accuracy, and
 * every result says so the same way (NaN in memory and in .npy, null in JSON, an empty CSV field), where record's
 * class means and characterize's impact profile had said 0. The classes that are present must not change: their
 * means are the full data's (class means do not depend on other classes' images), checked against a record of the
 * whole test set with every sample's activation.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import { parseNpy } from "../../src/data/npy.js";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel, type LesionModel } from "../../src/engine/model.js";
import { record } from "../../src/engine/record.js";
import { importModel } from "../../src/models/importModel.js";
import { provenance } from "../../src/runs/provenance.js";
import { recordFiles } from "../../src/runs/recordFiles.js";
import { writeResultDir } from "../../src/runs/resultDir.js";
import { characterize } from "../../src/study/characterize.js";
import { subset } from "../helpers.js";

const checkpoint = fileURLToPath(new URL("../fixtures/meyes2019/meyes2019-mlp20/trained.pt", import.meta.url));
const ABSENT = 7;
let model: LesionModel;
let full: Dataset;
let data: Dataset;

/** The first `limit` images of `source` whose label is not `absent`. */
function without(source: Dataset, absent: number, limit: number): Dataset {
  const keep: number[] = [];
  for (let i = 0; i < source.n && keep.length < limit; i++) if (source.labels[i] !== absent) keep.push(i);
  return subset(source, keep, `${source.spec} without ${absent}`);
}

beforeAll(async () => {
  model = await openModel((await importModel(checkpoint, { arch: "mlp", activation: "relu", mean: [0.5], std: [0.5] })).bytes, { name: "mlp20" });
  full = await loadDataset("mnist:test");
  data = without(full, ABSENT, 2000);
});

afterAll(async () => {
  await closeModel(model);
});

describe("a class without samples", () => {
  it("record: NaN class means for it, listed in emptyClasses; the other classes' means equal those computed by hand from every image's activation", async () => {
    const part = await record(model, data, { sites: ["fc1"] });
    const fc1 = part.sites[0];
    expect(fc1.emptyClasses).toEqual([ABSENT]);
    const units = fc1.units;
    for (let u = 0; u < units; u++) expect(fc1.classMeans.data[ABSENT * units + u]).toBeNaN();
    // Independent: the means by hand from every image's activation, recorded on the whole test set.
    const samples = await record(model, full, { sites: ["fc1"], samples: true });
    const kept: number[] = [];
    for (let i = 0; i < full.n && kept.length < data.n; i++) if (full.labels[i] !== ABSENT) kept.push(i);
    for (const c of [0, 3, 9]) {
      for (const u of [0, 5, 19]) {
        let sum = 0;
        let count = 0;
        for (const i of kept) if (full.labels[i] === c) (sum += samples.sites[0].samples!.data[i * units + u], count++);
        expect(fc1.classMeans.data[c * units + u]).toBeCloseTo(sum / count, 5);
      }
    }
  });

  it("record's files: a NaN row in class_means.npy, empty CSV fields, null in summary.json", async () => {
    const part = await record(model, data, { sites: ["fc1"] });
    const dir = mkdtempSync(join(tmpdir(), "lesion-absent-"));
    try {
      const { files, summary } = recordFiles(part, model.sha256, { sites: ["fc1"] }, provenance(model, data));
      writeResultDir(dir, files, summary);
      const npy = parseNpy(readFileSync(join(dir, "fc1.class_means.npy")), "fc1.class_means.npy");
      expect([npy.descr, npy.shape]).toEqual(["<f8", [10, 20]]);
      const means = new Float64Array(new Uint8Array(npy.data).buffer);
      for (let u = 0; u < 20; u++) expect(means[ABSENT * 20 + u]).toBeNaN();
      expect(Array.from(means).filter((v) => !Number.isNaN(v))).toEqual(Array.from(part.sites[0].classMeans.data).filter((v) => !Number.isNaN(v)));
      const lines = readFileSync(join(dir, "fc1.csv"), "utf8").trim().split("\n");
      const header = lines[0].split(",");
      const column = header.indexOf(`mean_${ABSENT}`);
      for (const line of lines.slice(1)) expect(line.split(",")[column]).toBe("");
      const json = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8"));
      expect(json.sites[0].classMeans.data.slice(ABSENT * 20, ABSENT * 20 + 20)).toEqual(new Array(20).fill(null));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("characterize: NaN impact for it, the largest class drop over the other classes, populations found", async () => {
    const result = await characterize(model, data, { sites: ["fc1"], seed: 1, map: false });
    const fc1 = result.indicators.sites[0];
    const k = 10;
    for (let u = 0; u < fc1.units; u++) {
      expect(fc1.impactProfile.data[u * k + ABSENT]).toBeNaN();
      const others = Array.from({ length: k }, (_, c) => fc1.impactProfile.data[u * k + c]).filter((_, c) => c !== ABSENT);
      expect(fc1.impactMaxClass[u]).toBe(Math.max(...others));
      expect(Number.isFinite(fc1.impactMaxClass[u])).toBe(true);
    }
    const site = result.populations[0];
    for (const g of site.groupings) {
      expect(g.k).toBeGreaterThanOrEqual(2);
      expect(Number.isFinite(g.silhouette)).toBe(true);
      for (const p of g.populations) {
        expect(p.classProfile[ABSENT]).toBeNaN();
        // No change for a class without samples: null, as deltaPerClass (it had been NaN).
        expect([p.ablation.deltaPerClass[ABSENT], p.ablation.sumOfSingles[ABSENT], p.ablation.interaction[ABSENT]]).toEqual([null, null, null]);
      }
    }
    expect(site.embeddings.pca.data.every(Number.isFinite)).toBe(true);
    // t-SNE had returned NaN for every unit: a dead unit's flat profile is equally far from all the others.
    expect(fc1.dead.length).toBeGreaterThan(0);
    const tsne = site.embeddings.tsne!.data;
    for (let u = 0; u < fc1.units; u++) {
      const placed = [tsne[2 * u], tsne[2 * u + 1]].every(Number.isFinite);
      expect(placed).toBe(!fc1.dead.includes(u));
    }
  });
});
