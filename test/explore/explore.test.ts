/**
 * The live explorer end to end: a 3×100 MLP trained here in seconds, its page for mnist:test, opened from file:// in
 * headless Chromium (Debian's chromium via playwright-core, as the report's test): no request leaves the file, no
 * console error, the first result within 10 s, a click changes the bars, and `lesionExplorer.ablate` for a single
 * unit, a pair and a group equals the library's `ablate` exactly. Screenshots go to test-output/explore/.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel, resolveSite, type LesionModel } from "../../src/engine/model.js";
import { explore, stratifiedSample, type ExploreResult } from "../../src/explore/explore.js";
import { ablate } from "../../src/study/ablate.js";
import { condition } from "../../src/study/conditions.js";
import { train } from "../../src/models/train.js";
import { fillInput } from "../../src/engine/input.js";
import { denseChain } from "../../src/onnx/chain.js";
import { random, randomArray, randomCnn, subset } from "../helpers.js";
import { buildClassifier, type LayerSpec } from "../../src/onnx/build.js";
import { writeMetadata } from "../../src/onnx/metadata.js";
import { encodeModel, makeNode } from "../../src/onnx/proto.js";
import { BIN } from "../lesionCli.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const ARTEFACTS = fileURLToPath(new URL("../../test-output/explore/", import.meta.url));
let dir = "";
let model: LesionModel;
let test: Dataset;
let page: ExploreResult;

/** The lesions checked against the library: a single unit, a pair, a group, on three sites. */
const LESIONS: Array<[string, number[]]> = [
  ["fc1", [3]],
  ["fc2", [3, 7]],
  ["fc1", [0, 5, 11, 17, 23, 42, 64, 99]],
  ["fc3", [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]],
];

/** The page's `lesion ablate` line for each of LESIONS. */
const LINES = [
  "npx lesion ablate mlp.onnx --data mnist:test --site fc1 --units 3 -o out/fc1_3",
  "npx lesion ablate mlp.onnx --data mnist:test --site fc2 --units 3,7 -o out/fc2_3_7",
  "npx lesion ablate mlp.onnx --data mnist:test --site fc1 --units 0,5,11,17,23,42,64,99 -o out/fc1_0_5_11_17_23_42_64_99",
  "npx lesion ablate mlp.onnx --data mnist:test --site fc3 --units 1-12 -o out/fc3_1-12",
];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "lesion-explore-"));
  const full = await loadDataset("mnist:train");
  const n = 6000;
  const trainSet: Dataset = { ...full, n, images: full.images.slice(0, n * 784), labels: full.labels.slice(0, n) };
  const trained = await train(trainSet, { arch: "mlp:784-100-100-100-10", epochs: 1, seed: 1 });
  writeFileSync(join(dir, "mlp.onnx"), trained.model);
  model = await openModel(join(dir, "mlp.onnx"));
  test = await loadDataset("mnist:test");
  page = await explore(model, test, { populations: true, map: { samples: 300, iterations: 200, cacheDir: join(dir, "maps") } });
  writeFileSync(join(dir, "explorer.html"), page.html);
}, 300_000);

afterAll(async () => {
  if (model) await closeModel(model);
});

