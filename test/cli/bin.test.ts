/** The `lesion` bin as a user runs it: one stderr line and exit code 1 on bad input, nothing written; results on disk. */
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { parseNpy } from "../../src/data/npy.js";
import { encodeNpy } from "../../src/runs/npy.js";
import { random, randomMlp } from "../helpers.js";
import { loadDataset } from "../../src/data/loadDataset.js";
import { closeModel, openModel, resolveSite } from "../../src/engine/model.js";
import { decodeModel, encodeModel } from "../../src/onnx/proto.js";
import { ablate } from "../../src/study/ablate.js";
import { pairs } from "../../src/study/conditions.js";
import { BIN, runLesion } from "../lesionCli.js";

let dir = "";
let model = "";
let data = "";

const lesion = (...args: string[]) => runLesion(args, { cwd: dir, cache: join(dir, "cache") });

/** n samples of [1,4,4] pixels in [0,1] and labels 0..classes−1, as two .npy files; returns the data spec. */
function writeData(name: string, n: number, classes: number, shape = [1, 4, 4], labelShift = 0): string {
  const rand = random(n + classes);
  const size = shape.reduce((a, b) => a * b, 1);
  const images = Float32Array.from({ length: n * size }, () => rand());
  const labels = Int32Array.from({ length: n }, (_, i) => (i % classes) + labelShift);
  writeFileSync(join(dir, `${name}.images.npy`), encodeNpy(images, [n, ...shape]));
  writeFileSync(join(dir, `${name}.labels.npy`), encodeNpy(labels, [n]));
  return `npy:${name}.images.npy,${name}.labels.npy`;
}

function expectOneLineError(run: ReturnType<typeof lesion>, text: string | RegExp): void {
  expect(run.status).toBe(1);
  expect(run.stdout).toBe("");
  const lines = run.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^lesion: /);
  expect(lines[0]).toMatch(text);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "lesion-bin-"));
  model = "mlp.onnx";
  writeFileSync(join(dir, model), randomMlp([16, 12, 8, 3], 5, [1, 4, 4]));
  data = writeData("d", 300, 3);
});

