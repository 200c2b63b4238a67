/**
 * study(model, data, {dir}) reuses a step only when everything it depends on is the same: two different networks
 * studied into one directory each get their own numbers (checked against a plain evaluate), and more sites
 * recompute what they change.
 */
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel, type LesionModel } from "../../src/engine/model.js";
import { evaluate } from "../../src/engine/evaluate.js";
import { study, studyWarnings, unfinishedSteps, type StudyOptions } from "../../src/runs/study.js";
import { reportData } from "../../src/report/reportData.js";
import { randomDataset, randomMlp } from "../helpers.js";

let root = "";
let a: LesionModel;
let b: LesionModel;
let data: Dataset;
const summary = (dir: string, step: string) => JSON.parse(readFileSync(join(dir, step, "summary.json"), "utf8"));

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "lesion-reuse-"));
  // The stimulus map is cached: keep it out of the user's cache.
  process.env.LESION_CACHE_DIR = join(root, "cache");
  a = await openModel(randomMlp([16, 10, 8, 3], 5, [1, 4, 4]), { name: "a.onnx" });
  b = await openModel(randomMlp([16, 10, 8, 3], 11, [1, 4, 4]), { name: "b.onnx" });
  data = randomDataset("test:reuse", 90, [1, 4, 4], 3, 3);
});

afterAll(async () => {
  await closeModel(a);
  await closeModel(b);
});