describe("explore", () => {
  it("explore(model, mnist:test) holds all 10,000 samples in one self-contained page under 50 MB", () => {
    expect(page.n).toBe(10000);
    expect(page.sampled).toBe(false);
    expect(page.sites).toEqual(["fc1", "fc2", "fc3"]);
    expect(page.bytes).toBeLessThan(50 * 2 ** 20);
    expect(/<script[^>]+src=|<link[^>]+href=/.test(page.html)).toBe(false);
  });

  it("the page runs from file:// in Chromium and lesionExplorer.ablate equals ablate() for a single unit, a pair and groups", async () => {
    const expected = await ablate(model, test, { conditions: LESIONS.map(([site, units]) => condition(resolveSite(model, site), units)), loss: false });
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const tab = await browser.newPage({ viewport: { width: 1300, height: 900 } });
      const errors: string[] = [];
      const requests: string[] = [];
      tab.on("console", (m) => (m.type() === "error" || m.type() === "warning") && errors.push(m.text()));
      tab.on("pageerror", (e) => errors.push(String(e)));
      tab.on("request", (r) => requests.push(r.url()));
      const url = `file://${join(dir, "explorer.html")}`;
      const started = Date.now();
      await tab.goto(url);
      const intact = (await tab.evaluate("window.lesionExplorer.ready")) as { accuracy: number; perClass: number[] };
      const firstResult = Date.now() - started;
      expect(firstResult).toBeLessThan(10_000);
      expect(intact.accuracy).toBe(expected.baseline.accuracy);
      expect(intact.perClass).toEqual(expected.baseline.perClass);
      mkdirSync(ARTEFACTS, { recursive: true });
      await tab.screenshot({ path: join(ARTEFACTS, "intact.png") });

      // Each site's colour scale states its ends under the site's name, in the indicator's units (a trial: the legend
      // gave no numbers).
      const range = () => tab.$eval('.range[data-site="fc1"]', (d) => d.textContent);
      expect(await range()).toMatch(/^-?\d+\.\d{3} … -?\d+\.\d{3}$/);
      await tab.selectOption("#indicator", "impact");
      expect(await range()).toMatch(/^-?\d+\.\d\d pp … -?\d+\.\d\d pp$/);
      await tab.selectOption("#indicator", "fractionActive");
      expect(await range()).toMatch(/^\d+\.\d% … \d+\.\d%$/);
      await tab.selectOption("#indicator", "classMean");
      // The results sit beside the network, not below it (a long hint had made the results panel 1,150 px wide).
      const top = (id: string) => tab.$eval(id, (e) => Math.round(e.getBoundingClientRect().top));
      expect(await top("#results")).toBe(await top("#left"));
      // Every fifth row of units is labelled with its first unit's index, level with that unit (a trial: a unit could be
      // found only by hovering).
      const rows = await tab.$$eval('.unit[data-site="fc1"]', (cells) => {
        const grid = cells[0].parentElement!;
        const labels = [...grid.querySelectorAll(".row-label")].filter((l) => l.textContent !== "");
        return labels.map((l) => {
          const unit = grid.querySelector(`.unit[data-unit="${l.textContent}"]`)!;
          return { label: l.textContent, top: Math.round(l.getBoundingClientRect().top), unitTop: Math.round(unit.getBoundingClientRect().top), left: l.getBoundingClientRect().right <= unit.getBoundingClientRect().left };
        });
      });
      expect(rows.length).toBeGreaterThan(1);
      for (const r of rows) expect(r, `label ${r.label}`).toEqual({ ...r, top: r.unitTop, left: true });

      // A click on a unit silences it: the status, the CLI line and at least one bar change.
      const bars = () => tab.$$eval("#bars text.value", (nodes) => nodes.map((n) => n.textContent));
      const before = await bars();
      const timings = () => tab.evaluate("window.lesionExplorer.timings.length") as Promise<number>;
      await tab.click('.unit[data-site="fc1"][data-unit="3"]');
      await tab.waitForFunction("window.lesionExplorer.timings.length === 1");
      expect(await bars()).not.toEqual(before);
      expect(await tab.inputValue("#units")).toBe("npx lesion ablate mlp.onnx --data mnist:test --site fc1 --units 3 -o out/fc1_3");
      expect(await tab.$eval("#cli-note", (p) => (p as HTMLElement).hidden)).toBe(true);
      // A class's change is in pp, as the overall line's; a changed confusion cell names its intact count.
      const changedBars = (await bars()).filter((t) => t!.includes("("));
      expect(changedBars.length).toBeGreaterThan(0);
      for (const t of changedBars) expect(t).toMatch(/^\d+\.\d\d% \([+−]\d+\.\d\d pp\)$/);
      const cellTitle = await tab.$eval("#confusion td[title]", (td) => td.getAttribute("title"));
      expect(cellTitle).toMatch(/^[+-]?\d+ from intact \(\d+\)$/);
      // Shift-click adds to the group.
      await tab.click('.unit[data-site="fc1"][data-unit="5"]', { modifiers: ["Shift"] });
      await tab.waitForFunction("window.lesionExplorer.timings.length === 2");
      expect(await tab.inputValue("#units")).toContain("--site fc1 --units 3,5 -o out/fc1_3_5");
      await tab.hover('.unit[data-site="fc1"][data-unit="5"]');
      await tab.screenshot({ path: join(ARTEFACTS, "fc1-3-5.png") });
      // The hover panel's scales (a trial: bars without a value, weights without a colour scale; the reports' colours).
      const tip = await tab.$eval("#tip", (t) => t.textContent ?? "");
      expect(tip).toMatch(/class profile \(mean activation per class(; bar height \|mean\|, blue: negative)?; the tallest bar is \d/);
      expect(tip).toMatch(/incoming weights \(red \+, blue −; scaled to the unit's largest \|weight\|, \d/);
      // Ctrl-click toggles in the group as shift-click does, and a focused unit takes Enter (a trial: ctrl-click had
      // replaced the group; the units could not be reached by keyboard).
      await tab.click('.unit[data-site="fc1"][data-unit="9"]', { modifiers: ["Control"] });
      await tab.waitForFunction("window.lesionExplorer.timings.length === 3");
      expect(await tab.inputValue("#units")).toContain("--site fc1 --units 3,5,9 ");
      await tab.focus('.unit[data-site="fc1"][data-unit="9"]');
      await tab.keyboard.press("Shift+Enter");
      await tab.waitForFunction("window.lesionExplorer.timings.length === 4");
      expect(await tab.inputValue("#units")).toContain("--site fc1 --units 3,5 ");
      expect(await tab.getAttribute('.unit[data-site="fc1"][data-unit="9"]', "aria-label")).toBe("fc1:9");
      await tab.click("#undo");
      await tab.click("#undo");
      await tab.click("#undo");
      await tab.waitForFunction(() => (document.getElementById("units") as HTMLInputElement).value.endsWith("--units 3 -o out/fc1_3"));
      await tab.click("#reset");
      await tab.waitForFunction(() => (document.getElementById("units") as HTMLInputElement).value === "");
      expect(await bars()).toEqual(before);
      expect(await timings()).toBeGreaterThanOrEqual(2);

      for (const [i, [site, units]] of LESIONS.entries()) {
        const got = (await tab.evaluate(([s, u]) => (window as unknown as { lesionExplorer: { ablate: (s: string, u: number[]) => Promise<unknown> } }).lesionExplorer.ablate(s, u), [site, units] as const)) as {
          accuracy: number;
          perClass: number[];
          lost: number;
          gained: number;
        };
        const want = expected.conditions[i];
        // The line names the units as the CLI reads them (runs as ranges) and a result directory of their own.
        expect(await tab.inputValue("#units"), `${site} ${units}`).toBe(LINES[i]);
        expect(got.accuracy, `${site} ${units}`).toBe(want.accuracy);
        expect(got.perClass, `${site} ${units}`).toEqual(want.perClass);
        expect([got.lost, got.gained], `${site} ${units}`).toEqual([want.lost, want.gained]);
      }
      // The population picker silences a whole population (Meyes et al. 2020) of the characterisation.
      const population = (await tab.evaluate(() => JSON.parse(document.getElementById("lesion-meta")!.textContent!).populations[1])) as { site: string; by: string; populations: Array<{ units: number[] }> };
      expect([population.site, population.by]).toEqual(["fc1", "impact"]);
      const members = population.populations[0].units;
      const changes = (await timings()) + 1;
      await tab.selectOption("#population", "1:0");
      await tab.waitForFunction((n) => (window as unknown as { lesionExplorer: { timings: number[] } }).lesionExplorer.timings.length === n, changes);
      expect(await tab.evaluate("window.lesionExplorer.lesion()")).toEqual({ fc1: [...members].sort((a, b) => a - b) });
      // The picker shows the population while it is the lesion, and its prompt after any other change.
      expect(await tab.inputValue("#population")).toBe("1:0");
      const group = await ablate(model, test, { conditions: [condition(resolveSite(model, "fc1"), members)], loss: false });
      expect(await tab.evaluate("window.lesionExplorer.result().accuracy")).toBe(group.conditions[0].accuracy);
      // A long group's result directory is named by its size and a hash of its units.
      const scattered = Array.from({ length: 30 }, (_, i) => 3 * i);
      await tab.evaluate((u) => (window as unknown as { lesionExplorer: { ablate: (s: string, u: number[]) => Promise<unknown> } }).lesionExplorer.ablate("fc1", u), scattered);
      expect(await tab.inputValue("#units")).toMatch(new RegExp(`--units ${scattered.join(",")} -o out/fc1_30units_[0-9a-f]{8}$`));
      expect(await tab.inputValue("#population")).toBe("");
      // A unit given as text is no index: said so (a trial's "3" was called out of range).
      const refused = await tab.evaluate(() => (window as unknown as { lesionExplorer: { ablate: (s: string, u: unknown) => Promise<unknown> } }).lesionExplorer.ablate("fc1", ["3"]).then(() => "accepted", (e: Error) => e.message));
      expect(refused).toBe('units are whole numbers (indices), got "3" for site fc1');

      // A lesion across two sites (no CLI twin): equals a float64 forward pass with both sites masked.
      const across = { fc1: [3, 8, 50], fc2: [7, 9] };
      const reference = float64Masked(model, test, across);
      const got = (await tab.evaluate((l) => (window as unknown as { lesionExplorer: { silence: (l: Record<string, number[]>) => Promise<unknown> } }).lesionExplorer.silence(l), across)) as { accuracy: number; perClass: number[] };
      expect([got.accuracy, got.perClass]).toEqual([reference.accuracy, reference.perClass]);
      // Two commands that run as pasted, the note after them (a leading "#" had commented out the whole line).
      expect(await tab.inputValue("#units")).toMatch(/^npx lesion ablate mlp\.onnx --data mnist:test --site fc1 --units 3,8,50 -o \S+ ; npx lesion ablate mlp\.onnx --data mnist:test --site fc2 --units 7,9 -o \S+ {2}# across sites: the CLI ablates one site per condition$/);
      // Said beside the line, where it can be read (a trial missed it at the end of the line's box).
      expect(await tab.$eval("#cli-note", (p) => [(p as HTMLElement).hidden, p.textContent])).toEqual([false, "Units of 2 sites are silenced together: the accuracy this page shows is that joint lesion, computed here; `lesion ablate` ablates one site per condition, so the line runs each site's lesion on its own, with other numbers."]);
      await tab.screenshot({ path: join(ARTEFACTS, "fc3-group.png") });
      // The stimulus map counts, for its images, what the last single-site lesion did: as the library's changes say.
      const last = LESIONS.length - 1;
      await tab.evaluate(([s, u]) => (window as unknown as { lesionExplorer: { ablate: (s: string, u: number[]) => Promise<unknown> } }).lesionExplorer.ablate(s, u), LESIONS[last]);
      const mapped = (await tab.evaluate(() => JSON.parse(document.getElementById("lesion-meta")!.textContent!).map.samples)) as number[];
      const changed = new Map(Array.from(expected.changes[last].samples, (s, i) => [s, expected.changes[last].predictions[i]]));
      const tally = { right: 0, wrong: 0, lost: 0, gained: 0 };
      for (const s of mapped) {
        const [before, after] = [expected.predictions[s], changed.get(s) ?? expected.predictions[s]].map((p) => p === test.labels[s]);
        tally[before ? (after ? "right" : "lost") : after ? "gained" : "wrong"]++;
      }
      expect(mapped).toHaveLength(300);
      // Said as the map's own counts where it shows fewer images than the page scores (a trial read "lost 914" against the
      // page's "lost 4577").
      const scored = (await tab.evaluate(() => JSON.parse(document.getElementById("lesion-meta")!.textContent!).n)) as number;
      expect(scored).toBeGreaterThan(300);
      expect(await tab.textContent("#map-legend")).toBe(`■ right in both ${tally.right} · ■ wrong in both ${tally.wrong} · ■ lost ${tally.lost} · ■ gained ${tally.gained} (counts over the map's 300 images, not the ${scored.toLocaleString("en")} the page scores)`);
      const perChange = (await tab.evaluate("window.lesionExplorer.timings")) as number[];
      writeFileSync(join(ARTEFACTS, "timings.json"), JSON.stringify({ firstResultMs: firstResult, perChangeMs: perChange, phases: await tab.evaluate("window.lesionExplorer.phases"), pageBytes: page.bytes }, null, 2));
      expect(errors).toEqual([]);
      expect(requests).toEqual([url]);
    } finally {
      await browser.close();
    }
  }, 120_000);

  it("explore(m, d, {samples}) refuses more samples than the data set has (bad-option)", async () => {
    await expect(explore(model, test, { samples: 10001 })).rejects.toMatchObject({ code: "bad-option", message: "`samples` must be a whole number from 1 to 10000 (the data set's size), got 10001", details: { options: ["samples"], value: 10001 } });
  });

  it("lesion explore from another directory: the page's lesion ablate line names the model by its absolute path", () => {
    const run = spawnSync(process.execPath, [BIN, "explore", "mlp.onnx", "--data", "mnist:test", "--sites", "fc3", "--samples", "100", "-o", "page.html"], { cwd: dir, encoding: "utf8" });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/a stratified sample of 100 of 10000 samples, sites fc3, intact [\d.]+% on the sample, [\d.]+% on all\)/);
    const html = readFileSync(join(dir, "page.html"), "utf8");
    const meta = JSON.parse(/<script type="application\/json" id="lesion-meta">(.*?)<\/script>/s.exec(html)![1]) as { modelPath: string; data: string };
    expect([meta.modelPath, meta.data]).toEqual([join(dir, "mlp.onnx"), "mnist:test"]);
  });

  // A trial's `-o afile` replaced a file of its own with the page, silently.
  it("lesion explore -o onto a file that is no explorer page: one stderr line, exit 1, the file kept; an earlier page is replaced; --overwrite replaces the file", () => {
    const args = [BIN, "explore", "mlp.onnx", "--data", "mnist:test", "--sites", "fc3", "--samples", "100", "-o"];
    writeFileSync(join(dir, "notes.txt"), "mine\n");
    const refused = spawnSync(process.execPath, [...args, "notes.txt"], { cwd: dir, encoding: "utf8" });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toBe("lesion: notes.txt exists and is no lesion explorer page; choose another -o path, or --overwrite to replace it\n");
    expect(readFileSync(join(dir, "notes.txt"), "utf8")).toBe("mine\n");
    // page.html is the page the test above wrote.
    expect(spawnSync(process.execPath, [...args, "page.html"], { cwd: dir, encoding: "utf8" }).status).toBe(0);
    const replaced = spawnSync(process.execPath, [...args, "notes.txt", "--overwrite"], { cwd: dir, encoding: "utf8" });
    expect(replaced.status, replaced.stderr).toBe(0);
    expect(readFileSync(join(dir, "notes.txt"), "utf8")).toMatch(/^<!doctype html>/);
  });

  it("lesion explore with an unknown site: one stderr line, exit 1, no page written", () => {
    const run = spawnSync(process.execPath, [BIN, "explore", join(dir, "mlp.onnx"), "--data", "mnist:test", "--sites", "fc9", "-o", join(dir, "bad.html")], { encoding: "utf8" });
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toMatch(/^lesion: unknown site 'fc9' in mlp\.onnx/);
    expect(existsSync(join(dir, "bad.html"))).toBe(false);
  });
});

/** Accuracy and per-class accuracy of a dense chain in float64 (from float32 inputs, as lesion's float64 graph), units zeroed after their layer's ReLU. */
function float64Masked(m: LesionModel, data: Dataset, lesion: Record<string, number[]>): { accuracy: number; perClass: number[] } {
  const chain = denseChain(m.proto)!;
  const width = chain.layers[0].in;
  const input = new Float32Array(data.n * width);
  fillInput(input, data.images, 0, data.n, data.shape, m.preprocessing);
  const correct = new Array<number>(data.numClasses).fill(0);
  const counts = new Array<number>(data.numClasses).fill(0);
  let x = new Float64Array(width);
  for (let s = 0; s < data.n; s++) {
    x = Float64Array.from(input.subarray(s * width, (s + 1) * width));
    for (const layer of chain.layers) {
      const y = new Float64Array(layer.out);
      for (let o = 0; o < layer.out; o++) {
        let sum = layer.bias ? layer.bias[o] : 0;
        for (let i = 0; i < layer.in; i++) sum += layer.weight[o * layer.in + i] * x[i];
        y[o] = layer.activation === "relu" ? Math.max(0, sum) : sum;
      }
      for (const u of lesion[layer.name] ?? []) y[u] = 0;
      x = y;
    }
    let best = 0;
    for (let c = 1; c < x.length; c++) if (x[c] > x[best]) best = c;
    counts[data.labels[s]]++;
    if (best === data.labels[s]) correct[data.labels[s]]++;
  }
  return { accuracy: correct.reduce((a, b) => a + b, 0) / data.n, perClass: correct.map((c, i) => c / counts[i]) };
}

describe("explore on a CNN", () => {
  it("explore(cnn, d) shows filters as units; lesionExplorer.ablate equals ablate() for a filter and a pair of filters", async () => {
    const cnnDir = mkdtempSync(join(tmpdir(), "lesion-explore-cnn-"));
    writeFileSync(join(cnnDir, "cnn.onnx"), randomCnn(3, 5));
    const cnn = await openModel(join(cnnDir, "cnn.onnx"));
    const n = 200;
    const data: Dataset = { spec: "random:8x8", n, shape: [1, 8, 8], images: randomArray(n * 64, random(5), 4).map(Math.abs), labels: Int32Array.from({ length: n }, (_, i) => i % 5), numClasses: 5, classNames: ["a", "b", "c", "d", "e"], source: "test" };
    try {
      const result = await explore(cnn, data);
      expect([result.n, result.sites]).toEqual([n, ["conv1", "conv2"]]);
      writeFileSync(join(cnnDir, "explorer.html"), result.html);
      const lesions: Array<[string, number[]]> = [["conv1", [1]], ["conv2", [0, 3]]];
      const expected = await ablate(cnn, data, { conditions: lesions.map(([site, units]) => condition(resolveSite(cnn, site), units)), loss: false });
      // No float64 Conv in onnxruntime: the comparison is exact only where no near tie was left unsettled.
      expect(expected.unresolvedTies).toBe(0);
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
      try {
        const tab = await browser.newPage({ viewport: { width: 1000, height: 700 } });
        const errors: string[] = [];
        tab.on("console", (m) => (m.type() === "error" || m.type() === "warning") && errors.push(m.text()));
        tab.on("pageerror", (e) => errors.push(String(e)));
        await tab.goto(`file://${join(cnnDir, "explorer.html")}`);
        const intact = (await tab.evaluate("window.lesionExplorer.ready")) as { accuracy: number };
        expect(intact.accuracy).toBe(expected.baseline.accuracy);
        expect(await tab.textContent(".site .sub")).toBe("4 channels");
        for (const [i, [site, units]] of lesions.entries()) {
          const got = (await tab.evaluate(([s, u]) => (window as unknown as { lesionExplorer: { ablate: (s: string, u: number[]) => Promise<unknown> } }).lesionExplorer.ablate(s, u), [site, units] as const)) as { accuracy: number; perClass: number[] };
          expect([got.accuracy, got.perClass], `${site} ${units}`).toEqual([expected.conditions[i].accuracy, expected.conditions[i].perClass]);
        }
        mkdirSync(ARTEFACTS, { recursive: true });
        await tab.screenshot({ path: join(ARTEFACTS, "cnn.png") });
        expect(errors).toEqual([]);
      } finally {
        await browser.close();
      }
    } finally {
      await closeModel(cnn);
    }
  }, 120_000);
});

describe("explore on a sample", () => {
  it("a sampled page holds stratifiedSample's images, names them (samples), states both intact accuracies, and draws no weights for a dense layer after convs with as many inputs as the image has pixels", async () => {
    const cnnDir = mkdtempSync(join(tmpdir(), "lesion-explore-sample-"));
    const rand = random(11);
    // 1×8×8 input (64 pixels); after pooling, 4 channels of 4×4: fc1 also has 64 inputs, but they are not pixels.
    const layers: LayerSpec[] = [
      { op: "conv", name: "conv1", weight: randomArray(4 * 9, rand, 0.6), shape: [4, 1, 3, 3], bias: randomArray(4, rand, 0.1), stride: 1, padding: 1 },
      { op: "relu" },
      { op: "maxpool", kernel: 2, stride: 2 },
      { op: "flatten" },
      { op: "linear", name: "fc1", weight: randomArray(8 * 64, rand, 0.3), shape: [8, 64], bias: randomArray(8, rand, 0.1) },
      { op: "relu" },
      { op: "linear", name: "fc2", weight: randomArray(5 * 8, rand, 0.3), shape: [5, 8], bias: randomArray(5, rand, 0.1) },
    ];
    const proto = buildClassifier({ layers, inputShape: [1, 8, 8] });
    writeMetadata(proto, { preprocessing: { layout: "nchw", mean: [0.5], std: [0.5], imageShape: [1, 8, 8] }, classNames: null });
    writeFileSync(join(cnnDir, "cnn.onnx"), encodeModel(proto));
    const cnn = await openModel(join(cnnDir, "cnn.onnx"));
    const n = 300;
    const data: Dataset = { spec: "random:8x8", n, shape: [1, 8, 8], images: randomArray(n * 64, random(12), 4).map(Math.abs), labels: Int32Array.from({ length: n }, (_, i) => (i * 7) % 5), numClasses: 5, classNames: ["a", "b", "c", "d", "automobile"], source: "test" };
    try {
      const result = await explore(cnn, data, { samples: 120, seed: 4 });
      const indices = stratifiedSample(data, 120, 4);
      expect(result.samples).toEqual(indices);
      const meta = JSON.parse(/<script type="application\/json" id="lesion-meta">(.*?)<\/script>/s.exec(result.html)![1]) as { samples: number[]; weights: Record<string, unknown> };
      expect(meta.samples).toEqual(Array.from(indices));
      // conv1 reads the image (3×3 filters drawn); fc1 reads pooled channels, though 64 of them.
      expect(Object.keys(meta.weights)).toEqual(["conv1"]);
      // The page's accuracies are those of its samples: ablate() on those images; the whole set's beside them.
      const sample = subset(data, Array.from(indices), "sample");
      const onSample = await ablate(cnn, sample, { conditions: [condition(resolveSite(cnn, "fc1"), [2])], loss: false });
      const onAll = await ablate(cnn, data, { conditions: [condition(resolveSite(cnn, "fc1"), [2])], loss: false });
      expect(result.baseline.accuracy).toBe(onSample.baseline.accuracy);
      expect(result.wholeBaseline!.accuracy).toBe(onAll.baseline.accuracy);
      writeFileSync(join(cnnDir, "explorer.html"), result.html);
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
      try {
        const tab = await browser.newPage({ viewport: { width: 1000, height: 700 } });
        const errors: string[] = [];
        tab.on("pageerror", (e) => errors.push(String(e)));
        await tab.goto(`file://${join(cnnDir, "explorer.html")}`);
        await tab.evaluate("window.lesionExplorer.ready");
        const percent = (f: number) => `${(100 * f).toFixed(2)}%`;
        expect(await tab.textContent("#status")).toContain(`intact accuracy ${percent(onSample.baseline.accuracy)} on these 120 samples (equals lesion's on these 120 samples); ${percent(onAll.baseline.accuracy)} on all 300`);
        expect(await tab.evaluate("window.lesionExplorer.samples()")).toEqual(Array.from(indices));
        const got = (await tab.evaluate(() => (window as unknown as { lesionExplorer: { ablate: (s: string, u: number[]) => Promise<unknown> } }).lesionExplorer.ablate("fc1", [2]))) as { accuracy: number };
        expect(got.accuracy).toBe(onSample.conditions[0].accuracy);
        // fc1 by another name the command line takes (its activation's node or tensor): the same lesion (trial 76).
        const aliases = (await tab.evaluate(() => JSON.parse(document.getElementById("lesion-meta")!.textContent!).aliases)) as Record<string, string>;
        const alias = Object.keys(aliases).find((name) => aliases[name] === "fc1")!;
        expect(resolveSite(cnn, alias).name).toBe("fc1");
        const byAlias = (await tab.evaluate((name) => (window as unknown as { lesionExplorer: { ablate: (s: string, u: number[]) => Promise<unknown> } }).lesionExplorer.ablate(name, [2]), alias)) as { accuracy: number };
        expect(byAlias.accuracy).toBe(onSample.conditions[0].accuracy);
        // The whole set's intact accuracy stays in view once a change replaces the status line (trial 76).
        expect(await tab.textContent("#overall")).toContain(`from intact ${percent(onSample.baseline.accuracy)} on this sample; ${percent(onAll.baseline.accuracy)} on all 300)`);
        // The longest class name fits left of its bar.
        const box = await tab.$eval("#bars", (svg) => {
          const label = [...svg.querySelectorAll("text")].find((t) => t.textContent === "automobile")!;
          return label.getBBox().x;
        });
        expect(box).toBeGreaterThanOrEqual(0);
        expect(errors).toEqual([]);
      } finally {
        await browser.close();
      }
    } finally {
      await closeModel(cnn);
    }
  }, 120_000);
});

describe("explore on a network of many sites (ResNet-18's 37)", () => {
  it("every unit cell can be clicked at 1,280 px: the network stays in its own box instead of running under the results panel, its sites wrapped into rows (helper trials 'newuser29', 'newuser31')", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-explore-wide-"));
    const model = await openModel(readFileSync(new URL("../fixtures/cnn/resnet18.onnx", import.meta.url)), { name: "resnet18.onnx" });
    const n = 40;
    const data: Dataset = { spec: "random:3x32x32", n, shape: [3, 32, 32], images: randomArray(n * 3072, random(9)).map(Math.abs), labels: Int32Array.from({ length: n }, (_, i) => i % 10), numClasses: 10, classNames: Array.from({ length: 10 }, (_, i) => String(i)), source: "test" };
    try {
      const result = await explore(model, data, { map: false });
      writeFileSync(join(dir, "explorer.html"), result.html);
    } finally {
      await closeModel(model);
    }
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    try {
      const tab = await browser.newPage({ viewport: { width: 1280, height: 900 } });
      await tab.goto(`file://${join(dir, "explorer.html")}`);
      await tab.evaluate("window.lesionExplorer.ready");
      const covered = await tab.evaluate(() => {
        const cells = [...document.querySelectorAll<HTMLElement>(".unit")];
        const hidden = cells.filter((cell) => {
          cell.scrollIntoView({ block: "center", inline: "center" });
          const box = cell.getBoundingClientRect();
          return document.elementFromPoint(box.x + box.width / 2, box.y + box.height / 2) !== cell;
        });
        return { cells: cells.length, hidden: hidden.length };
      });
      expect(covered.cells).toBeGreaterThan(500);
      expect(covered.hidden).toBe(0);
      // The sites wrap into rows: no sideways scrolling (28 sites had made one row 3,259 px wide in a 536 px box).
      const left = await tab.$eval("#left", (e) => ({ scroll: e.scrollWidth, client: e.clientWidth }));
      expect(left.scroll).toBeLessThanOrEqual(left.client);
    } finally {
      await browser.close();
    }
  }, 120_000);
});

