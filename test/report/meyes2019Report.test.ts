/**
 * The study of meyes2019-mlp20 with its initial weights: the report states the paper's findings in the reader's terms
 * (dead units, class-selective units, units that hit many classes, redundant pairs, the weight-change indicator),
 * with numbers that match the independent PyTorch/SciPy references.
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import { closeModel, openModel } from "../../src/engine/model.js";
import { buildReport } from "../../src/report/buildReport.js";
import { reportData, type ReportData } from "../../src/report/reportData.js";
import { importModel } from "../../src/models/importModel.js";
import { study } from "../../src/runs/study.js";

const reference = JSON.parse(readFileSync(new URL("../fixtures/torch/meyes2019.reference.json", import.meta.url), "utf8"))["meyes2019-mlp20"];
const checkpoint = (file: string) => fileURLToPath(new URL(`../fixtures/meyes2019/meyes2019-mlp20/${file}`, import.meta.url));
let data: ReportData;
let html = "";

beforeAll(async () => {
  const root = mkdtempSync(join(tmpdir(), "lesion-mlp20-"));
  vi.stubEnv("LESION_CACHE_DIR", join(root, "cache"));
  const options = { arch: "mlp", activation: "relu" as const, mean: [0.5], std: [0.5] };
  const model = await openModel((await importModel(checkpoint("trained.pt"), options)).bytes, { name: "meyes2019-mlp20" });
  const initial = await openModel((await importModel(checkpoint("untrained.pt"), options)).bytes, { name: "meyes2019-mlp20-initial" });
  try {
    const dir = join(root, "study");
    await study(model, await loadDataset("mnist:test"), { dir, initial });
    html = readFileSync(buildReport(dir), "utf8");
    data = reportData(dir);
  } finally {
    await closeModel(model);
    await closeModel(initial);
  }
}, 300_000);

afterAll(() => {
  vi.unstubAllEnvs();
});

describe("the report of meyes2019-mlp20", () => {
  it("states the baseline and the dead unit (fc1:5)", () => {
    expect(data.baseline.accuracy).toBe(0.9464);
    expect(data.sites.map((s) => s.name)).toEqual(["fc1", "fc2"]);
    expect(data.sites[0].findings.dead).toEqual([5]);
  });

  it("names class-selective units, units that hit many classes and the most important units", () => {
    const f = data.sites[0].findings;
    expect(f.selective).toHaveLength(3);
    // fc1:10 fires on 4 of the 10,000 test images (selectivity 0.963 from them) and fc2:9 on 4: below the minimum
    // activity of 10 images, so left out; the most selective unit is then fc1:17 (active on 21 images, 0.780).
    expect(data.sites[0].minActive).toEqual({ samples: 10, below: [10] });
    expect(data.sites[1].minActive).toEqual({ samples: 10, below: [9] });
    expect(f.selective.map((x) => x.unit)).not.toContain(10);
    expect(f.selective[0].unit).toBe(17);
    expect(f.selective[0].selectivity).toBeCloseTo(0.78, 2);
    expect(f.broad[0].classes).toBeGreaterThanOrEqual(5);
    // The most important unit's drop equals the PyTorch single-unit ablation.
    const top = f.important[0];
    expect(top.drop).toBeCloseTo(reference.weightChange.fc1.impact[top.unit], 3);
  });

  it("names the most redundant pairs of each layer, and maps the images they lose only jointly", () => {
    for (const site of data.sites) {
      expect(site.findings.redundant).toHaveLength(3);
      expect(site.findings.redundant![0].redundancy).toBeGreaterThan(0.05);
    }
    const top = data.map!.conditions.find((c) => c.id === `fc1/zero/${data.sites[0].findings.redundant![0].units.join("+")}`)!;
    const codes = [...top.codes].map(Number);
    const jointly = codes.filter((code) => code === 3).length;
    const keptBefore = codes.filter((code) => code !== 2 && code !== 4).length;
    // On the mapped sample, the share lost only jointly is close to the pair's redundancy on the whole test set.
    expect(Math.abs(jointly / keptBefore - data.sites[0].findings.redundant![0].redundancy)).toBeLessThan(0.05);
  });

  it("reports the weight-change indicator: Mann–Whitney p-values against the accuracy drop, as SciPy computes it", () => {
    const predictor = data.sites[0].findings.predictors.find((p) => p.indicator === "mannWhitneyP")!;
    expect(predictor.spearman).toBeCloseTo(reference.weightChange.fc1.spearman[0], 3);
    expect(data.sites[0].indicators.mannWhitneyP).toHaveLength(20);
    expect(data.initial).toBe("meyes2019-mlp20-initial");
    expect(html).toContain("Findings");
  });
});