describe("lesion (bin)", () => {
  it("lesion info MODEL --json lists sites", () => {
    const run = lesion("info", model, "--json");
    expect(run.status).toBe(0);
    const info = JSON.parse(run.stdout);
    expect(info.sites.map((s: { name: string }) => s.name)).toEqual(["fc1", "fc2", "fc3"]);
  });

  it("lesion info on a missing file or a non-ONNX file: one line, exit 1", () => {
    expectOneLineError(lesion("info", "nope.onnx"), /not found: nope\.onnx/);
    writeFileSync(join(dir, "junk.onnx"), "this is not a model");
    expectOneLineError(lesion("info", "junk.onnx"), /^lesion: junk\.onnx is not an ONNX model \(/);
    // Named as a checkpoint would be, it is neither (helper trial 'newuser46': a text file renamed .pt).
    writeFileSync(join(dir, "notes.pt"), "this is not a model");
    expectOneLineError(lesion("eval", "notes.pt", "--data", "mnist:test"), /^lesion: notes\.pt is neither an ONNX model nor a PyTorch checkpoint \(/);
    // A missing input of `import` may be either.
    expectOneLineError(lesion("import", "nope.pt", "--arch", "mlp", "-o", "x.onnx"), /^lesion: model or checkpoint not found: nope\.pt$/);
  });

  it("lesion eval with an unknown data spec or data of the wrong shape: one line, exit 1", () => {
    expectOneLineError(lesion("eval", model, "--data", "minst"), /unknown data spec 'minst'/);
    const wide = writeData("wide", 10, 3, [1, 5, 5]);
    expect(lesion("eval", model, "--data", wide).stderr).toBe(`lesion: model mlp.onnx takes inputs of shape 16 (images 1x4x4) but data ${wide} has 1x5x5 images\n`);
    expectOneLineError(lesion("eval", model, "--data", wide), "takes inputs of shape 16");
  });

  it("lesion eval with labels out of range: one line, exit 1", () => {
    // Labels (i mod 3) + 1: sample 2 is the first with label 3, beyond the model's classes 0..2.
    expectOneLineError(lesion("eval", model, "--data", writeData("shifted", 10, 3, [1, 4, 4], 1)), "lesion: label 3 of sample 2 in npy:shifted.images.npy,shifted.labels.npy is out of range for model mlp.onnx (0..2)");
  });

  it("lesion ablate with an unknown site, a unit out of range, an empty groups file, a bad fraction: one line each, nothing written", () => {
    const out = join(dir, "never");
    expectOneLineError(lesion("ablate", model, "--data", data, "--site", "fc9", "-o", out), /unknown site 'fc9'.*fc1/);
    expectOneLineError(lesion("ablate", model, "--data", data, "--site", "fc1", "--units", "120", "-o", out), "unit 120 is out of range for site fc1 (0..11)");
    writeFileSync(join(dir, "empty.json"), "{}");
    expectOneLineError(lesion("ablate", model, "--data", data, "--site", "fc1", "--units", "@empty.json", "-o", out), /has no groups/);
    expectOneLineError(lesion("ablate", model, "--data", data, "--site", "fc1", "--fraction", "0.5,1.5", "-o", out), /fraction 1\.5 is outside \(0, 1\]/);
    expect(existsSync(out)).toBe(false);
  });

  it("lesion ablate --units @<(…) reads its groups from a pipe (a trial's was refused as 'not a file'), as from the same file", () => {
    writeFileSync(join(dir, "two.json"), '{"a":[3,4]}');
    const piped = spawnSync("bash", ["-c", `"${process.execPath}" "${BIN}" ablate ${model} --data ${data} --site fc1 --units @<(cat two.json) --json -o piped`], { cwd: dir, encoding: "utf8", env: { ...process.env, LESION_CACHE_DIR: join(dir, "cache") } });
    expect(piped.status, piped.stderr).toBe(0);
    const fromFile = lesion("ablate", model, "--data", data, "--site", "fc1", "--units", "@two.json", "--json", "-o", "filed");
    expect(fromFile.status, fromFile.stderr).toBe(0);
    const conditions = (dir: string) => JSON.parse(readFileSync(join(dir, "summary.json"), "utf8")).conditions.map((c: { id: string; accuracy: number }) => [c.id, c.accuracy]);
    expect(conditions(join(dir, "piped"))).toEqual(conditions(join(dir, "filed")));
    expect(conditions(join(dir, "piped"))[0][0]).toBe("fc1/zero/3+4@a");
  });

  it("lesion ablate --units pairs at the last hidden layer on 200 samples: the loss's worker path (compiled) equals the library's in-place one", async () => {
    // 14 units at fc2 (91 pairs, enough for worker threads) on fewer samples than one worker's share: this crashed.
    writeFileSync(join(dir, "wide.onnx"), randomMlp([16, 8, 14, 3], 4, [1, 4, 4]));
    const small = writeData("small", 200, 3);
    const out = join(dir, "small-pairs");
    const run = lesion("ablate", "wide.onnx", "--data", small, "--site", "fc2", "--units", "pairs", "-o", out);
    expect(run.status, run.stderr).toBe(0);
    const got = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")).conditions as Array<{ id: string; accuracy: number; loss: number }>;
    const model = await openModel(join(dir, "wide.onnx"));
    try {
      const dataset = await loadDataset(`npy:${join(dir, "small.images.npy")},${join(dir, "small.labels.npy")}`);
      const want = await ablate(model, dataset, { conditions: pairs(resolveSite(model, "fc2"), "zero"), loss: true });
      expect(got.map((c) => c.id)).toEqual(want.conditions.map((c) => c.id));
      got.forEach((c, i) => {
        expect(c.accuracy).toBe(want.conditions[i].accuracy);
        expect(Math.abs(c.loss - want.conditions[i].loss!)).toBeLessThanOrEqual(1e-9 * Math.abs(want.conditions[i].loss!));
      });
    } finally {
      await closeModel(model);
    }
  });

  it("an output path that is a directory or a device is refused before any work: the device stays a device", () => {
    mkdirSync(join(dir, "a-dir"), { recursive: true });
    expectOneLineError(lesion("train", "--arch", "mlp:16-8-3", "--data", data, "--epochs", "50", "-o", "a-dir", "--overwrite"), "lesion: cannot write a-dir: it is a directory");
    expect(existsSync(join(dir, "a-dir.initial.onnx"))).toBe(false);
    // A device node of our own (as /dev/null is): the atomic rename would have replaced it with a regular file.
    const device = join(dir, "null-device");
    if (spawnSync("mknod", [device, "c", "1", "3"]).status === 0) {
      expectOneLineError(lesion("import", model, "-o", device), /^lesion: cannot write .*null-device: it is a device, not a file/);
      expect(statSync(device).isCharacterDevice()).toBe(true);
    }
  });

  it("a model whose tensor claims more values than it holds: one line naming the tensor, exit 1", () => {
    const proto = decodeModel(readFileSync(join(dir, model)));
    const bias = proto.graph!.initializer!.find((t) => t.name === "fc1.bias")!;
    bias.dims = [1e12];
    writeFileSync(join(dir, "huge.onnx"), encodeModel(proto));
    expectOneLineError(lesion("info", "huge.onnx"), "lesion: huge.onnx is damaged: tensor fc1.bias claims dims [1000000000000] (1000000000000 values) but holds 12");
  });

  it("NaN weights: characterize and study refuse in one line before writing anything; ablate warns and runs", () => {
    const proto = decodeModel(readFileSync(join(dir, model)));
    const weight = proto.graph!.initializer!.find((t) => t.name === "fc1.weight")!;
    const values = new Float32Array(new Uint8Array(weight.rawData!).slice().buffer);
    values[5] = Number.NaN;
    weight.rawData = new Uint8Array(values.buffer);
    writeFileSync(join(dir, "nan.onnx"), encodeModel(proto));
    const refusal = "lesion: nan.onnx has NaN or infinite weights (fc1.weight): ";
    expectOneLineError(lesion("characterize", "nan.onnx", "--data", data, "--no-map", "-o", "nan-characterize"), `${refusal}clustering units into populations needs finite activations`);
    expectOneLineError(lesion("study", "nan.onnx", "--data", data, "-o", "nan-study"), `${refusal}a study (its populations) needs finite activations`);
    expect(existsSync(join(dir, "nan-characterize")) || existsSync(join(dir, "nan-study"))).toBe(false);
    const ablated = lesion("ablate", "nan.onnx", "--data", data, "--site", "fc2", "--units", "0", "-o", "nan-ablate");
    expect(ablated.status).toBe(0);
    expect(ablated.stderr).toContain("weight fc1.weight has 1 non-finite value");
  });

  it("lesion study with an initial model of other shapes: refused before any step runs", () => {
    writeFileSync(join(dir, "other-initial.onnx"), randomMlp([16, 10, 8, 3], 9, [1, 4, 4]));
    expectOneLineError(lesion("study", model, "--data", data, "--initial", "other-initial.onnx", "-o", "mismatch-study"), "lesion: weight fc1.weight is 10x16 in the initial model other-initial.onnx but 12x16 in the trained one");
    expect(existsSync(join(dir, "mismatch-study"))).toBe(false);
    // An initial model whose weight has another name (an export that folded BatchNorm renames it): the fix is said.
    const renamed = decodeModel(readFileSync(join(dir, model)));
    for (const tensor of renamed.graph!.initializer!) if (tensor.name === "fc1.weight") tensor.name = "onnx::Gemm_7";
    for (const node of renamed.graph!.node!) node.input = node.input!.map((name) => (name === "fc1.weight" ? "onnx::Gemm_7" : name));
    writeFileSync(join(dir, "renamed-initial.onnx"), encodeModel(renamed));
    expectOneLineError(lesion("study", model, "--data", data, "--initial", "renamed-initial.onnx", "-o", "mismatch-study"), /^lesion: the initial model renamed-initial\.onnx has no layer with weight fc1\.weight \(site fc1's\): make both files the same way \(torch\.onnx\.export of both in eval mode/);
  });

  it("a study's directory and one command's never mix: ablate (even with --overwrite) refuses a study's, study an ablation's", () => {
    mkdirSync(join(dir, "a-study"), { recursive: true });
    writeFileSync(join(dir, "a-study", "study.json"), "{}");
    for (const extra of [[], ["--overwrite"]]) {
      expectOneLineError(lesion("ablate", model, "--data", data, "--site", "fc1", "--units", "0", "-o", "a-study", ...extra), "lesion: a-study holds a lesion study; choose another output directory");
    }
    expect(readdirSync(join(dir, "a-study"))).toEqual(["study.json"]);
    expect(lesion("ablate", model, "--data", data, "--site", "fc1", "--units", "0", "-o", "an-ablation").status).toBe(0);
    const before = readdirSync(join(dir, "an-ablation")).sort();
    expectOneLineError(lesion("study", model, "--data", data, "-o", "an-ablation"), "lesion: an-ablation holds the results of `lesion ablate`, not a study; choose another output directory");
    expect(readdirSync(join(dir, "an-ablation")).sort()).toEqual(before);
    // Nor are one run's files put loose beside other runs' directories (`-o out` after `-o out/fc1-pairs`).
    expect(lesion("ablate", model, "--data", data, "--site", "fc1", "--units", "1", "-o", join("runs", "fc1-1")).status).toBe(0);
    expectOneLineError(lesion("ablate", model, "--data", data, "--site", "fc1", "--units", "2", "-o", "runs"), "lesion: runs holds the directories of other lesion runs (fc1-1); give this run a directory of its own (e.g. runs/ablate)");
    expect(readdirSync(join(dir, "runs"))).toEqual(["fc1-1"]);
  });

  it("lesion ablate --fraction: the CSV has the steps' fraction, order and repeat as columns, the summary each step's sequence", () => {
    const out = join(dir, "fraction");
    const run = lesion("ablate", model, "--data", data, "--site", "fc1", "--fraction", "0.5,1", "--repeats", "2", "-o", out);
    expect(run.status, run.stderr).toBe(0);
    // The console shows each curve: its accuracy at each fraction, one line per order and repeat.
    expect(run.stdout.trimEnd().split("\n").slice(1).map((line) => line.replace(/\d+\.\d\d%/g, "P"))).toEqual(["  fc1 random #1  0.5 P, 1 P", "  fc1 random #2  0.5 P, 1 P"]);
    const [header, ...rows] = readFileSync(join(out, "fc1.csv"), "utf8").trim().split("\n").map((line) => line.split(","));
    expect(header.slice(0, 9)).toEqual(["id", "site", "units", "mode", "label", "fraction", "order", "repeat", "accuracy"]);
    expect(rows.map((r) => r.slice(5, 8))).toEqual([["0.5", "random", "1"], ["1.0", "random", "1"], ["0.5", "random", "2"], ["1.0", "random", "2"]]);
    const steps = JSON.parse(readFileSync(join(out, "summary.json"), "utf8")).conditions.map((c: { cumulative: { sequence: number[] } }) => c.cumulative.sequence);
    expect(steps.map((s: number[]) => s.length)).toEqual([6, 12, 6, 12]);
    expect(steps[1].slice(0, 6)).toEqual(steps[0]);
  });

  it("lesion ablate --units pairs writes summary.json, a CSV per site and .npy files; --json prints the summary", () => {
    const out = join(dir, "pairs");
    const run = lesion("ablate", model, "--data", data, "--site", "fc2", "--units", "pairs", "-o", out, "--json");
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["changes.npy", "fc2.csv", "labels.npy", "per_class.npy", "predictions.npy", "redundancy.npy", "run.json", "summary.json"]);
    // The data's labels beside the predictions: writeData's i mod 3.
    const labels = parseNpy(readFileSync(join(out, "labels.npy")), "labels.npy");
    expect([labels.descr, labels.shape]).toEqual(["<i4", [300]]);
    expect(Array.from(new Int32Array(Uint8Array.from(labels.data).buffer))).toEqual(Array.from({ length: 300 }, (_, i) => i % 3));
    const summary = JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));
    expect(JSON.parse(run.stdout)).toEqual(summary);
    expect(summary.site).toBe("fc2");
    expect(summary.mode).toBe("zero");
    expect(summary.conditions).toHaveLength(28);
    expect(summary.baseline.perClass).toHaveLength(3);
    for (const c of summary.conditions) {
      expect(c.units).toHaveLength(2);
      expect(c.accuracy).toBeGreaterThanOrEqual(0);
      expect(c.accuracy).toBeLessThanOrEqual(1);
      // The overall redundancy; per class in redundancy.npy.
      expect(c.redundancy).toBeGreaterThanOrEqual(0);
      // The bootstrap interval of the change (deltaIntervals) brackets the change itself.
      expect(c.deltaCi[0]).toBeLessThanOrEqual(c.delta);
      expect(c.deltaCi[1]).toBeGreaterThanOrEqual(c.delta);
    }
    expect(summary.deltaCi).toEqual({ method: "bootstrap-exact", level: 0.95 });
    const csv = readFileSync(join(out, "fc2.csv"), "utf8").trimEnd().split("\n");
    expect(csv).toHaveLength(29);
    expect(csv[0].startsWith("id,site,units,mode,label,accuracy,delta,delta_ci_low,delta_ci_high,lost,gained,loss,redundancy,accuracy_0")).toBe(true);
  });

  it("lesion ablate --site fc1,fc2 --units all --pairs fc2 (singles and pairs in one run) equals the separate runs; --pairs with --fraction is refused", () => {
    const run = (out: string, ...args: string[]) => {
      const result = lesion("ablate", model, "--data", data, ...args, "-o", join(dir, out), "--json");
      expect(result.stderr).toBe("");
      expect(result.status).toBe(0);
      return JSON.parse(result.stdout) as { site: string; conditions: Array<{ id: string }> };
    };
    const together = run("standard", "--site", "fc1,fc2", "--units", "all", "--pairs", "fc2");
    const apart = [run("fc1-singles", "--site", "fc1", "--units", "all"), run("fc2-singles", "--site", "fc2", "--units", "all"), run("fc2-pairs", "--site", "fc2", "--units", "pairs")];
    expect(together.site).toBe("fc1,fc2");
    expect(together.conditions).toEqual(apart.flatMap((s) => s.conditions));
    expect(together.conditions).toHaveLength(12 + 8 + 28);
    expect(readdirSync(join(dir, "standard")).filter((f) => f.endsWith(".csv")).sort()).toEqual(["fc1.csv", "fc2.csv"]);
    // A site's pairs follow its singles, so the per-site CSVs concatenated in site order are summary.json's rows.
    const first = run("first", "--site", "fc1,fc2", "--units", "all", "--pairs", "fc1");
    const fc1Pairs = run("fc1-pairs", "--site", "fc1", "--units", "pairs");
    expect(first.conditions).toEqual([...apart[0].conditions, ...fc1Pairs.conditions, ...apart[1].conditions]);
    const csvIds = ["fc1", "fc2"].flatMap((s) => readFileSync(join(dir, "first", `${s}.csv`), "utf8").trim().split("\n").slice(1).map((line) => line.split(",")[0]));
    expect(csvIds).toEqual(first.conditions.map((c) => c.id));
    // A pair asked for twice (by --units pairs and --pairs) is one condition.
    expect(run("twice", "--site", "fc2", "--units", "pairs", "--pairs", "fc2").conditions).toHaveLength(28);
    expectOneLineError(lesion("ablate", model, "--data", data, "--site", "fc2", "--fraction", "0.5", "--pairs", "fc2", "-o", join(dir, "refused")), /--pairs cannot be combined with --fraction/);
    expect(existsSync(join(dir, "refused"))).toBe(false);
    expectOneLineError(lesion("ablate", model, "--data", data, "--site", "fc2", "--pairs", "fc9", "-o", join(dir, "refused")), "lesion: unknown site 'fc9' in mlp.onnx; closest: fc1, fc2, fc3 (all: fc1, fc2, fc3)");
  });

  it("a rerun of a finished run computes nothing (a file gone or --overwrite: computed again); --json prints its summary.json", () => {
    const out = join(dir, "again");
    const args = ["ablate", model, "--data", data, "--site", "fc2", "--units", "all", "-o", out];
    expect(lesion(...args).status).toBe(0);
    // A mark in summary.json stays while nothing is computed, and goes when the run writes its files again.
    const summaryPath = join(out, "summary.json");
    const mark = () => writeFileSync(summaryPath, JSON.stringify({ ...JSON.parse(readFileSync(summaryPath, "utf8")), marked: true }));
    const marked = () => JSON.parse(readFileSync(summaryPath, "utf8")).marked === true;
    mark();
    const rerun = lesion(...args);
    expect(rerun.status).toBe(0);
    expect(rerun.stdout.trim()).toBe(`${out} already holds this run's results (same model, data and options): nothing computed; --overwrite computes them again`);
    expect(marked()).toBe(true);
    const json = lesion(...args, "--json");
    expect(json.stderr).toBe("");
    expect(JSON.parse(json.stdout)).toEqual(JSON.parse(readFileSync(summaryPath, "utf8")));
    expect(lesion(...args, "--overwrite").stdout).not.toContain("already holds");
    expect(marked()).toBe(false);
    mark();
    rmSync(join(out, "per_class.npy"));
    expect(lesion(...args).stdout).not.toContain("already holds");
    expect(existsSync(join(out, "per_class.npy"))).toBe(true);
    expect(marked()).toBe(false);
    // Results another version of lesion wrote are computed again.
    const summary = JSON.parse(readFileSync(summaryPath, "utf8"));
    writeFileSync(summaryPath, JSON.stringify({ ...summary, marked: true, provenance: { ...summary.provenance, lesion: "0.0.1-older" } }));
    expect(lesion(...args).stdout).not.toContain("already holds");
    expect(marked()).toBe(false);
    // A record run too.
    const recordArgs = ["record", model, "--data", data, "-o", join(dir, "record-again")];
    expect(lesion(...recordArgs).status).toBe(0);
    expect(lesion(...recordArgs).stdout).toContain("already holds this run's results");
  });

  it("lesion import of a truncated .pt or a pickle that names a function: one line, exit 1, no model written", () => {
    const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/checkpoints/${name}`, import.meta.url));
    expectOneLineError(lesion("import", fixture("truncated.pt"), "--arch", "mlp", "-o", "t.onnx"), /truncated\.pt: truncated or corrupt checkpoint/);
    expectOneLineError(lesion("import", fixture("evil.pt"), "--arch", "mlp", "-o", "e.onnx"), /the pickle asks for (posix|os)\.system/);
    expect(existsSync(join(dir, "t.onnx")) || existsSync(join(dir, "e.onnx"))).toBe(false);
  });

  it("lesion import of a checkpoint writes a model that evaluates; lesion eval --json prints the keys of the issue", () => {
    const fixture = fileURLToPath(new URL("../fixtures/checkpoints/mlp_zip.pt", import.meta.url));
    const run = lesion("import", fixture, "--arch", "mlp", "--input-shape", "1x2x2", "--mean", "0.5", "--std", "0.5", "-o", "imported.onnx");
    expect(run.status).toBe(0);
    expect(run.stdout).toContain("wrote imported.onnx: sites fc1 (5), fc2 (3)");
    const evaluated = lesion("eval", "imported.onnx", "--data", writeData("four", 12, 3, [1, 2, 2]), "--json");
    expect(evaluated.status).toBe(0);
    const result = JSON.parse(evaluated.stdout);
    expect(Object.keys(result)).toEqual(expect.arrayContaining(["accuracy", "perClass", "n", "confusion"]));
    expect(result.n).toBe(12);
    expect(result.confusion.shape).toEqual([3, 3]);
  });

  it("lesion characterize writes an indicator table per site, correlations and embeddings; --json prints the summary", () => {
    const out = join(dir, "char");
    const run = lesion("characterize", model, "--data", data, "-o", out, "--json");
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(readdirSync(out).sort()).toEqual([
      "correlations.csv",
      ...["fc1", "fc2"].flatMap((s) => [`${s}.embedding_pca.npy`, `${s}.embedding_tsne.npy`, `${s}.embedding_umap.npy`, `${s}.impact_profile.npy`, `${s}.indicators.csv`, `${s}.populations.json`]),
      "run.json",
      "stimulus_map.npy",
      "stimulus_samples.npy",
      "summary.json",
    ]);
    const summary = JSON.parse(run.stdout);
    expect(summary.indicators.sites.map((s: { site: string }) => s.site)).toEqual(["fc1", "fc2"]);
    expect(summary.stimulusMap.coordinates.shape).toEqual([300, 2]);
    expect(readdirSync(join(dir, "cache", "stimulus-maps"))).toHaveLength(1);
    expect(readFileSync(join(out, "fc1.indicators.csv"), "utf8").trimEnd().split("\n")).toHaveLength(13);
    // Every population by name in a groups file `ablate --units @` takes (a trial had to build one from the summary):
    // ablated again from it, each one's change equals the population ablation characterize reported.
    const populations = JSON.parse(readFileSync(join(out, "fc1.populations.json"), "utf8")) as Record<string, number[]>;
    const fc1 = summary.populations.find((p: { site: string }) => p.site === "fc1");
    const expected = fc1.groupings.flatMap((g: { by: string; method: string; populations: Array<{ id: number; units: number[]; ablation: { delta: number } }> }) => g.populations.map((p) => [`${g.by} ${g.method} ${p.id}`, p.units, p.ablation.delta]));
    expect(Object.entries(populations)).toEqual(expected.map(([name, units]: [string, number[]]) => [name, units]));
    const again = lesion("ablate", model, "--data", data, "--site", "fc1", "--units", `@${join(out, "fc1.populations.json")}`, "--no-loss", "-o", join(dir, "char-again"), "--json");
    expect(again.status, again.stderr).toBe(0);
    const deltas = Object.fromEntries(JSON.parse(again.stdout).conditions.map((c: { label: string; delta: number }) => [c.label, c.delta]));
    for (const [name, , delta] of expected) expect(deltas[name], name).toBe(delta);
    expectOneLineError(lesion("characterize", model, "--data", data, "--initial", "nope.onnx", "-o", join(dir, "never2")), /not found: nope\.onnx/);
    expect(existsSync(join(dir, "never2"))).toBe(false);
  });

  it("lesion train and lesion recover on bad input: one line each, exit 1, nothing written", () => {
    expectOneLineError(lesion("train", "--arch", "densenet", "--data", data, "-o", "never.onnx"), /unknown architecture 'densenet'/);
    expectOneLineError(lesion("train", "--arch", "resnet", "--data", data, "-o", "never.onnx"), /`resnet` is read by import only/);
    expectOneLineError(lesion("train", "--arch", "mlp:16-8-3", "--data", data, "--optimizer", "rmsprop", "-o", "never.onnx"), /--optimizer must be sgd or adam/);
    expectOneLineError(lesion("recover", model, "--data", data, "--test", data, "--site", "fc7", "--units", "1", "-o", "never"), /unknown site 'fc7'/);
    // A learning rate of 0 or below: refused before any training (a negative one had been reported as a divergence).
    expectOneLineError(lesion("recover", model, "--data", data, "--test", data, "--site", "fc1", "--units", "1", "--lr", "-1", "-o", "never"), /^lesion: --lr \(the learning rate\) must be a positive number, got -1$/);
    expectOneLineError(lesion("train", "--arch", "mlp:16-8-3", "--data", data, "--lr", "0", "-o", "never.onnx"), /^lesion: --lr \(the learning rate\) must be a positive number, got 0$/);
    // SGD momentum of 1 or more: refused (a trial's 1.5 diverged, and the warning blamed the learning rate).
    expectOneLineError(lesion("recover", model, "--data", data, "--test", data, "--site", "fc1", "--units", "1", "--momentum", "1.5", "-o", "never"), /^lesion: --momentum must be at least 0 and below 1, got 1\.5$/);
    expectOneLineError(lesion("study", model, "--data", data, "--recover", "--recover-data", data, "--recover-lr", "0", "-o", "never"), /^lesion: --recover-lr must be a positive number, got 0$/);
    expect(existsSync(join(dir, "never.onnx")) || existsSync(join(dir, "never"))).toBe(false);
  });

  it("lesion train whose loss diverges (--lr 1e30): one line naming the epoch and the learning rate, exit 1, no model written", () => {
    expectOneLineError(lesion("train", "--arch", "mlp:16-8-3", "--data", data, "--epochs", "2", "--lr", "1e30", "-o", "diverged.onnx"), /^lesion: the training loss of epoch 1 is (NaN|Infinity) \(not finite\): training diverged; lower --lr \(1e\+30 now\)/);
    expect(readdirSync(dir).filter((f) => f.startsWith("diverged"))).toEqual([]);
  });

  it("lesion study whose recovery diverges (--recover-lr 1e30): one line naming --recover-lr (not recover's --lr) and keeping the finished steps for lesion report (helper trial 'newuser39')", () => {
    const run = lesion("study", model, "--data", data, "--recover", "--recover-data", data, "--recover-lr", "1e30", "-o", "diverged-study");
    expect(run.status).toBe(1);
    // After the steps' progress lines, the error's one line.
    expect(run.stderr.trimEnd().split("\n").at(-1)).toMatch(/^lesion: the recovery step: the training loss of epoch 1 is (NaN|Infinity) \(not finite\): training diverged; lower --recover-lr \(1e\+30 now\), or check the network and data for NaN; the steps before it are kept \(`lesion report diverged-study` reports them\)$/);
    expect(existsSync(join(dir, "diverged-study", "characterize", "summary.json"))).toBe(true);
    expect(lesion("report", "diverged-study").status).toBe(0);
  });

  it("lesion study --recover-site retrains that site's most damaging population (by impact, hierarchical); a site not studied or without --recover: one line, exit 1", () => {
    expectOneLineError(lesion("study", model, "--data", data, "--recover-site", "fc2", "-o", "never"), /^lesion: --recover-site is the site of --recover, which is not given$/);
    expectOneLineError(lesion("study", model, "--data", data, "--sites", "fc1", "--recover", "--recover-data", data, "--recover-site", "fc2", "-o", "never"), /^lesion: the recovery's site fc2 is not among the studied sites \(fc1\): its populations come from the characterize step$/);
    expectOneLineError(lesion("study", model, "--data", data, "--recover", "--recover-data", data, "--recover-site", "fc9", "-o", "never"), /unknown site 'fc9'/);
    expect(existsSync(join(dir, "never"))).toBe(false);
    // The fraction curves' options as flags (a trial found no way to ask for more random orders than 3).
    const run = lesion("study", model, "--data", data, "--pairs", "none", "--recover", "--recover-data", data, "--recover-site", "fc2", "--fractions", "0.5,1", "--repeats", "2", "--seed", "3", "-o", "recover-site-study");
    expect(run.status, run.stderr).toBe(0);
    const curves = JSON.parse(readFileSync(join(dir, "recover-site-study", "fractions", "run.json"), "utf8")).run.options;
    expect([curves.fractions, curves.repeats, curves.seed]).toEqual([[0.5, 1], 2, 3]);
    // Per site: 2 fractions × (2 random orders, selectivity, impact).
    const fc2Rows = readFileSync(join(dir, "recover-site-study", "fractions", "fc2.csv"), "utf8").trimEnd().split("\n").length - 1;
    expect(fc2Rows).toBe(8);
    expectOneLineError(lesion("study", model, "--data", data, "--fractions", "0,1.5", "-o", "never"), /^lesion: fraction 0 is outside \(0, 1\]$/);
    expect(existsSync(join(dir, "never"))).toBe(false);
    const populations = JSON.parse(readFileSync(join(dir, "recover-site-study", "characterize", "summary.json"), "utf8")).populations;
    const grouping = populations.find((p: { site: string }) => p.site === "fc2").groupings.find((g: { by: string; method: string }) => g.by === "impact" && g.method === "hierarchical");
    const worst = [...grouping.populations].sort((a: { ablation: { delta: number } }, b: { ablation: { delta: number } }) => a.ablation.delta - b.ablation.delta)[0];
    const recovered = JSON.parse(readFileSync(join(dir, "recover-site-study", "recover", "summary.json"), "utf8"));
    expect([recovered.site, recovered.units]).toEqual(["fc2", worst.units]);
    // Said on the console too, with the step it took.
    expect(run.stdout).toContain(`\nrecovery: fc2 units ${worst.units.join(",")} held, intact ${(100 * recovered.intact.accuracy).toFixed(2)}%, ablated ${(100 * recovered.ablated.accuracy).toFixed(2)}%, after 3 epochs ${(100 * recovered.epochs[2].accuracy).toFixed(2)}%; control (intact retrained) ${(100 * recovered.control[2].accuracy).toFixed(2)}% (lr 0.01)\n`);
  });

  it("lesion train then lesion recover: a model, its initial weights and history; a recovery table per epoch", () => {
    const trained = lesion("train", "--arch", "mlp:16-8-3", "--data", data, "--test", data, "--epochs", "2", "-o", "small.onnx");
    expect(trained.status).toBe(0);
    // The same data given as --test: its "test accuracy" is a training accuracy, said once. These labels do not follow
    // the (random) images: the mean training loss stays above ln 3, a uniform guess's, and that is said too.
    const warnings = trained.stderr.split("\n").filter((line) => line.startsWith("lesion: warning:"));
    expect(warnings[0]).toBe(`lesion: warning: the test data is the training data (${data}): its test accuracy is a training accuracy; give --test another set`);
    expect(warnings.slice(1)).toEqual([expect.stringMatching(/^lesion: warning: the network did not learn: the last epoch's mean training loss, 1\.\d+, is above ln 3 = 1\.0986, a uniform guess's \(labels that do not follow the images, too few epochs, or an --lr too small or too large: 0\.02 now\)$/)]);
    // A step far too large (a trial's --lr 100 wrote its model without a word): the loss climbs far above ln 3.
    const diverged = lesion("train", "--arch", "mlp:16-8-3", "--data", data, "--test", data, "--epochs", "2", "--lr", "100", "-o", "diverged.onnx");
    expect(diverged.status, diverged.stderr).toBe(0);
    expect(diverged.stderr).toMatch(/\nlesion: warning: training diverged: the last epoch's mean training loss, \S+, is far above ln 3 = 1\.0986, a uniform guess's; give a smaller --lr \(100 now\)\n/);
    expect(["small.onnx", "small.initial.onnx", "small.history.json"].every((f) => existsSync(join(dir, f)))).toBe(true);
    const history = JSON.parse(readFileSync(join(dir, "small.history.json"), "utf8"));
    expect(history.history).toHaveLength(2);
    // Which data the test accuracy is measured on, in the file too.
    expect([history.data, history.test]).toEqual([data, data]);
    // Another run's model at the output path is replaced only with --overwrite; the refusal, naming what differs, comes
    // before training, nothing changes.
    const before = readFileSync(join(dir, "small.onnx"));
    expectOneLineError(lesion("train", "--arch", "mlp:16-8-3", "--data", data, "--epochs", "1", "--seed", "5", "-o", "small.onnx"), /^lesion: small\.onnx, small\.initial\.onnx, small\.history\.json exist \(another training run: options\.epochs 2 there, 1 now; options\.seed 0 there, 5 now; test npy:\S+ there, none now\); use --overwrite to replace them, or choose another -o path$/);
    expect(readFileSync(join(dir, "small.onnx")).equals(before)).toBe(true);
    const again = lesion("train", "--arch", "mlp:16-8-3", "--data", data, "--epochs", "1", "--seed", "5", "-o", "small.onnx", "--overwrite");
    expect(again.status, again.stderr).toBe(0);
    expect(readFileSync(join(dir, "small.onnx")).equals(before)).toBe(false);
    const out = join(dir, "recovery");
    const recovered = lesion("recover", "small.onnx", "--data", data, "--test", data, "--site", "fc1", "--units", "0,1", "--epochs", "2", "-o", out);
    expect(recovered.status).toBe(0);
    // Retrained and tested on the same images: said, as train says it.
    expect(recovered.stderr).toContain(`lesion: warning: the test data is the training data (${data}): recovery is measured on the images the network retrains on`);
    expect(readdirSync(out).sort()).toEqual(["model.onnx", "recovery.csv", "run.json", "summary.json"]);
    expect(readFileSync(join(out, "recovery.csv"), "utf8").trimEnd().split("\n")).toHaveLength(4);
  });

  it("standard output that cannot be written (a full device): one line on stderr, exit 1, plain and --json", () => {
    for (const extra of [[], ["--json"]]) {
      const full = openSync("/dev/full", "w");
      const run = spawnSync(process.execPath, [BIN, "info", model, ...extra], { cwd: dir, encoding: "utf8", stdio: ["ignore", full, "pipe"] });
      closeSync(full);
      expect([run.status, run.stderr]).toEqual([1, "lesion: cannot write to standard output: no space left on device (ENOSPC)\n"]);
    }
  });

  it("flags that contradict each other: one line, exit 1 (--fraction with --units, --map-samples with --no-map, --recover-data without --recover)", () => {
    expectOneLineError(lesion("ablate", model, "--data", data, "--site", "fc1", "--units", "3", "--fraction", "0.5", "-o", "contradiction"), "lesion: --units cannot be combined with --fraction (a fraction curve replaces the units)");
    expectOneLineError(lesion("characterize", model, "--data", data, "--no-map", "--map-samples", "100", "-o", "contradiction"), "lesion: --map-samples sizes the stimulus map, which --no-map leaves out");
    expectOneLineError(lesion("study", model, "--data", data, "--recover-data", data, "-o", "contradiction"), "lesion: --recover-data is the training data of --recover, which is not given");
    // The default network (MNIST) on another named set of MNIST's shape: refused before it is trained (a trial's 5.50 %).
    expectOneLineError(lesion("study", "--data", "fashion-mnist:test", "-o", "contradiction"), "lesion: the default network is trained on MNIST, not fashion-mnist: study a network trained on it (lesion train --arch mlp:784-100-100-100-10 --data fashion-mnist -o fashion-mnist.onnx, then lesion study fashion-mnist.onnx --data fashion-mnist:test)");
    expect(existsSync(join(dir, "contradiction"))).toBe(false);
  });

  it("lesion record --sites , (no name): one line, exit 1, nothing written", () => {
    expectOneLineError(lesion("record", model, "--data", data, "--sites", ",", "-o", "no-sites"), "lesion: --sites lists no name: ','");
    expect(existsSync(join(dir, "no-sites"))).toBe(false);
  });

  it("lesion record writes class means per site that numpy can load", () => {
    const out = join(dir, "rec");
    const run = lesion("record", model, "--data", data, "--sites", "fc1", "-o", out);
    expect(run.status).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["fc1.class_means.npy", "fc1.csv", "run.json", "summary.json"]);
    const npy = readFileSync(join(out, "fc1.class_means.npy"));
    expect(npy.subarray(10, 80).toString("latin1")).toContain("'shape': (3, 12)");
  });
});