describe("explore on a channels-last image input (Keras, tf2onnx)", () => {
  /** A 3×6×6 image given as [N, 6, 6, 3]: `transpose` inserts tf2onnx's Transpose to channels first before the layers. */
  async function channelsLast(layers: LayerSpec[], transpose: boolean): Promise<Record<string, { channels: number; height: number; width: number }>> {
    const proto = buildClassifier({ layers, inputShape: transpose ? [3, 6, 6] : [6, 6, 3] });
    const graph = proto.graph!;
    if (transpose) {
      graph.input![0].name = "image_nhwc";
      graph.input![0].type!.tensorType!.shape!.dim = ["batch", 6, 6, 3].map((d) => (typeof d === "string" ? { dimParam: d } : { dimValue: d }));
      graph.node!.unshift(makeNode("Transpose", ["image_nhwc"], ["input"], "sequential/conv/Transpose", { perm: [0, 3, 1, 2] }));
    }
    writeMetadata(proto, { preprocessing: { layout: "nhwc", mean: [0.5], std: [0.5], imageShape: [3, 6, 6] }, classNames: null });
    const model = await openModel(encodeModel(proto), { name: "nhwc.onnx" });
    const n = 60;
    const data: Dataset = { spec: "random:3x6x6", n, shape: [3, 6, 6], images: randomArray(n * 108, random(5)).map(Math.abs), labels: Int32Array.from({ length: n }, (_, i) => i % 4), numClasses: 4, classNames: ["a", "b", "c", "d"], source: "test" };
    try {
      const result = await explore(model, data, { map: false });
      return (JSON.parse(/<script type="application\/json" id="lesion-meta">(.*?)<\/script>/s.exec(result.html)![1]) as { weights: Record<string, { channels: number; height: number; width: number }> }).weights;
    } finally {
      await closeModel(model);
    }
  }

  it("draws the first conv's filters through the Transpose to channels first, and no picture for a dense layer over the image flattened channels-last ([H, W, C] order, not [C, H, W])", async () => {
    const rand = random(21);
    const conv = await channelsLast([
      { op: "conv", name: "conv1", weight: randomArray(4 * 27, rand, 0.4), shape: [4, 3, 3, 3], bias: null, stride: 1, padding: 1 },
      { op: "relu" },
      { op: "flatten" },
      { op: "linear", name: "fc", weight: randomArray(4 * 144, rand, 0.1), shape: [4, 144], bias: null },
    ], true);
    expect(Object.keys(conv)).toEqual(["conv1"]);
    expect([conv.conv1.channels, conv.conv1.height, conv.conv1.width]).toEqual([3, 3, 3]);
    const dense = await channelsLast([
      { op: "flatten" },
      { op: "linear", name: "fc1", weight: randomArray(8 * 108, rand, 0.1), shape: [8, 108], bias: null },
      { op: "relu" },
      { op: "linear", name: "fc2", weight: randomArray(4 * 8, rand, 0.3), shape: [4, 8], bias: null },
    ], false);
    expect(dense).toEqual({});
  }, 120_000);
});

