/**
 * buildReport(DIR) on a transplant result directory: the canonical MNIST transplant of issue 15 at a smaller size than
 * test/transplant/transplant.test.ts (784-16-10 networks on 3,000 images, one epoch; 60 budget images of which 20 are 3s),
 * and a deeper (fc2) transplant of random MLPs. The report is checked against independent values: the recipient's
 * and the merged model's accuracies from evaluate(), the donor's weights read from the donor's own file; then opened
 * in Debian's Chromium (playwright-core): no console errors, no request leaving the file, every figure drawn.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, watch, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel, type LesionModel } from "../../src/engine/model.js";
import { LesionError } from "../../src/errors.js";
import { writeMetadata } from "../../src/onnx/metadata.js";
import { decodeModel, encodeModel, tensorDims, tensorValues } from "../../src/onnx/proto.js";
import { buildReport } from "../../src/report/buildReport.js";
import { transplantReportData, type TransplantReportData } from "../../src/report/transplantReportData.js";
import { renderTransplantReport } from "../../src/report/renderTransplantReport.js";
import { buildClassifier } from "../../src/onnx/build.js";
import { evaluate } from "../../src/engine/evaluate.js";
import { writeResultDir } from "../../src/runs/resultDir.js";
import { transplant, type TransplantResult } from "../../src/transplant/transplant.js";
import { transplantFiles } from "../../src/runs/transplantFiles.js";
import { random, randomMlp, transplantSetup, deepTransplantSetup } from "../helpers.js";
import { BIN } from "../lesionCli.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTEFACTS = fileURLToPath(new URL("../../test-output/transplant-report/", import.meta.url));

/** The rows [out][in] of a weight initializer, read straight from the model file (lesion writes Gemm transB=1). */
function weightRows(bytes: Uint8Array, name: string): number[][] {
  const tensor = decodeModel(bytes).graph!.initializer!.find((t) => t.name === name)!;
  const [out, inp] = tensorDims(tensor);
  const values = tensorValues(tensor) as Float32Array;
  return Array.from({ length: out }, (_, u) => Array.from(values.subarray(u * inp, (u + 1) * inp)));
}

function embedded(html: string): TransplantReportData {
  const match = html.match(/<script type="application\/json" id="data">([\s\S]*?)<\/script>/);
  return JSON.parse(match![1]);
}

function writeDir(result: TransplantResult): string {
  const dir = mkdtempSync(join(tmpdir(), "lesion-transplant-report-"));
  const { files, summary } = transplantFiles(result);
  writeResultDir(dir, files, summary);
  return dir;
}

/** Opens the report in Chromium; returns what the page drew and every console error or outside request. */
async function openInChromium(path: string, screenshot: string) {
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    const requests: string[] = [];
    page.on("console", (m) => (m.type() === "error" || m.type() === "warning") && errors.push(m.text()));
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("request", (r) => requests.push(r.url()));
    await page.goto(`file://${path}`);
    await page.waitForSelector("#weights");
    const sections = await page.$$eval("section", (all) =>
      all.map((s) => ({ id: s.id, figures: [...s.querySelectorAll("figure")].map((f) => f.querySelectorAll("svg [aria-label] > *, canvas").length) })),
    );
    const bars = await page.$$eval('#classes svg g[aria-label="bar"] rect', (r) => r.length);
    const whiskers = await page.$$eval('#classes svg g.gain-interval line', (r) => r.length);
    const tiles = await page.$$eval("#weights canvas", (c) => c.map((x) => Number((x as HTMLCanvasElement).dataset.unit)));
    // Each tile's pixels, and its grey pixels (the columns between a conv unit's kernels).
    const pixels = await page.$$eval("#weights canvas", (c) =>
      c.map((x) => {
        const canvas = x as HTMLCanvasElement;
        const data = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
        const grey: number[] = [];
        for (let p = 0; p < data.length / 4; p++) if (data[4 * p] === 153 && data[4 * p + 1] === 153 && data[4 * p + 2] === 153) grey.push(p);
        return { width: canvas.width, height: canvas.height, grey };
      }),
    );
    const caption = await page.$eval("#weights figcaption, #weights .caption", (x) => x.textContent ?? "");
    const tables = await page.$$eval("#gains table", (t) => t.map((x) => (x as HTMLTableElement).innerText));
    const exports = await page.$$eval("figure.figure", (f) => f.every((x) => x.querySelectorAll(":scope > .exports button").length === 3));
    mkdirSync(ARTEFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTEFACTS, screenshot), fullPage: true });
    return { errors, outside: requests.filter((u) => !u.startsWith("file://") && !u.startsWith("blob:") && !u.startsWith("data:")), sections, bars, whiskers, tiles, pixels, caption, tables, exports };
  } finally {
    await browser.close();
  }
}

