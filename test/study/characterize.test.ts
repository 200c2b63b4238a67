/**
 * characterize() on meyes2019-mlp20 with its initial weights, against the independent PyTorch/SciPy computation in
 * test/fixtures/torch/make_meyes2019_references.py, and the population bookkeeping against direct ablations.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel, resolveSite, type LesionModel } from "../../src/engine/model.js";
import { ablate } from "../../src/study/ablate.js";
import { characterize, type CharacterizeResult } from "../../src/study/characterize.js";
import { condition } from "../../src/study/conditions.js";
import { importModel } from "../../src/models/importModel.js";
import { characterizeFiles } from "../../src/runs/characterizeFiles.js";
import { provenance } from "../../src/runs/provenance.js";

const reference = JSON.parse(readFileSync(new URL("../fixtures/torch/meyes2019.reference.json", import.meta.url), "utf8"))["meyes2019-mlp20"];
const checkpoint = (file: string) => fileURLToPath(new URL(`../fixtures/meyes2019/meyes2019-mlp20/${file}`, import.meta.url));
let model: LesionModel;
let initial: LesionModel;
let data: Dataset;
let result: CharacterizeResult;

beforeAll(async () => {
  const options = { arch: "mlp", activation: "relu" as const, mean: [0.5], std: [0.5] };
  model = await openModel((await importModel(checkpoint("trained.pt"), options)).bytes, { name: "mlp20" });
  initial = await openModel((await importModel(checkpoint("untrained.pt"), options)).bytes, { name: "mlp20-initial" });
  data = await loadDataset("mnist:test");
  result = await characterize(model, data, { initial, seed: 1, map: false });
});

afterAll(async () => {
  await closeModel(model);
  await closeModel(initial);
});

describe("characterize(mlp20, mnist:test, {initial})", () => {
  it("reports the Mann–Whitney U and p of every fc1 unit's trained vs initial weights as SciPy does, and the weight norms", () => {
    const fc1 = result.indicators.sites.find((s) => s.site === "fc1")!;
    const expected = reference.weightChange.fc1;
    expect(fc1.mannWhitneyU).toEqual(expected.u);
    fc1.mannWhitneyP!.forEach((p, u) => expect(p / expected.p[u]).toBeCloseTo(1, 8));
    fc1.weightChange!.forEach((v, u) => expect(v).toBeCloseTo(expected.norm[u], 5));
    fc1.weightL1!.forEach((v, u) => expect(v).toBeCloseTo(expected.l1[u], 4));
    fc1.weightL2!.forEach((v, u) => expect(v).toBeCloseTo(expected.l2[u], 5));
  });

  it("reports magnitude, fraction active and the largest class drop per unit as the PyTorch computation gives them", () => {
    const counts = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009];
    for (const site of result.indicators.sites) {
      const recording = reference.recording[site.site];
      // ReLU units: the mean absolute activation is the mean activation.
      site.magnitude.forEach((m, u) => expect(m).toBeCloseTo(recording.mean[u], 5));
      expect(site.fractionActive).toEqual(recording.fractionActive);
      site.impactMaxClass.forEach((drop, u) => {
        const single = reference.conditions.find((c: { site: string; units: number[] }) => c.site === site.site && c.units.length === 1 && c.units[0] === u);
        const baseline = reference.perClass.map((p: number, c: number) => Math.round(p * counts[c]));
        const expected = Math.max(...single.correct.map((v: number, c: number) => (baseline[c] - v) / counts[c]));
        expect(drop).toBeCloseTo(expected, 12);
      });
    }
  });

  it("reports each fc1 unit's accuracy drop and the Spearman correlation of p-values with it", () => {
    const fc1 = result.indicators.sites.find((s) => s.site === "fc1")!;
    fc1.impact.forEach((v, u) => expect(v).toBeCloseTo(reference.weightChange.fc1.impact[u], 12));
    const entry = result.correlations.find((t) => t.scope === "fc1")!.entries.find((e) => e.a === "mannWhitneyP" && e.b === "impact")!;
    expect(entry.spearman.r).toBeCloseTo(reference.weightChange.fc1.spearman[0], 10);
    expect(entry.spearman.p! / reference.weightChange.fc1.spearman[1]).toBeCloseTo(1, 6);
    expect(result.correlations.map((t) => t.scope)).toEqual(["fc1", "fc2", "pooled"]);
  });

  it("correlations.csv's n counts the units where both indicators are defined: 18 of fc1's 20 for selectivity (dead fc1:5 and fc1:10, active on 4 images, have none), as the summary says (the CSV had written every row with 20; helper trial 'newuser30')", () => {
    const { files, summary } = characterizeFiles(result, { modelSha256: model.sha256, initial: "mlp20-initial", provenance: provenance(model, data) });
    const table = files.find((f) => f.name === "correlations.csv")!;
    if (table.kind !== "csv") throw new Error("correlations.csv is no CSV");
    const row = table.rows.find((r) => r[0] === "fc1" && r[1] === "magnitude" && r[2] === "selectivity")!;
    expect(row[3]).toBe(18);
    const entries = summary.correlations.flatMap((t) => t.entries.map((e) => [t.scope, e.a, e.b, e.n]));
    expect(table.rows.map((r) => r.slice(0, 4))).toEqual(entries);
  });

  it("puts units whose ablation changes nothing (flat impact profiles) in one impact population, not one each (helper trial 'newuser30')", () => {
    const fc1 = result.indicators.sites.find((s) => s.site === "fc1")!;
    const flat = Array.from({ length: fc1.units }, (_, u) => u).filter((u) => !fc1.dead.includes(u) && Array.from(fc1.impactProfile.data.slice(u * 10, u * 10 + 10)).every((d) => d === 0));
    expect(flat).toEqual([10, 17]);
    const grouping = result.populations.find((p) => p.site === "fc1")!.groupings.find((g) => g.by === "impact" && g.method === "hierarchical")!;
    expect(grouping.labels[10]).toBe(grouping.labels[17]);
    // That grouping's best silhouette is at k = 8, the most tried: a cap, flagged (a note, not a warning: common).
    expect([grouping.k, grouping.capped]).toEqual([8, true]);
    const activation = result.populations.find((p) => p.site === "fc1")!.groupings.find((g) => g.by === "activation" && g.method === "hierarchical")!;
    expect([activation.k, activation.capped]).toEqual([3, false]);
    expect(result.warnings.some((w) => /populations/.test(w))).toBe(false);
  });

  it("finds the dead unit (fc1 unit 5, never active) and leaves it out of every population", () => {
    const fc1 = result.indicators.sites.find((s) => s.site === "fc1")!;
    expect(fc1.dead).toEqual([5]);
    expect(fc1.impact[5]).toBe(0);
    const groups = result.populations.find((p) => p.site === "fc1")!;
    expect(groups.excluded).toEqual([5]);
    for (const g of groups.groupings) {
      expect(g.labels[5]).toBe(-1);
      expect(g.populations.flatMap((p) => p.units).sort((a, b) => a - b)).toEqual(Array.from({ length: 20 }, (_, u) => u).filter((u) => u !== 5));
      expect(g.k).toBe(g.populations.length);
    }
  });

  it("ablates every population as a group: its change equals a direct ablation, interaction = group − summed singles", async () => {
    const fc1 = result.indicators.sites.find((s) => s.site === "fc1")!;
    const grouping = result.populations.find((p) => p.site === "fc1")!.groupings[0];
    const direct = await ablate(model, data, { conditions: grouping.populations.map((p) => condition(resolveSite(model, "fc1"), p.units)) });
    grouping.populations.forEach((p, i) => {
      expect(p.ablation.accuracy).toBe(direct.conditions[i].accuracy);
      p.ablation.deltaPerClass.forEach((d, c) => {
        const singles = p.units.reduce((s, u) => s - Number(fc1.impactProfile.data[u * 10 + c]), 0);
        expect(p.ablation.sumOfSingles[c]).toBeCloseTo(singles, 12);
        expect(p.ablation.interaction[c]).toBeCloseTo(d! - singles, 12);
      });
    });
  });

  it("is deterministic for a seed: groupings and embeddings repeat", async () => {
    const again = await characterize(model, data, { initial, seed: 1, sites: ["fc2"], map: false });
    const first = result.populations.find((p) => p.site === "fc2")!;
    expect(again.populations[0].groupings.map((g) => g.labels)).toEqual(first.groupings.map((g) => g.labels));
    expect(again.populations[0].embeddings).toEqual(first.embeddings);
    expect(first.embeddings.tsne!.shape).toEqual([10, 2]);
  });
});