describe("explore on a channels-last block", () => {
  it("explore(channels_last.onnx): lesionExplorer.ablate equals ablate() for units on the last axis (block.pwconv1, block.pwconv2) and on axis 1 (block)", async () => {
    const fixture = (name: string) => new URL(`../fixtures/torch/${name}`, import.meta.url);
    const reference = JSON.parse(readFileSync(fixture("channels_last.reference.json"), "utf8")) as { inputs: number[]; shape: number[]; labels: number[] };
    const dir = mkdtempSync(join(tmpdir(), "lesion-explore-last-"));
    const model = await openModel(readFileSync(fixture("channels_last.onnx")), { name: "channels_last.onnx" });
    const n = reference.labels.length;
    const data: Dataset = { spec: "channels-last", n, shape: [1, 6, 6], images: Float32Array.from(reference.inputs), labels: Int32Array.from(reference.labels), numClasses: 4, classNames: ["a", "b", "c", "d"], source: "test" };
    try {
      const result = await explore(model, data, { sites: ["block.pwconv1", "block.pwconv2", "block"] });
      writeFileSync(join(dir, "explorer.html"), result.html);
      const lesions: Array<[string, number[]]> = [["block.pwconv1", [2]], ["block.pwconv2", [1, 4]], ["block", [0, 5]]];
      const expected = await ablate(model, data, { conditions: lesions.map(([site, units]) => condition(resolveSite(model, site), units)), loss: false });
      expect(expected.unresolvedTies).toBe(0);
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
      try {
        const tab = await browser.newPage();
        const errors: string[] = [];
        tab.on("pageerror", (e) => errors.push(String(e)));
        await tab.goto(`file://${join(dir, "explorer.html")}`);
        await tab.evaluate("window.lesionExplorer.ready");
        for (const [i, [site, units]] of lesions.entries()) {
          const got = (await tab.evaluate(([s, u]) => (window as unknown as { lesionExplorer: { ablate: (s: string, u: number[]) => Promise<unknown> } }).lesionExplorer.ablate(s, u), [site, units] as const)) as { accuracy: number; perClass: number[] };
          expect([got.accuracy, got.perClass], `${site} ${units}`).toEqual([expected.conditions[i].accuracy, expected.conditions[i].perClass]);
        }
        expect(errors).toEqual([]);
      } finally {
        await browser.close();
      }
    } finally {
      await closeModel(model);
    }
  }, 120_000);
});

describe("stratifiedSample", () => {
  it("stratifiedSample(d, 5, seed) keeps class shares, leftovers to the largest remainders (lower class on a tie)", () => {
    // Classes of 6, 3 and 1 samples: quotas 3, 1.5, 0.5 → 3 + 1 + 0, one leftover place to class 1.
    const labels = Int32Array.from([0, 1, 0, 0, 2, 1, 0, 0, 1, 0]);
    const data = { labels, n: 10, numClasses: 3 } as Dataset;
    const chosen = stratifiedSample(data, 5, 0);
    expect(Array.from(chosen, (i) => labels[i]).sort()).toEqual([0, 0, 0, 1, 1]);
    expect(Array.from(chosen)).toEqual([...chosen].sort((a, b) => a - b));
    expect(stratifiedSample(data, 5, 0)).toEqual(chosen);
  });
});
