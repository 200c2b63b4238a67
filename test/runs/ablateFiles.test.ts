import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseNpy } from "../../src/data/npy.js";
import { ablateFiles, readAblateFiles } from "../../src/runs/ablateFiles.js";
import type { Provenance } from "../../src/runs/provenance.js";
import { writeResultDir } from "../../src/runs/resultDir.js";
import type { AblateResult, ConditionResult } from "../../src/study/ablate.js";
import { errorOf } from "../helpers.js";

// Hand-made: 5 samples, classes a (3 samples) and b (2), class c with none. The intact network gets 2 of a and 1 of b
// right; unit 0 alone loses one sample of a, unit 1 alone nothing, both together one of a and the one of b.
const base = { site: "h", mode: "zero" as const, label: null, loss: null, confusion: null };
const conditions: ConditionResult[] = [
  { ...base, id: "h/zero/0", units: [0], accuracy: 2 / 5, perClass: [1 / 3, 1 / 2, null], delta: -1 / 5, deltaPerClass: [-1 / 3, 0, null], lost: 1, gained: 0, redundancy: null },
  { ...base, id: "h/zero/1", units: [1], accuracy: 3 / 5, perClass: [2 / 3, 1 / 2, null], delta: 0, deltaPerClass: [0, 0, null], lost: 0, gained: 0, redundancy: null },
  // Lost jointly only: b's one sample (1 of b's 1 intact-correct); a's sample unit 0 loses alone.
  { ...base, id: "h/zero/0+1", units: [0, 1], accuracy: 1 / 5, perClass: [1 / 3, 0, null], delta: -2 / 5, deltaPerClass: [-1 / 3, -1 / 2, null], lost: 2, gained: 0, redundancy: { overall: 1 / 5, perClass: [0, 1, null] } },
];
const result = {
  model: "m.onnx",
  modelSha256: "0".repeat(64),
  data: "npy:x",
  n: 5,
  classNames: ["a", "b", "c"],
  classCounts: [3, 2, 0],
  baseline: { accuracy: 3 / 5, perClass: [2 / 3, 1 / 2, null], loss: 0.5 },
  conditions,
  changes: [
    { samples: Int32Array.of(0), predictions: Int32Array.of(1) },
    { samples: new Int32Array(0), predictions: new Int32Array(0) },
    { samples: Int32Array.of(0, 3), predictions: Int32Array.of(1, 0) },
  ],
  predictions: Int32Array.of(0, 0, 1, 1, 0),
  labels: Int32Array.of(0, 0, 0, 1, 1),
  agreement: { checked: 5, agreed: 5 },
  unresolvedTies: 0,
  engine: { h: "dense" },
  warnings: [],
  elapsedSeconds: 0.1,
} as unknown as AblateResult;

const provenance: Provenance = { lesion: "0", onnxruntime: "0", node: "0", threads: 1, graphOptimizationLevel: "basic", model: { name: "m.onnx", sha256: "0" }, data: { spec: "npy:x", n: 5, shape: [1, 1, 1], sha256: "0" }, seed: null };

function written(): string {
  const dir = mkdtempSync(join(tmpdir(), "lesion-ablate-files-"));
  const { files, summary } = ablateFiles(result, { site: "h", loss: false, confusion: false, provenance });
  writeResultDir(dir, files, summary);
  return dir;
}

describe("ablate's result files", () => {
  it("keep each condition's per-class numbers in per_class.npy, redundancy.npy and the CSV, not in summary.json (issue #19: the standard sweep's summary repeated them, 3.6 MB)", () => {
    const dir = written();
    expect(readdirSync(dir).sort()).toEqual(["changes.npy", "h.csv", "labels.npy", "per_class.npy", "predictions.npy", "redundancy.npy", "summary.json"]);
    const summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8"));
    expect(summary.conditions[2]).toEqual({ id: "h/zero/0+1", site: "h", units: [0, 1], mode: "zero", label: null, accuracy: 0.2, delta: -0.4, lost: 2, gained: 0, loss: null, redundancy: 0.2 });
    expect(summary.conditions[0].redundancy).toBeNull();
    const redundancy = parseNpy(readFileSync(join(dir, "redundancy.npy")), "redundancy.npy");
    expect([redundancy.descr, redundancy.shape]).toEqual(["<f8", [3, 3]]);
    expect(Array.from(new Float64Array(Uint8Array.from(redundancy.data).buffer))).toEqual([NaN, NaN, NaN, NaN, NaN, NaN, 0, 1, NaN]);
    // The CSV keeps accuracy and delta per class (a class without samples empty).
    const row = readFileSync(join(dir, "h.csv"), "utf8").split("\n")[3];
    expect(row).toBe(`h/zero/0+1,h,0 1,zero,,0.2,-0.4,2,0,,0.2,${1 / 3},0.0,,${-1 / 3},-0.5,`);
  });

  it("are read back by readAblateFiles: accuracy, change and redundancy per class, null where a class has no samples", () => {
    const read = readAblateFiles(written());
    expect(read.perClass(2)).toEqual([1 / 3, 0, null]);
    // From the counts: (1 − 2) / 3 and (0 − 1) / 2, exactly as ablate computes them.
    expect(read.deltaPerClass(2)).toEqual([-1 / 3, -1 / 2, null]);
    expect(read.deltaPerClass(1)).toEqual([0, 0, null]);
    expect(read.redundancy(2)).toEqual([0, 1, null]);
    expect(read.redundancy(0)).toBeNull();
    expect(read.summary.conditions.map((c) => c.redundancy)).toEqual([null, null, 0.2]);
  });

  it("readAblateFiles refuses another command's result and a condition index that is none (helper trial 'newuser68': a TypeError, and perClass(1.5) half of two rows)", async () => {
    const read = readAblateFiles(written());
    for (const i of [1.5, -1, 3]) {
      const error = await errorOf(() => read.perClass(i));
      expect([error.code, error.message]).toEqual(["bad-option", expect.stringMatching(new RegExp(`^condition index ${String(i).replace(".", "\\.")} is not one of .*'s conditions \\(0\\.\\.2\\)$`))]);
      expect((await errorOf(() => read.redundancy(i))).code).toBe("bad-option");
      expect((await errorOf(() => read.deltaPerClass(i))).code).toBe("bad-option");
    }
    const record = mkdtempSync(join(tmpdir(), "lesion-record-"));
    writeFileSync(join(record, "summary.json"), JSON.stringify({ command: "record", sites: [] }));
    const other = await errorOf(() => readAblateFiles(record));
    expect([other.code, other.message]).toEqual(["bad-data", `${record} holds a record result, not an ablate run's (readAblateFiles reads \`lesion ablate\` directories)`]);
  });

  it("reads a directory an earlier release wrote, whose summary held the per-class arrays (a study's steps are reused across releases)", () => {
    const dir = written();
    const summary = JSON.parse(readFileSync(join(dir, "summary.json"), "utf8"));
    summary.conditions = conditions.map(({ confusion: _confusion, ...c }) => c);
    summary.files = summary.files.filter((f: string) => f !== "redundancy.npy");
    writeFileSync(join(dir, "summary.json"), JSON.stringify(summary));
    const read = readAblateFiles(dir);
    expect([read.perClass(0), read.redundancy(2), read.redundancy(1), read.summary.conditions[2].redundancy]).toEqual([[1 / 3, 1 / 2, null], [0, 1, null], null, 0.2]);
  });
});