describe("buildReport(transplant directory): MNIST, class 3, first layer", () => {
  let donorBytes: Uint8Array;
  let recipientBytes: Uint8Array;
  let donor: LesionModel;
  let recipient: LesionModel;
  let test: Dataset;
  let result: TransplantResult;
  let dir = "";

  beforeAll(async () => {
    const setup = await transplantSetup({ train: 3000, test: 1000, budget: 60, threes: 20, arch: "mlp:784-16-10", epochs: 1 });
    test = setup.test;
    donorBytes = setup.donor;
    recipientBytes = setup.recipient;
    donor = await openModel(setup.donor, { name: "donor" });
    recipient = await openModel(setup.recipient, { name: "recipient" });
    const budget = setup.budget;
    result = await transplant(donor, recipient, budget, { test, class: 3, budgetEpochs: 5, resamples: 100 });
    dir = writeDir(result);
  }, 60_000);

  afterAll(async () => {
    for (const m of [donor, recipient]) if (m) await closeModel(m);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("buildReport(dir) writes one self-contained report.html whose bars hold every condition's per-class accuracy", async () => {
    const path = buildReport(dir);
    expect(path).toBe(join(dir, "report.html"));
    const html = readFileSync(path, "utf8");
    expect(/<script[^>]+src=|<link[^>]+href=|<img[^>]+src=/.test(html)).toBe(false);
    const data = embedded(html);
    expect(data.outcomes.map((o) => o.name)).toEqual(["before", "transplant", "random-units", "fresh-units", "finetune"]);
    // Independent values: the recipient evaluated alone, and the merged model.onnx evaluated as any lesion model.
    expect(data.outcomes[0].perClass).toEqual((await evaluate(recipient, test)).perClass);
    const merged = await openModel(join(dir, "model.onnx"));
    try {
      const after = await evaluate(merged, test);
      data.outcomes[1].perClass.forEach((p, k) => expect(p).toBeCloseTo(after.perClass[k]!, 12));
    } finally {
      await closeModel(merged);
    }
    for (const [i, control] of result.controls.entries()) expect(data.outcomes[2 + i].perClass).toEqual(control.after.perClass);
    expect(data.classNames).toEqual(["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    expect(data.class).toBe(3);
    expect(data.gains.map((g) => g.condition)).toEqual(["transplant", "random-units", "fresh-units", "finetune"]);
    expect(data.versusControls.map((g) => g.control)).toEqual(["random-units", "fresh-units", "finetune"]);
    expect(data.ablationCheck.samePredictionsAsBefore).toBe(true);
  }, 30_000);

  it("the report's weight images are the donor's incoming weights of the population, one 28×28 tile per transplanted unit", () => {
    const data = embedded(readFileSync(join(dir, "report.html"), "utf8"));
    const w = data.weights!;
    expect(w.site).toBe(result.transplanted.site);
    expect(w.image).toEqual([28, 28]);
    expect(w.values).toHaveLength(result.transplanted.units.length);
    const rows = weightRows(donorBytes, "fc1.weight");
    // Donor and recipient were trained by lesion with the same normalisation, so the copy is the donor's row itself.
    result.population.units.forEach((v, i) => {
      expect(w.values[i]).toHaveLength(784);
      w.values[i].forEach((x, p) => expect(x).toBeCloseTo(rows[v][p], 4));
    });
  });

  it("the report opens in Chromium with no errors or outside requests: bars per class and condition, the class-3 whiskers, one canvas per unit", async () => {
    const page = await openInChromium(join(dir, "report.html"), "mnist-fc1.png");
    expect(page.errors).toEqual([]);
    expect(page.outside).toEqual([]);
    expect(page.sections.map((s) => s.id)).toEqual(["classes", "gains", "ablation-check", "weights"]);
    for (const s of page.sections) for (const marks of s.figures) expect(marks, s.id).toBeGreaterThan(0);
    const shown = result.before.perClass.filter((p) => p !== null).length;
    expect(page.bars).toBe(5 * shown);
    expect(page.whiskers).toBe(4);
    expect(page.tiles).toEqual(result.transplanted.units);
    expect(page.exports).toBe(true);
    // The gains table and the transplant − control table, in percentage points with intervals.
    expect(page.tables).toHaveLength(2);
    expect(page.tables[0]).toMatch(/transplant\s+[+−]\d+\.\d \[[+−]\d+\.\d, [+−]\d+\.\d\]/);
    expect(page.tables[1]).toMatch(/transplant − finetune/);
  }, 60_000);

  // Before, a first conv layer of an RGB model was not drawn (its 27 weights per unit made no square tile).
  it("a first conv layer reading RGB images: each transplanted channel's three 3×3 kernels, the merged model's conv1 weights, side by side in one tile", async () => {
    const rand = random(11);
    const conv1 = Float32Array.from({ length: 4 * 3 * 3 * 3 }, () => rand() - 0.5);
    const model = buildClassifier({
      inputShape: [3, 8, 8],
      layers: [
        { op: "conv", name: "conv1", weight: conv1, shape: [4, 3, 3, 3], bias: new Float32Array(4), stride: 1, padding: 1 },
        { op: "relu" },
        { op: "flatten" },
        { op: "linear", name: "fc", weight: Float32Array.from({ length: 10 * 256 }, () => rand() - 0.5), shape: [10, 256], bias: new Float32Array(10) },
      ],
    });
    writeMetadata(model, { preprocessing: { layout: "nchw", mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25], imageShape: [3, 8, 8] }, classNames: null });
    // This run's summary with the population and its copy placed at conv1: the figure reads only the merged model.
    const { summary } = transplantFiles(result);
    const data = transplantReportData({ ...summary, population: { ...summary.population, site: "conv1", units: [0, 2] }, transplanted: { site: "conv1", units: [1, 3], branch: [] } }, model);
    const w = data.weights!;
    expect([w.image, w.kernel, w.channels, w.inputs]).toEqual([[3, 3], true, 3, null]);
    // Unit u's 27 weights as the Conv weight [4, 3, 3, 3] holds them: channel 0's kernel, then 1's, then 2's.
    [1, 3].forEach((u, i) => w.values[i].forEach((x, p) => expect(x).toBeCloseTo(conv1[u * 27 + p], 4)));
    const path = join(mkdtempSync(join(tmpdir(), "lesion-transplant-rgb-")), "report.html");
    writeFileSync(path, renderTransplantReport(data));
    const page = await openInChromium(path, "rgb-conv1.png");
    expect(page.errors).toEqual([]);
    expect(page.tiles).toEqual([1, 3]);
    // 3 kernels of 3 columns and 2 grey columns between them (x = 3 and 7 of 11), 3 rows.
    for (const tile of page.pixels) expect(tile).toEqual({ width: 11, height: 3, grey: [3, 7, 14, 18, 25, 29] });
    expect(page.caption).toMatch(/3 kernels of 3×3, one per channel of the input image \(left to right: its channels 0 to 2, R, G and B for an RGB image; grey columns between them\)/);
  }, 60_000);

  it("lesion report DIR (the CLI) rebuilds it: one stdout line, exit 0", () => {
    rmSync(join(dir, "report.html"));
    const run = spawnSync(process.execPath, [BIN, "report", dir], { encoding: "utf8" });
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(run.stdout.trim()).toBe(`report: ${join(dir, "report.html")}`);
    expect(embedded(readFileSync(join(dir, "report.html"), "utf8")).outcomes).toHaveLength(5);
  });

  it("lesion transplant … -o DIR writes report.html with the run, listed in summary.json, which is written last", async () => {
    const work = mkdtempSync(join(tmpdir(), "lesion-transplant-cli-"));
    try {
      writeFileSync(join(work, "donor.onnx"), donorBytes);
      writeFileSync(join(work, "recipient.onnx"), recipientBytes);
      const out = join(work, "out");
      // Every name that appears in the run's directory, in the kernel's order (inotify keeps it; read after the run).
      mkdirSync(out);
      const events: string[] = [];
      const watcher = watch(out, (_event, name) => name && !name.endsWith(".tmp") && name !== "lesion.lock" && events.push(name));
      const run = spawnSync(process.execPath, [BIN, "transplant", join(work, "donor.onnx"), "--into", join(work, "recipient.onnx"), "--data", "mnist:train", "--test", "mnist:test", "--class", "3", "--budget-samples", "60", "--budget-epochs", "2", "--resamples", "50", "-o", out], { encoding: "utf8" });
      // Warnings only (on this 60-image budget fine-tuning costs the recipient over 5 pp, and says so).
      expect(run.stderr.split("\n").filter((line) => line && !line.startsWith("lesion: warning: "))).toEqual([]);
      expect(run.status).toBe(0);
      expect(run.stdout.trim().split("\n").at(-1)).toBe(`report: ${join(out, "report.html")}`);
      const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
      expect(summary.files).toContain("report.html");
      await new Promise((resolve) => setTimeout(resolve, 300));
      watcher.close();
      expect(events.at(-1)).toBe("summary.json");
      expect(events.indexOf("summary.json")).toBeGreaterThan(events.lastIndexOf("report.html"));
      expect(events.lastIndexOf("report.html")).toBeGreaterThanOrEqual(0);
      const data = embedded(readFileSync(join(out, "report.html"), "utf8"));
      expect(data.outcomes.map((o) => o.perClass)).toEqual([summary.before.perClass, summary.after.perClass, ...summary.controls.map((c: { after: { perClass: number[] } }) => c.after.perClass)]);
      expect(data.weights!.values).toHaveLength(summary.transplanted.units.length);
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  }, 60_000);
});

describe("buildReport: bad input", () => {
  it("buildReport(transplant directory): an incomplete summary is bad-data naming the missing fields; no model.onnx is missing-file", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-transplant-report-bad-"));
    try {
      writeFileSync(join(dir, "summary.json"), JSON.stringify({ command: "transplant" }));
      expect(() => buildReport(dir)).toThrow(`${join(dir, "summary.json")} lacks before, after, controls, gains, versusControls, ablationCheck, transplanted, population, budget: not a complete transplant summary; rerun lesion transplant`);
      const fields = { before: {}, after: {}, controls: [], gains: [], versusControls: [], ablationCheck: {}, transplanted: {}, population: {}, budget: {} };
      writeFileSync(join(dir, "summary.json"), JSON.stringify({ command: "transplant", ...fields }));
      let error: unknown = null;
      try {
        buildReport(dir);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(LesionError);
      expect((error as LesionError).code).toBe("missing-file");
      expect((error as LesionError).message).toBe(`merged model not found: ${join(dir, "model.onnx")}`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("lesion report DIR on a directory holding neither a study nor a transplant: one stderr line, exit 1, nothing written", () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-report-empty-"));
    try {
      const run = spawnSync(process.execPath, [BIN, "report", dir], { encoding: "utf8", env: { ...process.env, LESION_DEBUG: "" } });
      expect(run.status).toBe(1);
      expect(run.stdout).toBe("");
      expect(run.stderr).toBe(`lesion: ${dir} is neither a study directory (no study.json) nor a transplant's (no summary.json of lesion transplant); run lesion study or lesion transplant first\n`);
      expect(readdirSync(dir)).toEqual([]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("buildReport(transplant directory): a deeper population", () => {
  it("a fc2 transplant's report shows each unit's incoming weights from its branch: the donor's fc2 rows, drawn in Chromium", async () => {
    const { data: d, donor: donorBytes, recipient: recipientBytes } = deepTransplantSetup(0.5, 0.5);
    const donor = await openModel(donorBytes, { name: "donor" });
    const recipient = await openModel(recipientBytes, { name: "recipient" });
    let dir = "";
    try {
      const result = await transplant(donor, recipient, d, { test: d, site: "fc2", units: [0, 3], class: 1, budgetEpochs: 2, resamples: 50 });
      dir = writeDir(result);
      const data = embedded(readFileSync(buildReport(dir), "utf8"));
      const w = data.weights!;
      expect(w.image).toBeNull();
      expect(w.inputs).toEqual({ site: "fc1", units: [7, 8, 9, 10, 11, 12] });
      const rows = weightRows(donorBytes, "fc2.weight");
      expect(w.values).toHaveLength(2);
      [0, 3].forEach((v, i) => w.values[i].forEach((x, j) => expect(x).toBeCloseTo(rows[v][j], 4)));
      const page = await openInChromium(join(dir, "report.html"), "deep-fc2.png");
      expect(page.errors).toEqual([]);
      expect(page.outside).toEqual([]);
      for (const s of page.sections) for (const marks of s.figures) expect(marks, s.id).toBeGreaterThan(0);
      expect(page.bars).toBe(5 * 3);
      expect(page.tiles).toEqual([]);
    } finally {
      await closeModel(donor);
      await closeModel(recipient);
      if (dir) rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
