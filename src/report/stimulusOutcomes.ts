/** The stimulus map of a study directory with what each listed ablation did to each mapped image. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseNpy } from "../data/npy.js";
import { readFileChecked } from "../files.js";
import { readAblateFiles, type AblateSummary } from "../runs/ablateFiles.js";
import type { CharacterizeSummary } from "../runs/characterizeFiles.js";
import { pairsStep, SUMMARY_FILE } from "../runs/resultDir.js";
import { round } from "./round.js";

/** Mapped images (x, y, label) and, per condition, each image's outcome code as one digit of `codes`. */
export interface StimulusOutcomes {
  points: Array<[number, number, number]>;
  /** How well the map separates the classes: `classAgreement`'s share and what chance gives. */
  neighbours: { same: number; chance: number };
  conditions: Array<{ id: string; site: string; units: number[]; delta: number; codes: string }>;
}

/**
 * The stimulus map with, for the most damaging single units and the most redundant pairs of each site, each mapped
 * image's outcome: 0 kept, 1 lost, 2 gained, 3 lost only jointly (pairs), 4 wrong both times (codes of sampleOutcomes).
 */
export function stimulusOutcomes(dir: string, characterized: CharacterizeSummary, singles: AblateSummary, sites: string[]): StimulusOutcomes | null {
  const map = characterized.stimulusMap;
  if (!map) return null;
  const index = new Map(map.samples.map((s, i) => [s, i]));
  const step = (name: string) => ({ predictions: readNpy(join(dir, name, "predictions.npy")), changes: readNpy(join(dir, name, "changes.npy")) });
  const singlesFiles = step("singles");
  // Predictions of the mapped images under condition i of a step.
  const after = (files: { predictions: Int32Array; changes: Int32Array }, i: number) => {
    const now = map.samples.map((s) => files.predictions[s]);
    for (let r = 0; r < files.changes.length / 3; r++) {
      if (files.changes[3 * r] !== i) continue;
      const at = index.get(files.changes[3 * r + 1]);
      if (at !== undefined) now[at] = files.changes[3 * r + 2];
    }
    return now;
  };
  const outcome = (now: number[], alone: number[][] | null) =>
    map.samples.map((s, j): number => {
      const label = map.labels[j];
      const before = singlesFiles.predictions[s] === label;
      if (before && now[j] === label) return 0;
      if (before) return alone && alone.every((p) => p[j] === label) ? 3 : 1;
      return now[j] === label ? 2 : 4;
    });
  const conditions: StimulusOutcomes["conditions"] = [];
  for (const site of sites) {
    const ofSite = singles.conditions.map((c, i) => ({ c, i })).filter(({ c }) => c.site === site);
    // Every unit of the site, most damaging first.
    for (const { c, i } of [...ofSite].sort((a, b) => a.c.delta - b.c.delta || a.c.units[0] - b.c.units[0])) {
      conditions.push({ id: c.id, site, units: c.units, delta: round(c.delta)!, codes: outcome(after(singlesFiles, i), null).join("") });
    }
    const pairsDir = pairsStep(site, sites);
    if (!existsSync(join(dir, pairsDir, SUMMARY_FILE))) continue;
    const pairs = readAblateFiles(join(dir, pairsDir)).summary;
    const pairFiles = step(pairsDir);
    // The 20 most redundant pairs and the 20 most damaging ones.
    const all = pairs.conditions.map((c, i) => ({ c, i }));
    const redundant = [...all].sort((a, b) => (b.c.redundancy ?? 0) - (a.c.redundancy ?? 0)).slice(0, 20);
    const damaging = [...all].sort((a, b) => a.c.delta - b.c.delta).slice(0, 20);
    for (const { c, i } of [...new Set([...redundant, ...damaging])]) {
      const alone = c.units.map((u) => after(singlesFiles, ofSite.find((o) => o.c.units[0] === u)!.i));
      conditions.push({ id: c.id, site, units: c.units, delta: round(c.delta)!, codes: outcome(after(pairFiles, i), alone).join("") });
    }
  }
  const points = map.samples.map((_, j): [number, number, number] => [round(Number(map.coordinates.data[2 * j]))!, round(Number(map.coordinates.data[2 * j + 1]))!, map.labels[j]]);
  return { points, neighbours: classAgreement(points), conditions };
}

/**
 * The share of points whose nearest other point (Euclidean, in the map's two dimensions; the first on a tie) has
 * their class, and the share chance gives: the probability that another point drawn at random has it,
 * Σ_c n_c (n_c − 1) / (n (n − 1)). A map whose classes form islands scores far above chance; one of mixed classes
 * near it. Both fractions 0..1; `same` is 0 for fewer than two points.
 */
export function classAgreement(points: ReadonlyArray<readonly [number, number, number]>): { same: number; chance: number } {
  const n = points.length;
  if (n < 2) return { same: 0, chance: 0 };
  let same = 0;
  for (let i = 0; i < n; i++) {
    let best = Infinity;
    let nearest = -1;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      const dx = points[i][0] - points[j][0];
      const dy = points[i][1] - points[j][1];
      const d = dx * dx + dy * dy;
      if (d < best) [best, nearest] = [d, j];
    }
    if (points[nearest][2] === points[i][2]) same++;
  }
  const counts = new Map<number, number>();
  for (const p of points) counts.set(p[2], (counts.get(p[2]) ?? 0) + 1);
  let pairs = 0;
  for (const c of counts.values()) pairs += c * (c - 1);
  return { same: same / n, chance: pairs / (n * (n - 1)) };
}

function readNpy(path: string): Int32Array {
  const array = parseNpy(readFileChecked(path, "result file"), path);
  const copy = new Uint8Array(array.data);
  return new Int32Array(copy.buffer);
}