describe("study reuse", () => {
  it("study(a, data whose labels a cannot take) fails before writing or removing anything: no directory made, an earlier study of another network left whole (helper trial 'newuser13')", async () => {
    const fresh = join(root, "bad-labels");
    const bad = { ...data, labels: Int32Array.from(data.labels, (l, i) => (i === 7 ? 12 : l)) };
    await expect(study(a, bad, { dir: fresh, sites: ["fc2"], fractions: [1], repeats: 1 })).rejects.toMatchObject({ code: "label-out-of-range" });
    expect(existsSync(fresh)).toBe(false);
    const kept = join(root, "kept");
    await study(b, data, { dir: kept, sites: ["fc2"], fractions: [1], repeats: 1 });
    const before = readFileSync(join(kept, "study.json"), "utf8");
    await expect(study(a, bad, { dir: kept, sites: ["fc2"], fractions: [1], repeats: 1 })).rejects.toMatchObject({ code: "label-out-of-range" });
    expect(readFileSync(join(kept, "study.json"), "utf8")).toBe(before);
    expect(existsSync(join(kept, "singles", "summary.json"))).toBe(true);
  });

  it("study(a) then study(b) into one directory: b's steps all recompute, a's other steps are gone, every number is b's own; a rerun of b reuses every step", async () => {
    const dir = join(root, "two-models");
    const options: StudyOptions = { dir, sites: ["fc2"], fractions: [0.5, 1], repeats: 1 };
    const [plainA, plainB] = [await evaluate(a, data), await evaluate(b, data)];
    // The two networks must differ for the test to mean anything.
    expect(plainA.accuracy).not.toBe(plainB.accuracy);

    const first = await study(a, data, { ...options, sites: ["fc1"] });
    expect(first.baseline).toEqual({ accuracy: plainA.accuracy, perClass: plainA.perClass, loss: plainA.loss });
    expect(existsSync(join(dir, "pairs-fc1", "summary.json"))).toBe(true);
    const second = await study(b, data, options);
    expect(Object.values(second.steps).every((ran) => ran)).toBe(true);
    expect(second.baseline.accuracy).toBe(plainB.accuracy);
    expect(existsSync(join(dir, "pairs-fc1"))).toBe(false);
    for (const step of ["eval", "record", "singles", "pairs-fc2", "characterize", "fractions"]) {
      expect(summary(dir, step).provenance.model.sha256, step).toBe(b.sha256);
    }
    expect(summary(dir, "singles").baseline.accuracy).toBe(plainB.accuracy);
    expect(summary(dir, "pairs-fc2").baseline.accuracy).toBe(plainB.accuracy);
    expect(summary(dir, "characterize").indicators.baseline.accuracy).toBe(plainB.accuracy);
    expect(JSON.parse(readFileSync(join(dir, "study.json"), "utf8")).modelSha256).toBe(b.sha256);

    const again = await study(b, data, options);
    expect(Object.values(again.steps).some((ran) => ran)).toBe(false);
  });

  // A trial killed a study of another network into a finished study's directory: the earlier network's report.html
  // stayed beside the new steps; and `lesion report` of a study stopped part way left a step out without a word.
  it("a study of another network removes the earlier study's report.html before its first step; unfinishedSteps lists what a stopped study did not finish", async () => {
    const dir = join(root, "report-switch");
    const options: StudyOptions = { dir, sites: ["fc2"], fractions: [1], repeats: 1 };
    await study(a, data, options);
    writeFileSync(join(dir, "report.html"), "a's report");
    expect(unfinishedSteps(dir)).toEqual([]);
    // The same study again keeps its report (nothing of the study changed).
    await study(a, data, options);
    expect(readFileSync(join(dir, "report.html"), "utf8")).toBe("a's report");
    // b's study stopped at its first step: a's report is already gone, and every step of b is unfinished.
    const stop = new AbortController();
    stop.abort();
    await expect(study(b, data, { ...options, signal: stop.signal })).rejects.toMatchObject({ code: "aborted" });
    expect(existsSync(join(dir, "report.html"))).toBe(false);
    expect(unfinishedSteps(dir)).toEqual(JSON.parse(readFileSync(join(dir, "study.json"), "utf8")).steps);
    expect(unfinishedSteps(dir)).toContain("fractions");
  });

  it("a rerun that recomputes a step removes report.html first: stopped there, no report of the step's earlier results stays (helper trial 'newuser61': --recover-site fc2, then fc1 killed)", async () => {
    const dir = join(root, "report-step");
    const options: StudyOptions = { dir, sites: ["fc2"], pairs: "none", fractions: [1], repeats: 1 };
    await study(a, data, options);
    writeFileSync(join(dir, "report.html"), "the report of fractions [1]");
    // Other fractions: the same study.json (steps, sites), but the fractions step recomputes; stopped as it starts.
    const stop = new AbortController();
    const onStep = (event: { name: string; state: string }) => event.name === "fractions" && event.state === "start" && stop.abort();
    await expect(study(a, data, { ...options, fractions: [0.5, 1], signal: stop.signal, onStep })).rejects.toMatchObject({ code: "aborted" });
    expect(existsSync(join(dir, "report.html"))).toBe(false);
    expect(unfinishedSteps(dir)).toEqual(["fractions"]);
  });

  it("study with more sites recomputes the steps that depend on the sites (eval is reused) and records every site", async () => {
    const dir = join(root, "more-sites");
    await study(a, data, { dir, sites: ["fc1"], pairs: "none", fractions: [0.5, 1], repeats: 1 });
    const more = await study(a, data, { dir, sites: ["fc1", "fc2"], pairs: "none", fractions: [0.5, 1], repeats: 1 });
    expect(more.steps).toEqual({ eval: false, record: true, singles: true, characterize: true, fractions: true });
    expect(summary(dir, "record").sites.map((s: { site: string }) => s.site)).toEqual(["fc1", "fc2"]);
    const sites = new Set(summary(dir, "singles").conditions.map((c: { site: string }) => c.site));
    expect([...sites]).toEqual(["fc1", "fc2"]);
    expect(summary(dir, "singles").conditions).toHaveLength(10 + 8);
  });

  it("a rerun that asks for less (--pairs none after pairs) keeps the earlier pairs on disk but reports only its own steps: its report data equal a fresh study's of the same options (helper trial 'newuser26')", async () => {
    const dir = join(root, "fewer-steps");
    const fresh = join(root, "fewer-steps-fresh");
    const options: StudyOptions = { sites: ["fc1", "fc2"], fractions: [1], repeats: 1 };
    await study(a, data, { ...options, dir });
    expect(reportData(dir).sites.map((s) => s.pairs !== null)).toEqual([true, true]);
    // The fraction steps have their intervals too (they had none; helper trial 'newuser30').
    const steps = summary(dir, "fractions").conditions as Array<{ delta: number; deltaCi: [number, number] | null }>;
    expect(steps.length).toBeGreaterThan(0);
    for (const c of steps) expect(c.deltaCi![0] <= c.delta && c.delta <= c.deltaCi![1]).toBe(true);
    await study(a, data, { ...options, dir, pairs: "none" });
    await study(a, data, { ...options, dir: fresh, pairs: "none" });
    expect(existsSync(join(dir, "pairs-fc1", "summary.json"))).toBe(true);
    const [rerun, clean] = [reportData(dir), reportData(fresh)];
    expect(rerun.sites.map((s) => s.pairs)).toEqual([null, null]);
    expect(JSON.stringify(rerun.sites)).toBe(JSON.stringify(clean.sites));
    expect(studyWarnings(dir)).toEqual(studyWarnings(fresh));
    // Asked for again, the kept pairs are reused.
    const again = await study(a, data, { ...options, dir });
    expect(again.steps["pairs-fc1"]).toBe(false);
  });

  it("study of another data set's content under the same spec recomputes (data identity is a hash of the loaded content)", async () => {
    const dir = join(root, "data-content");
    const options: StudyOptions = { dir, sites: ["fc2"], pairs: "none", fractions: [1], repeats: 1 };
    await study(a, data, options);
    const changed: Dataset = { ...data, labels: Int32Array.from(data.labels, (l) => (l + 1) % 3) };
    const result = await study(a, changed, options);
    expect(result.steps.eval).toBe(true);
    expect(result.baseline.accuracy).toBe((await evaluate(a, changed)).accuracy);
  });
});
