/**
 * A small study end to end, and its report in real headless Chromium (Debian's chromium, driven by playwright-core):
 * opened from file://, no console errors, no request leaving the file, every figure drawn, a screenshot of each
 * section written to test-output/report/ as an artefact.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel } from "../../src/engine/model.js";
import { buildReport } from "../../src/report/buildReport.js";
import { seeded } from "../../src/random.js";
import { study } from "../../src/study/study.js";
import { train } from "../../src/study/train.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTEFACTS = fileURLToPath(new URL("../../test-output/report/", import.meta.url));
let dir = "";

/** Four classes of 8x8 images: a bright bar in a class-specific place, plus noise. Digit names, as MNIST's. */
function bars(n: number, seed: number): Dataset {
  const rand = seeded(seed);
  const images = new Float32Array(n * 64);
  const labels = Int32Array.from({ length: n }, (_, i) => i % 4);
  for (let s = 0; s < n; s++) {
    for (let p = 0; p < 64; p++) images[s * 64 + p] = 0.3 * rand();
    const c = labels[s];
    for (let t = 0; t < 8; t++) images[s * 64 + (c < 2 ? (2 + 3 * c) * 8 + t : t * 8 + 2 + 3 * (c - 2))] += 0.7;
  }
  return { spec: `bars:${seed}`, n, shape: [1, 8, 8], images, labels, numClasses: 4, classNames: ["0", "1", "2", "3"], source: "test" };
}

beforeAll(async () => {
  dir = join(mkdtempSync(join(tmpdir(), "lesion-study-")), "study");
  const trainSet = bars(800, 1);
  const testSet = bars(300, 2);
  const trained = await train(trainSet, { arch: "mlp:64-12-8-4", epochs: 5, seed: 3 });
  const modelPath = join(dir, "..", "model.onnx");
  const initialPath = join(dir, "..", "initial.onnx");
  for (const [path, bytes] of [[modelPath, trained.model], [initialPath, trained.initial]] as const) {
    mkdirSync(join(dir, ".."), { recursive: true });
    (await import("node:fs")).writeFileSync(path, bytes);
  }
  const model = await openModel(modelPath);
  const initial = await openModel(initialPath);
  try {
    const result = await study(model, testSet, { dir, initial, recover: { train: trainSet, epochs: 2 }, modelPath });
    expect(Object.values(result.steps).every((ran) => ran)).toBe(true);
    const again = await study(model, testSet, { dir, initial, recover: { train: trainSet, epochs: 2 }, modelPath });
    expect(Object.values(again.steps).some((ran) => ran)).toBe(false);
  } finally {
    await closeModel(model);
    await closeModel(initial);
  }
  buildReport(dir);
}, 300_000);

describe("study and report", () => {
  it("study(model, data, dir) writes a result directory per step; rerun reuses them", () => {
    expect(readdirSync(dir).sort()).toEqual(["characterize", "eval", "fractions", "pairs-fc1", "pairs-fc2", "record", "recover", "report.html", "singles", "study.json"]);
    const html = readFileSync(join(dir, "report.html"), "utf8");
    // Self-contained: no external scripts or styles (the browser test checks that no request leaves the file).
    expect(/<script[^>]+src=|<link[^>]+href=/.test(html)).toBe(false);
  });

  it("the report opens from file:// in headless Chromium with no errors and no requests, and every figure has marks", async () => {
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
      const errors: string[] = [];
      const requests: string[] = [];
      // Plot reports questionable scales as console warnings: those count too.
      page.on("console", (m) => (m.type() === "error" || m.type() === "warning") && errors.push(m.text()));
      page.on("pageerror", (e) => errors.push(String(e)));
      page.on("request", (r) => requests.push(r.url()));
      await page.goto(`file://${join(dir, "report.html")}`);
      await page.waitForSelector("#stimuli figure");
      const sections = await page.$$eval("section", (all) =>
        all.map((s) => ({ id: s.id, figures: [...s.querySelectorAll("figure")].map((f) => f.querySelectorAll("svg [aria-label] > *, canvas").length) })),
      );
      expect(sections.map((s) => s.id)).toEqual(["network", "findings", "ablation", "activation", "indicators", "populations", "pairs", "curves", "weights", "stimuli", "recovery"]);
      for (const s of sections) for (const marks of s.figures) expect(marks, s.id).toBeGreaterThan(0);
      expect(await page.$$eval("figcaption", (c) => c.every((x) => (x.textContent ?? "").length > 40))).toBe(true);
      // Switching site and condition redraws without errors.
      await page.selectOption("#site", "fc2");
      await page.selectOption("#condition", { index: 1 });
      expect(errors).toEqual([]);
      expect(await page.$$eval("svg text", (t) => t.filter((x) => x.textContent === "⚠").length)).toBe(0);
      expect(requests.filter((u) => !u.startsWith("file://"))).toEqual([]);
      mkdirSync(ARTEFACTS, { recursive: true });
      await page.selectOption("#site", "fc1");
      for (const s of sections) await (await page.$(`#${s.id}`))!.screenshot({ path: join(ARTEFACTS, `${s.id}.png`) });
      expect(readdirSync(ARTEFACTS).filter((f) => f.endsWith(".png")).length).toBe(sections.length);
    } finally {
      await browser.close();
    }
  }, 120_000);
});
