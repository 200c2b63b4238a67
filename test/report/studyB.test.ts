/**
 * Study B of Meyes et al. 2019 in the report: a tiny `cnn:small` trained on synthetic 3-channel 8×8 images, its study,
 * and the report in headless Chromium: the depth figure has one line per site in depth order, the per-class view
 * redraws it for one class, and the first conv layer's filters are RGB tiles whose bytes equal the weights scaled as
 * documented (computed here from the model's initializer). Screenshots of both sections go to test-output/report-studyb/.
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel } from "../../src/engine/model.js";
import { decodeModel, tensorDims, tensorValues } from "../../src/onnx/proto.js";
import { buildReport } from "../../src/report/buildReport.js";
import { reportData } from "../../src/report/reportData.js";
import { seeded } from "../../src/random.js";
import { study } from "../../src/runs/study.js";
import { train } from "../../src/models/train.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTEFACTS = fileURLToPath(new URL("../../test-output/report-studyb/", import.meta.url));
let dir = "";
let weight: { dims: number[]; values: Float32Array } = { dims: [], values: new Float32Array() };

/** Four classes of 3×8×8 images: class c has a bright patch in colour channel c % 3, placed by c, plus noise. */
function patches(n: number, seed: number): Dataset {
  const rand = seeded(seed);
  const images = new Float32Array(n * 192);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 4);
  for (let s = 0; s < n; s++) {
    for (let p = 0; p < 192; p++) images[s * 192 + p] = 0.3 * rand();
    const c = labels[s];
    const [y0, x0] = [c < 2 ? 1 : 5, c % 2 === 0 ? 1 : 5];
    for (let y = y0; y < y0 + 2; y++) for (let x = x0; x < x0 + 2; x++) images[s * 192 + (c % 3) * 64 + y * 8 + x] += 0.7;
  }
  return { spec: `patches:${seed}`, n, shape: [3, 8, 8], images, labels, numClasses: 4, classNames: ["0", "1", "2", "3"], source: "test" };
}

beforeAll(async () => {
  dir = join(mkdtempSync(join(tmpdir(), "lesion-studyb-")), "study");
  mkdirSync(dir, { recursive: true });
  const testSet = patches(300, 2);
  const trained = await train(patches(600, 1), { arch: "cnn:small", test: testSet, epochs: 6, seed: 3 });
  const modelPath = join(dir, "..", "model.onnx");
  writeFileSync(modelPath, trained.model);
  const conv1 = decodeModel(trained.model).graph!.initializer!.find((t) => t.name === "conv1.weight")!;
  weight = { dims: tensorDims(conv1), values: Float32Array.from(tensorValues(conv1) as ArrayLike<number>) };
  const model = await openModel(modelPath);
  try {
    await study(model, testSet, { dir, modelPath, pairs: "none", fractions: [0.25, 0.5, 0.75, 1], repeats: 2 });
  } finally {
    await closeModel(model);
  }
  buildReport(dir);
}, 120_000);

