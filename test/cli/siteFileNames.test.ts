/**
 * Site names that make the same file name. A trial renamed a model's layers `a/b` and `a_b`: both sites' files were
 * written as a_b.csv (and a_b.class_means.npy), one overwriting the other, with nothing said; a site `..\x` was
 * written as the hidden `.._x.csv`.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parseNpy } from "../../src/data/npy.js";
import { buildClassifier, type LayerSpec } from "../../src/onnx/build.js";
import { writeMetadata } from "../../src/onnx/metadata.js";
import { encodeModel } from "../../src/onnx/proto.js";
import { encodeNpy } from "../../src/runs/npy.js";
import { fileStems } from "../../src/runs/resultDir.js";
import { random, randomArray } from "../helpers.js";
import { runLesion } from "../lesionCli.js";

let dir = "";
const data = "npy:x.npy,y.npy";
const hash8 = (name: string) => createHash("sha256").update(name).digest("hex").slice(0, 8);

const lesion = (...args: string[]) => runLesion(args, { cwd: dir, cache: join(dir, "cache") });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "lesion-stems-"));
  const rand = random(3);
  const sizes = [16, 6, 5, 4, 3];
  const names = ["a/b", "a_b", "..\\x"];
  const layers: LayerSpec[] = [];
  for (let i = 1; i < sizes.length; i++) {
    layers.push({ op: "linear", name: names[i - 1] ?? "out", weight: randomArray(sizes[i] * sizes[i - 1], rand, 0.8), shape: [sizes[i], sizes[i - 1]], bias: randomArray(sizes[i], rand, 0.2) });
    if (i < sizes.length - 1) layers.push({ op: "relu" });
  }
  const model = buildClassifier({ layers, inputShape: [16] });
  writeMetadata(model, { preprocessing: { layout: "flat", mean: [0.5], std: [0.5], imageShape: [1, 4, 4] }, classNames: null });
  writeFileSync(join(dir, "m.onnx"), encodeModel(model));
  const n = 90;
  writeFileSync(join(dir, "x.npy"), encodeNpy(Float32Array.from({ length: n * 16 }, () => rand()), [n, 1, 4, 4]));
  writeFileSync(join(dir, "y.npy"), encodeNpy(Int32Array.from({ length: n }, (_, i) => i % 3), [n]));
});

describe("site names that make the same file name", () => {
  it("fileStems: names that would meet get their SHA-256's first 8 hex digits; a leading dot is no hidden file", () => {
    const stems = fileStems(["a/b", "a_b", "..\\x", "fc1", "layer3.0.relu"]);
    expect(Object.fromEntries(stems)).toEqual({ "a/b": `a_b-${hash8("a/b")}`, a_b: `a_b-${hash8("a_b")}`, "..\\x": "_._x", fc1: "fc1", "layer3.0.relu": "layer3.0.relu" });
  });

  it("lesion ablate and record write each site's files apart, each holding its own site's rows", () => {
    expect(lesion("info", "m.onnx", "--json").stdout).toMatch(/"a\/b"[\s\S]*"a_b"/);
    const ablated = lesion("ablate", "m.onnx", "--data", data, "--site", "a/b,a_b,..\\x", "--units", "all", "-o", "abl");
    expect(ablated.stderr).toBe("");
    expect(ablated.status).toBe(0);
    const csvs = readdirSync(join(dir, "abl")).filter((f) => f.endsWith(".csv")).sort();
    expect(csvs).toEqual([`_._x.csv`, `a_b-${hash8("a/b")}.csv`, `a_b-${hash8("a_b")}.csv`].sort());
    const sitesIn = (file: string) => [...new Set(readFileSync(join(dir, "abl", file), "utf8").trimEnd().split("\n").slice(1).map((line) => line.split(",")[1]))];
    expect(sitesIn(`a_b-${hash8("a/b")}.csv`)).toEqual(["a/b"]);
    expect(sitesIn(`a_b-${hash8("a_b")}.csv`)).toEqual(["a_b"]);
    const summary = JSON.parse(readFileSync(join(dir, "abl", "summary.json"), "utf8"));
    expect(new Set(summary.files).size).toBe(summary.files.length);

    expect(lesion("record", "m.onnx", "--data", data, "-o", "rec").status).toBe(0);
    const recorded = JSON.parse(readFileSync(join(dir, "rec", "summary.json"), "utf8"));
    for (const site of ["a/b", "a_b", "..\\x"]) {
      const [, npy] = recorded.files[site] as string[];
      const entry = recorded.sites.find((s: { site: string }) => s.site === site);
      const means = parseNpy(readFileSync(join(dir, "rec", npy)), npy);
      expect(means.shape).toEqual([3, entry.units]);
      expect(Array.from(new Float64Array(Uint8Array.from(means.data).buffer))).toEqual(entry.classMeans.data);
    }
    const recordFiles = Object.values(recorded.files).flat();
    expect(new Set(recordFiles).size).toBe(recordFiles.length);
  });

  it("lesion study keeps a pairs step per site and its report draws both", () => {
    const run = lesion("study", "m.onnx", "--data", data, "-o", "st");
    expect(run.status, run.stderr).toBe(0);
    for (const site of ["a/b", "a_b"]) {
      const step = join(dir, "st", `pairs-a_b-${hash8(site)}`);
      expect(existsSync(join(step, "summary.json")), site).toBe(true);
      expect(JSON.parse(readFileSync(join(step, "summary.json"), "utf8")).site).toBe(site);
    }
    // The report finds each site's pairs step by the same stems.
    const html = readFileSync(join(dir, "st", "report.html"), "utf8");
    const page = JSON.parse(/<script type="application\/json" id="data">([\s\S]*?)<\/script>/.exec(html)![1]);
    const pairsOf = (name: string) => page.sites.find((s: { name: string }) => s.name === name).pairs;
    expect([pairsOf("a/b")?.length, pairsOf("a_b")?.length]).toEqual([15, 10]);
  });
});
