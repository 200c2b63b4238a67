/**
 * A small study end to end, and its report in real headless Chromium (Debian's chromium, driven by playwright-core):
 * opened from file://, no console errors, no request leaving the file, every figure drawn, a screenshot of each
 * section written to test-output/report/ as an artefact.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { beforeAll, describe, expect, it } from "vitest";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel } from "../../src/engine/model.js";
import { buildReport } from "../../src/report/buildReport.js";
import { classAgreement } from "../../src/report/stimulusOutcomes.js";
import { seeded } from "../../src/random.js";
import { study } from "../../src/runs/study.js";
import { train, trainingHistory } from "../../src/models/train.js";

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
  const trained = await train(trainSet, { arch: "mlp:64-12-8-4", test: testSet, epochs: 5, seed: 3 });
  const modelPath = join(dir, "..", "model.onnx");
  const initialPath = join(dir, "..", "initial.onnx");
  for (const [path, bytes] of [[modelPath, trained.model], [initialPath, trained.initial]] as const) {
    mkdirSync(join(dir, ".."), { recursive: true });
    writeFileSync(path, bytes);
  }
  // As lesion train writes it: the report draws the training curve from it.
  writeFileSync(join(dir, "..", "model.history.json"), JSON.stringify(trainingHistory(trained)));
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
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 }, acceptDownloads: true });
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
      expect(sections.map((s) => s.id)).toEqual(["network", "depth", "findings", "ablation", "activation", "indicators", "populations", "pairs", "curves", "weights", "stimuli", "training", "recovery"]);
      for (const s of sections) for (const marks of s.figures) expect(marks, s.id).toBeGreaterThan(0);
      expect(await page.$$eval("figcaption", (c) => c.every((x) => (x.textContent ?? "").length > 40))).toBe(true);

      // Unit indices on the axes of the unit heatmaps and of the pair matrix.
      for (const id of ["ablation", "activation", "pairs"]) {
        const ticks = await page.$$eval(`#${id} figure:first-of-type svg g[aria-label="x-axis tick label"] text`, (t) => t.map((x) => x.textContent ?? ""));
        expect(ticks.length, id).toBeGreaterThanOrEqual(8);
        expect(ticks.every((t) => /^\d+$/.test(t)), id).toBe(true);
      }
      // The ablation heatmap's colours are accuracy drops in percentage points, as the rest of the page reads.
      const legend = await page.$eval("#ablation figure:first-of-type", (f) => f.textContent ?? "");
      expect(legend).toMatch(/accuracy drop \(pp\)/);
      // One scatter per indicator, weightL1 among them.
      const scatters = await page.$$eval("#indicators figure figcaption", (c) => c.map((x) => (x.textContent ?? "").split(" ")[0]));
      expect(scatters).toEqual(["magnitude", "selectivity", "fractionActive", "weightL1", "weightL2", "weightChange", "mannWhitneyP", "impactMaxClass"]);

      // The pair tooltip names both units and their single and joint drops.
      const cell = (await page.$$('#pairs figure:first-of-type g[aria-label="cell"] rect'))[5];
      await cell.hover();
      const tip = await page.waitForSelector('#pairs g[aria-label="tip"] text');
      const tipText = (await tip.textContent()) ?? "";
      expect(tipText.match(/fc1:\d+/g)!.length).toBeGreaterThanOrEqual(4);
      expect(tipText).toMatch(/fc1:\d+ \+ fc1:\d+/);
      expect(tipText).toMatch(/alone: -?\d+\.\d\d pp drop/);
      expect(tipText).toMatch(/both.*-?\d+\.\d\d pp drop/);

      // Tooltips give drops in pp, as the axes and legends do (a trial read 0.91 for a drop of 91 pp): a cell of the
      // single-unit heatmap and of the population heatmap, each against the value in the page's data.
      const site = await page.evaluate(() => JSON.parse(document.getElementById("data")!.textContent!).sites[0]);
      // The cell at a fraction of the way through the figure's cells.
      const tipOf = async (figure: string, at: number) => {
        const cells = await page.$$(`${figure} g[aria-label="cell"] rect`);
        await cells[Math.floor(at * (cells.length - 1))].hover();
        return (await (await page.waitForSelector(`${figure} g[aria-label="tip"] text`)).textContent()) ?? "";
      };
      const shownDrops: string[] = [];
      for (const at of [0.3, 0.5, 0.8]) {
        const unitTip = await tipOf("#ablation figure:first-of-type", at);
        const [, unit, unitClass] = unitTip.match(/unit fc1:(\d+).*class (\d+)/)!;
        const drop = (100 * site.impact[Number(unit)][Number(unitClass)]).toFixed(2);
        expect(unitTip).toContain(`accuracy drop ${drop} pp`);
        shownDrops.push(drop);
      }
      const groups = site.groupings.find((g: { by: string; method: string }) => g.by === "activation" && g.method === "hierarchical").populations;
      for (const at of [0, 0.4, 0.9]) {
        const groupTip = await tipOf("#populations figure:nth-of-type(2)", at);
        const [, groupClass, id] = groupTip.match(/class (\d+).*population P(\d+)/)!;
        const population = groups.find((q: { id: number }) => q.id === Number(id));
        const drop = (-100 * population.deltaPerClass[Number(groupClass)]).toFixed(2);
        expect(groupTip).toContain(`accuracy drop ${drop} pp`);
        expect(groupTip).toContain(`drop beyond the singles' sum ${(-100 * population.interaction[Number(groupClass)]).toFixed(2)} pp`);
        shownDrops.push(drop);
      }
      // Not all zero: the check compares magnitudes, not only the unit.
      expect(shownDrops.filter((d) => Math.abs(Number(d)) >= 0.5).length).toBeGreaterThan(0);

      // The ablation heatmap names each population above its first column, in the display order (a report review:
      // nothing marked where one population ended).
      const starts = await page.evaluate(() => {
        const site = JSON.parse(document.getElementById("data")!.textContent!).sites[0];
        const order: number[] = site.order;
        return order.flatMap((u, i) => (i === 0 || site.population[u] !== site.population[order[i - 1]] ? [site.population[u] < 0 ? "dead" : "P" + site.population[u]] : []));
      });
      const labels = await page.$$eval('#ablation figure:first-of-type g[aria-label="text"] text', (t) => t.map((x) => x.textContent));
      expect(labels).toEqual(starts);
      expect(starts.length).toBeGreaterThan(1);

      // Accuracy axes in % as the text gives accuracies (a report review: 0–1 on the axes, "97.50%" in the text).
      const networkAxis = await page.$$eval('#network svg g[aria-label="y-axis tick label"] text', (t) => t.map((x) => x.textContent));
      expect(networkAxis.at(-1)).toBe("100");
      expect(await page.$eval('#network svg g[aria-label="y-axis label"]', (g) => g.textContent)).toContain("accuracy (%)");

      // The pair matrix: units in the heatmaps' order, its colours over the whole range (the top pairs stand out; a
      // report review found 98 cells clipped together with them), and the table's rows about the drop first.
      const pairAxis = await page.$$eval('#pairs figure:first-of-type g[aria-label="x-axis tick label"] text', (t) => t.map((x) => x.textContent));
      const order = await page.evaluate(() => JSON.parse(document.getElementById("data")!.textContent!).sites[0].order as number[]);
      expect(pairAxis[0]).toBe(String(order[0]));
      expect(await page.$eval("#pairs figure:first-of-type", (f) => f.textContent ?? "")).not.toContain("clipped");
      const tableRows = await page.$$eval("#indicators table tr", (r) => r.slice(1).map((x) => x.querySelector("td")?.textContent ?? ""));
      const firstOther = tableRows.findIndex((r) => !r.includes("impact ") && !r.endsWith("impact"));
      expect(firstOther).toBeGreaterThan(0);
      expect(tableRows.slice(firstOther).some((r) => r.endsWith("~ impact") || r.startsWith("impact ~"))).toBe(false);
      // Its p-values in one format: two significant digits, below 0.001 as 1.2e-5.
      const pCells = await page.$$eval("#indicators table tr", (r) => r.slice(1).flatMap((x) => [3, 5].map((i) => x.querySelectorAll("td")[i]?.textContent ?? "")));
      expect(pCells.length).toBeGreaterThan(0);
      for (const p of pCells) expect(p).toMatch(/^(n\/a|0\.\d*[1-9]\d?|1\.0|\d\.\de-\d+)$/);

      // The pair split's legend says what its blue part is (a report review: "(and the rest)" explained nothing).
      expect(await page.$$eval("#pairs [class$='-swatch']", (t) => t.map((x) => (x.textContent ?? "").trim()))).toEqual(["lost also to either unit alone, less images gained", "lost only jointly (redundant)"]);

      // The selectivity list names no unit below the minimum activity (or dead).
      const check = await page.evaluate(() => {
        const data = JSON.parse(document.getElementById("data")!.textContent!);
        const site = data.sites[0];
        const listed = (document.querySelector("#findings-list li[data-selective]") as HTMLElement).dataset.selective!.split(",").map(Number);
        return { listed, active: listed.map((u: number) => Math.round(site.indicators.fractionActive[u] * data.n)), min: site.minActive.samples, text: document.querySelector("#findings-list li[data-selective]")!.textContent };
      });
      expect(check.listed.length).toBeGreaterThan(0);
      for (const a of check.active) expect(a).toBeGreaterThanOrEqual(check.min);
      expect(check.text).toContain(`active on fewer than ${check.min} images`);
      // A gain is said as one, never as a negative cost.
      expect(check.text).not.toMatch(/costs that class [-−]/);
      // A pair's effect is said as singles' are, a cost (or a gain), never as a signed change; its redundancy in %.
      const pairsText = await page.evaluate(() => [...document.querySelectorAll("#findings-list li")].map((li) => li.textContent).find((t) => t!.startsWith("Most redundant pairs")) ?? "");
      // The definition once, then each pair with its redundancy and drop.
      expect(pairsText).toMatch(/^Most redundant pairs \(redundancy: of the images the network gets right, the share lost only when both units are ablated, not when either is alone, averaged over classes by their size\): \S+ \+ \S+ \(\d+\.\d\d %; ablating both (costs|raises accuracy by) \d+\.\d\d pp overall\)/);
      expect(pairsText.match(/averaged over classes/g)).toHaveLength(1);
      expect(pairsText).not.toMatch(/accuracy change/);
      // This MLP's ties all settle in float64: no warning on the page.
      expect(await page.$$eval("p.warning", (w) => w.length)).toBe(0);

      // Every figure has SVG, PNG and CSV downloads that produce the real files.
      expect(await page.$$eval("figure.figure", (f) => f.every((x) => x.querySelectorAll(":scope > .exports button").length === 3))).toBe(true);
      const fetchDownload = async (selector: string) => {
        const [download] = await Promise.all([page.waitForEvent("download"), page.click(selector)]);
        const path = join(ARTEFACTS, download.suggestedFilename());
        mkdirSync(ARTEFACTS, { recursive: true });
        await download.saveAs(path);
        return { name: download.suggestedFilename(), bytes: readFileSync(path) };
      };
      const svg = await fetchDownload('#ablation figure:first-of-type button[data-export="svg"]');
      expect(svg.name).toBe("fc1-ablation.svg");
      const svgText = svg.bytes.toString("utf8");
      expect(svgText.startsWith("<svg")).toBe(true);
      expect(svgText).toContain("accuracy drop");
      expect((svgText.match(/<rect/g) ?? []).length).toBeGreaterThanOrEqual(12 * 4);
      const png = await fetchDownload('#ablation figure:first-of-type button[data-export="png"]');
      expect(png.name).toBe("fc1-ablation.png");
      expect(Array.from(png.bytes.subarray(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      expect(png.bytes.readUInt32BE(16)).toBeGreaterThan(600); // width (2× the drawing)
      const csv = await fetchDownload('#ablation figure:first-of-type button[data-export="csv"]');
      const csvLines = csv.bytes.toString("utf8").trimEnd().split("\n");
      expect(csvLines[0]).toBe("site,unit,class,drop");
      expect(csvLines).toHaveLength(1 + 12 * 4);

      // The stimulus map is coloured by class by default, and its conditions follow the site selector.
      expect(await page.$eval("#condition", (s) => (s as HTMLSelectElement).value)).toBe("");
      expect(await page.$$eval("#stimuli figure [class$='-swatch']", (t) => t.map((x) => (x.textContent ?? "").trim()))).toEqual(["0", "1", "2", "3"]);
      // Islands or not is measured: the caption gives the nearest-neighbour agreement and chance's.
      expect(await page.$eval("#stimuli figure", (f) => f.textContent ?? "")).toMatch(/\d+ % of the images have their nearest neighbour on the map in their own class \(\d+ % by chance\): the classes (form islands|mix)/);
      const fc1Options = await page.$$eval("#condition option", (o) => o.map((x) => (x as HTMLOptionElement).value).filter((v) => v !== ""));
      expect(fc1Options.length).toBeGreaterThanOrEqual(12);
      expect(fc1Options.every((v) => v.startsWith("fc1/"))).toBe(true);
      // Its entries name units as the findings do, with what they cost, never a condition id with a signed change
      // (a report review: "fc3/zero/19 (−0.34 pp)" beside the findings' "fc3:19 (0.34 pp overall)").
      const fc1Labels = await page.$$eval("#condition option", (o) => o.filter((x) => (x as HTMLOptionElement).value !== "").map((x) => x.textContent ?? ""));
      for (const label of fc1Labels) expect(label).toMatch(/^fc1:\d+( \+ fc1:\d+)? \(\d+\.\d\d pp (drop|gain)\)$/);
      const single = await page.evaluate(() => {
        const data = JSON.parse(document.getElementById("data")!.textContent!);
        return data.map.conditions.find((c: { id: string }) => c.id === "fc1/zero/0");
      });
      expect(fc1Labels).toContain(`fc1:0 (${single.delta <= 0 ? `${(-100 * single.delta).toFixed(2)} pp drop` : `${(100 * single.delta).toFixed(2)} pp gain`})`);
      // The populations ablated as groups are drops, as the single-unit heatmap's (red: a loss on both).
      const populations = await page.$eval("#populations", (f) => f.textContent ?? "");
      expect(populations).toContain("accuracy drop");
      expect(populations).not.toMatch(/accuracy change/);
      // The map's population legend names only populations it draws.
      const populationLegend = await page.$$eval("#populations figure:first-of-type [class$='-swatch']", (t) => t.map((x) => (x.textContent ?? "").trim()));
      const drawn = await page.evaluate(() => {
        const site = JSON.parse(document.getElementById("data")!.textContent!).sites[0];
        return [...new Set(site.embedding.points.flatMap(([x]: [number | null], u: number) => (x === null ? [] : [site.population[u] < 0 ? "dead" : "P" + site.population[u]])))].sort();
      });
      expect([...populationLegend].sort()).toEqual(drawn);
      // The training curve names its test set (a test set other than the training data here).
      expect(await page.$eval("#training figure", (f) => f.textContent ?? "")).toContain("the mean training loss of each epoch and the accuracy on the test set bars:2 after it.");
      // Recovery: integer epoch ticks in both plots (overall, per class) and a legend that draws each overall line's
      // style, the control in a colour no class has (it had been class 0's blue, under ten class lines).
      const epochTicks = await page.$$eval('#recovery svg g[aria-label="x-axis tick label"] text', (t) => t.map((x) => x.textContent));
      expect(epochTicks).toEqual(["0", "1", "2", "0", "1", "2"]);
      const lineLegend = await page.$$eval("#recovery .line-legend > span", (items) => items.map((i) => [i.textContent, i.querySelector("line")!.getAttribute("stroke"), i.querySelector("line")!.getAttribute("stroke-dasharray")]));
      expect(lineLegend).toEqual([["ablated, then retrained", "black", null], ["intact network", "#777", "4 3"], ["intact retrained (control)", "#d95f02", "1 3"]]);
      const recovery = await page.$eval("#recovery figure", (f) => f.textContent ?? "");
      expect(recovery).toMatch(/the intact network retrained with the same budget went from \d+\.\d\d% to \d+\.\d\d%/);
      // Which images it retrained on and was measured on (helper trial 'newuser67' could not tell).
      expect(recovery).toMatch(/ on \S+ \(\d+ images\), accuracies measured on \S+ \(\d+ images\)\. First, overall accuracy/);
      // A class retraining left below the damaged network is named with both accuracies (the overall line hides it).
      const worse = await page.evaluate(() => {
        const r = JSON.parse(document.getElementById("data")!.textContent!).recovery;
        const last = r.epochs[r.epochs.length - 1];
        return r.ablated.perClass.flatMap((a: number | null, c: number) => (a !== null && last.perClass[c] !== null && last.perClass[c] < a ? [[c, (100 * a).toFixed(2), (100 * last.perClass[c]).toFixed(2)]] : []));
      });
      if (worse.length === 0) expect(recovery).not.toContain("negative recovery");
      else expect(recovery).toContain("Retraining left " + worse.map(([c, a, b]: [number, string, string]) => `class ${c} (${a}% → ${b}%)`).join(", ") + " below the damaged network");
      // Canvas figures (first-layer weights) export too: the SVG embeds the tiles as an image.
      const weights = await fetchDownload('#weights button[data-export="svg"]');
      expect(weights.bytes.toString("utf8")).toMatch(/<image [^>]*href="data:image\/png;base64,/);
      // A weight tile is red where the weight is positive and blue where negative, as the signed heatmaps draw values
      // above and below 0 (a report review found them the other way round).
      const tile = await page.evaluate(() => {
        const site = JSON.parse(document.getElementById("data")!.textContent!).sites[0];
        const values: number[] = site.weights.values[site.order[0]];
        const canvas = document.querySelector("#weights canvas") as HTMLCanvasElement;
        const pixels = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height).data;
        const rgb = (p: number) => [pixels[4 * p], pixels[4 * p + 1], pixels[4 * p + 2]];
        return { top: rgb(values.indexOf(Math.max(...values))), bottom: rgb(values.indexOf(Math.min(...values))), signs: [Math.max(...values) > 0, Math.min(...values) < 0] };
      });
      expect(tile.signs).toEqual([true, true]);
      expect(tile.top).toEqual([255, 0, 0]);
      expect(tile.bottom[2]).toBe(255);
      expect(tile.bottom[0]).toBeLessThan(255);
      const weightsPng = await fetchDownload('#weights button[data-export="png"]');
      expect(Array.from(weightsPng.bytes.subarray(0, 4))).toEqual([0x89, 0x50, 0x4e, 0x47]);

      // Switching site and condition redraws without errors.
      await page.selectOption("#site", "fc2");
      const fc2Options = await page.$$eval("#condition option", (o) => o.map((x) => (x as HTMLOptionElement).value).filter((v) => v !== ""));
      expect(fc2Options.every((v) => v.startsWith("fc2/"))).toBe(true);
      await page.selectOption("#condition", { index: 1 });
      // Coloured by a condition's outcome, the classes' colours are gone: where the classes form islands each keeps its
      // name, at its island's median point (a trial: no class could be told apart).
      const mapCaption = await page.$eval("#stimuli figure", (f) => f.textContent ?? "");
      const names = await page.$$eval("#stimuli g.class-name text", (t) => t.map((x) => x.textContent));
      expect(names).toEqual(mapCaption.includes("the classes form islands") ? ["0", "1", "2", "3"] : []);
      expect(mapCaption.includes("the classes form islands")).toBe(true);
      expect(errors).toEqual([]);
      expect(await page.$$eval("svg text", (t) => t.filter((x) => x.textContent === "⚠").length)).toBe(0);
      expect(requests.filter((u) => !u.startsWith("file://") && !u.startsWith("blob:") && !u.startsWith("data:"))).toEqual([]);
      mkdirSync(ARTEFACTS, { recursive: true });
      await page.selectOption("#site", "fc1");
      for (const s of sections) await (await page.$(`#${s.id}`))!.screenshot({ path: join(ARTEFACTS, `${s.id}.png`) });
      expect(readdirSync(ARTEFACTS).filter((f) => f.endsWith(".png") && !f.startsWith("fc1-")).length).toBe(sections.length);
    } finally {
      await browser.close();
    }
  }, 180_000);

  it("buildReport(dir) links explorer.html when the study directory holds one, and says how to make it otherwise", () => {
    const before = readFileSync(join(dir, "report.html"), "utf8");
    expect(before).not.toContain('href="explorer.html"');
    // The command names this study's model and directory (it had said MODEL and DIR: a trial had to find the model).
    expect(before).toContain(`lesion explore ${join(dir, "..", "model.onnx")} --data bars:2 -o ${join(dir, "explorer.html")}`);
    writeFileSync(join(dir, "explorer.html"), "<!doctype html>");
    try {
      buildReport(dir);
      expect(readFileSync(join(dir, "report.html"), "utf8")).toContain('<a href="explorer.html">live explorer</a>');
    } finally {
      rmSync(join(dir, "explorer.html"));
      buildReport(dir);
    }
  });
});

describe("buildReport on damaged files", () => {
  it("a truncated study.json, a step summary that is no JSON, or a study.json of another shape: bad-data in one line, naming the file", () => {
    const damaged = (name: string, file: string, text: string) => {
      const copy = join(dir, "..", name);
      cpSync(dir, copy, { recursive: true });
      writeFileSync(join(copy, file), text);
      return copy;
    };
    const truncated = damaged("truncated", "study.json", readFileSync(join(dir, "study.json"), "utf8").slice(0, 40));
    expect(() => buildReport(truncated)).toThrow(expect.objectContaining({ code: "bad-data", details: { path: join(truncated, "study.json") } }));
    const garbage = damaged("garbage", join("singles", "summary.json"), "garbage ");
    expect(() => buildReport(garbage)).toThrow(new RegExp(`^${join(garbage, "singles", "summary.json").replace(/[.]/g, "\\.")} is not valid JSON`));
    const shape = damaged("shape", "study.json", "[]");
    expect(() => buildReport(shape)).toThrow(expect.objectContaining({ code: "bad-data", details: { path: shape } }));
  });

  // A trial's study killed during characterize was told it had "no finished eval, singles or characterize step".
  it("a study stopped before characterize finished: missing-file naming that step alone", () => {
    const stopped = join(dir, "..", "stopped");
    cpSync(dir, stopped, { recursive: true });
    rmSync(join(stopped, "characterize", "summary.json"));
    expect(() => buildReport(stopped)).toThrow(expect.objectContaining({ code: "missing-file", message: `${stopped}: the study's characterize step, which the report is built on, did not finish; rerun the same lesion study to finish it (it resumes)` }));
  });
});

describe("classAgreement", () => {
  it("classAgreement(points): two clusters agree fully, an alternating line not at all; chance is Σ n_c(n_c − 1) / n(n − 1)", () => {
    expect(classAgreement([[0, 0, 0], [0, 1, 0], [10, 0, 1], [10, 1, 1]])).toEqual({ same: 1, chance: 4 / 12 });
    // Each point's nearest neighbours (ties to the first) are of the other class.
    expect(classAgreement([[0, 0, 0], [1, 0, 1], [2, 0, 0], [3, 0, 1]])).toEqual({ same: 0, chance: 4 / 12 });
    // Three of class 0 together, one of class 1 beside them: the three agree, the one does not; chance (3·2 + 0) / (4·3).
    expect(classAgreement([[0, 0, 0], [0, 1, 0], [0, 2, 0], [0, 3.5, 1]])).toEqual({ same: 0.75, chance: 0.5 });
    expect(classAgreement([[0, 0, 0]])).toEqual({ same: 0, chance: 0 });
  });
});