describe("Study B in the report", () => {
  it("reportData(dir).depth: one random-order curve per site in depth order, the mean of the fractions step's repeats", () => {
    const data = reportData(dir);
    expect(data.depth.map((d) => [d.site, d.depth, d.kind, d.units])).toEqual([["conv1", 1, "conv", 16], ["conv2", 2, "conv", 32], ["fc1", 3, "dense", 128]]);
    const conv2 = data.sites.find((s) => s.name === "conv2")!;
    const random = conv2.curves.filter((c) => c.order === "random");
    expect(random.length).toBe(2);
    const row = data.depth[1];
    expect(row.points[0]).toEqual([0, data.baseline.accuracy]);
    // Ablating every filter of a site: the same units in both repeats, so the mean equals either.
    expect(row.points.map((p) => p[0])).toEqual([0, 0.25, 0.5, 0.75, 1]);
    for (let j = 1; j < 5; j++) expect(row.points[j][1]).toBeCloseTo((random[0].points[j][1] + random[1].points[j][1]) / 2, 3);
    expect(row.perClass.length).toBe(4);
    expect(row.perClass[2][0]).toEqual([0, data.baseline.perClass[2]]);
  });

  it("the report draws the depth figure, its per-class view and one RGB tile per conv1 filter with the documented bytes", async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const errors: string[] = [];
      page.on("console", (m) => (m.type() === "error" || m.type() === "warning") && errors.push(m.text()));
      page.on("pageerror", (e) => errors.push(String(e)));
      await page.goto(`file://${join(dir, "report.html")}`);
      const figure = async () =>
        page.evaluate(() => {
          const f = document.getElementById("depth-figure")!;
          return {
            sites: f.dataset.sites,
            legend: [...f.querySelectorAll("[class$='-swatch']")].map((x) => (x.textContent ?? "").trim()),
            swatches: [...f.querySelectorAll("[class$='-swatch'] svg")].map((x) => x.getAttribute("fill") ?? x.getAttribute("stroke")),
            strokes: [...f.querySelectorAll('g[aria-label="line"] path')].map((x) => x.getAttribute("stroke") ?? x.parentElement!.getAttribute("stroke")),
            caption: f.querySelector("figcaption")!.textContent ?? "",
            yLabel: [...f.querySelectorAll('g[aria-label="y-axis label"] text')].map((x) => x.textContent).join(""),
          };
        });
      const overall = await figure();
      expect(overall.sites).toBe("conv1,conv2,fc1");
      expect(overall.legend).toEqual(["conv1 (depth 1, conv)", "conv2 (depth 2, conv)", "fc1 (depth 3, dense)"]);
      // One line per site, each in its legend colour, in depth order.
      expect(overall.strokes.length).toBe(3);
      expect(overall.strokes).toEqual(overall.swatches);
      expect(new Set(overall.strokes).size).toBe(3);
      expect(overall.caption).toContain("overall accuracy");
      // The per-class view: the class picker redraws the figure for one class.
      expect(await page.$$eval("#depth-class option", (o) => o.map((x) => x.textContent))).toEqual(["all classes (overall)", "class 0", "class 1", "class 2", "class 3"]);
      await page.selectOption("#depth-class", "2");
      const class2 = await figure();
      expect(class2.strokes.length).toBe(3);
      expect(class2.caption).toContain("accuracy on class 2");
      expect(class2.yLabel).toContain("class 2");

      // Filter tiles: one k×k canvas per conv1 filter, bytes = round(127.5 (1 + w / max|w of the filter's channel|)).
      const [filters, channels, k] = weight.dims;
      expect([filters, channels, k]).toEqual([16, 3, 3]);
      expect(await page.$eval("#filters h2", (h) => h.textContent)).toContain("conv1");
      // A study without --recover says how to add the recovery (a trial's report had none, without a word).
      expect(await page.$eval("#recovery p", (p) => p.textContent)).toMatch(/^Not run in this study: lesion study --recover /);
      const tiles = await page.$$eval("#filter-tiles canvas", (all) =>
        all.map((c) => ({ unit: Number((c as HTMLCanvasElement).dataset.unit), size: [(c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height], rgba: [...(c as HTMLCanvasElement).getContext("2d")!.getImageData(0, 0, (c as HTMLCanvasElement).width, (c as HTMLCanvasElement).height).data] })),
      );
      expect(tiles.length).toBe(filters);
      for (const [f, tile] of tiles.entries()) {
        expect(tile.unit).toBe(f);
        expect(tile.size).toEqual([k, k]);
        const expected: number[] = [];
        for (let p = 0; p < k * k; p++) {
          for (let c = 0; c < 3; c++) {
            const kernel = Array.from(weight.values.subarray((f * 3 + c) * k * k, (f * 3 + c + 1) * k * k));
            const m = Math.max(...kernel.map(Math.abs));
            expected.push(Math.round(127.5 * (1 + kernel[p] / m)));
          }
          expected.push(255);
        }
        expect(tile.rgba).toEqual(expected);
        // Symmetric per channel: each channel's largest |weight| lands on 0 or 255.
        for (let c = 0; c < 3; c++) expect(tile.rgba.filter((_, i) => i % 4 === c).some((v) => v === 0 || v === 255)).toBe(true);
      }
      mkdirSync(ARTEFACTS, { recursive: true });
      await page.selectOption("#depth-class", "");
      await page.locator("#depth").screenshot({ path: join(ARTEFACTS, "studyB-depth.png") });
      await page.locator("#filters").screenshot({ path: join(ARTEFACTS, "studyB-filters.png") });
      expect(errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 60_000);
});
