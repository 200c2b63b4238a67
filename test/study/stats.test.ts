import { readFileSync } from "node:fs";
import { agnes } from "ml-hclust";
import { describe, expect, it } from "vitest";
import { errorOf } from "../helpers.js";
import { adjustedRandIndex, correlationDistances, mannWhitney, normalizedMutualInformation, pearson, rank, silhouette, spearman } from "../../src/study/stats.js";

const reference = JSON.parse(readFileSync(new URL("../fixtures/scipy/stats.json", import.meta.url), "utf8"));

describe("stats (against SciPy, test/fixtures/scipy/make_stats.py)", () => {
  it("pearson, spearman and rank equal scipy.stats.pearsonr, spearmanr and rankdata, ties included", () => {
    for (const c of reference.correlations) {
      const p = pearson(c.x, c.y);
      const s = spearman(c.x, c.y);
      expect(p.r).toBeCloseTo(c.pearson[0], 12);
      expect(p.p! / c.pearson[1]).toBeCloseTo(1, 8);
      expect(s.r).toBeCloseTo(c.spearman[0], 12);
      expect(s.p! / c.spearman[1]).toBeCloseTo(1, 8);
      expect(Array.from(rank(c.x))).toEqual(c.ranks);
    }
    expect(pearson([1, 1, 1], [1, 2, 3])).toEqual({ r: null, p: null, n: 3 });
  });

  it("mannWhitney equals scipy.stats.mannwhitneyu(method='asymptotic', use_continuity=True), ties included", () => {
    for (const c of reference.mannWhitney) {
      const result = mannWhitney(c.a, c.b);
      expect(result.u).toBe(c.u);
      expect(result.p / c.p).toBeCloseTo(1, 8);
    }
  });

  it("adjustedRandIndex and normalizedMutualInformation equal the contingency-table definitions", () => {
    for (const c of reference.labels) {
      expect(adjustedRandIndex(c.a, c.b)).toBeCloseTo(c.ari, 12);
      expect(normalizedMutualInformation(c.a, c.b)).toBeCloseTo(c.nmi, 12);
    }
    expect(adjustedRandIndex([0, 0, 1], [5, 5, 2])).toBe(1);
  });

  it("average linkage on correlation distances (ml-hclust) cuts like scipy's linkage/fcluster; silhouette matches", () => {
    const { profiles, cuts, silhouette: expected } = reference.clustering;
    const distances = correlationDistances(profiles);
    const n = profiles.length;
    const matrix = Array.from({ length: n }, (_, i) => Array.from(distances.subarray(i * n, (i + 1) * n)));
    const tree = agnes(matrix, { method: "average", isDistanceMatrix: true });
    for (const k of [2, 3, 4]) {
      const labels = new Array<number>(n).fill(0);
      tree.group(k).children.forEach((child, c) => child.indices().forEach((i) => (labels[i] = c)));
      expect(adjustedRandIndex(labels, cuts[k])).toBe(1);
      expect(silhouette(distances, labels)).toBeCloseTo(expected[k], 12);
    }
  });

  it("refuses arrays paired by index whose lengths differ, in one line (a shorter y had given r NaN; a longer one was cut)", async () => {
    expect(await errorOf(() => pearson([1, 2, 3], [1, 2]))).toMatchObject({ code: "shape-mismatch", message: "pearson needs two arrays of one length, got 3 and 2 values" });
    expect(await errorOf(() => spearman([1, 2, 3], [1, 2, 3, 4]))).toMatchObject({ code: "shape-mismatch", message: "spearman needs two arrays of one length, got 3 and 4 values" });
    expect(await errorOf(() => adjustedRandIndex([0, 1], [0]))).toMatchObject({ code: "shape-mismatch" });
    expect(await errorOf(() => normalizedMutualInformation([0], [0, 1]))).toMatchObject({ code: "shape-mismatch" });
    expect(await errorOf(() => silhouette([0, 1, 1], [0, 1]))).toMatchObject({ code: "shape-mismatch", message: "silhouette needs an n × n distance matrix for n = 2 labels (4 values), got 3" });
  });
});
