import { existsSync, mkdtempSync, readFileSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encodeCsv, toJson, writeResultDir } from "../../src/study/resultDir.js";
import { encodeNpy } from "../../src/study/npy.js";
import { selectivity } from "../../src/study/unitScores.js";

describe("result files", () => {
  it("encodeNpy writes a header numpy reads: magic, version 1.0, 64-byte aligned, descr and shape", () => {
    const bytes = encodeNpy(new Float64Array([1, 2, 3, 4, 5, 6]), [2, 3]);
    expect(Array.from(bytes.slice(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    const headerLength = bytes[8] + 256 * bytes[9];
    expect((10 + headerLength) % 64).toBe(0);
    const header = new TextDecoder().decode(bytes.slice(10, 10 + headerLength));
    expect(header).toContain("'descr': '<f8'");
    expect(header).toContain("'shape': (2, 3)");
    expect(Array.from(new Float64Array(bytes.slice(10 + headerLength).buffer))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(new TextDecoder().decode(encodeNpy(new Int32Array(3), [3]).slice(10, 70))).toContain("'shape': (3,)");
  });

  it("encodeCsv quotes fields with commas and writes null as an empty field", () => {
    expect(encodeCsv(["a", "b"], [["x,y", null], [1.5, 'say "hi"']])).toBe('a,b\n"x,y",\n1.5,"say ""hi"""\n');
  });

  it("toJson writes typed arrays as arrays and NaN as null", () => {
    expect(JSON.parse(toJson({ a: new Float32Array([1, 2]), b: Number.NaN }))).toEqual({ a: [1, 2], b: null });
  });

  it("toJson writes one condition per line, compact, and reads back as the value (typed arrays, NaN and ±Infinity as null at any depth)", () => {
    const value = {
      site: "h2",
      baseline: { accuracy: 0.5, perClass: [0.25, null], loss: Number.POSITIVE_INFINITY },
      conditions: [
        { id: "h2/zero/0", units: [0], perClass: new Float64Array([0.5, Number.NaN]), redundancy: null },
        { id: "h2/zero/0+1", units: [0, 1], perClass: [1, 0], redundancy: { overall: 0.1, perClass: [Number.NEGATIVE_INFINITY, 0.2] } },
      ],
      empty: [],
      nothing: {},
    };
    const text = toJson(value);
    expect(JSON.parse(text)).toEqual({
      site: "h2",
      baseline: { accuracy: 0.5, perClass: [0.25, null], loss: null },
      conditions: [
        { id: "h2/zero/0", units: [0], perClass: [0.5, null], redundancy: null },
        { id: "h2/zero/0+1", units: [0, 1], perClass: [1, 0], redundancy: { overall: 0.1, perClass: [null, 0.2] } },
      ],
      empty: [],
      nothing: {},
    });
    const lines = text.split("\n");
    expect(lines.filter((l) => l.trimStart().startsWith('{"id":')).length).toBe(2);
    expect(text.endsWith("\n")).toBe(true);
  });

  it("writeResultDir writes every file and the summary last, leaving no temporary files", () => {
    const dir = join(mkdtempSync(join(tmpdir(), "lesion-results-")), "run");
    writeResultDir(dir, [{ name: "m.npy", kind: "npy", data: new Int32Array([1]), shape: [1] }, { name: "t.csv", kind: "csv", header: ["x"], rows: [[1]] }], { ok: true });
    expect(readdirSync(dir).sort()).toEqual(["m.npy", "summary.json", "t.csv"]);
    expect(JSON.parse(readFileSync(join(dir, "summary.json"), "utf8"))).toEqual({ ok: true });
    expect(existsSync(join(dir, "t.csv"))).toBe(true);
  });
});

describe("selectivity", () => {
  it("selectivity(classMeans, units) is (max − mean of rest)/(max + mean of rest), 0 for a silent unit", () => {
    // Two units, three classes: unit 0 answers class 1 only; unit 1 is silent.
    const means = [0, 0, 3, 0, 0, 0];
    const [a, b] = selectivity(means, 2);
    expect(a).toBeCloseTo(1, 12);
    expect(b).toBe(0);
    const [c] = selectivity([1, 2, 3], 1);
    expect(c).toBeCloseTo((3 - 1.5) / (3 + 1.5), 12);
  });
});
