/** `--class-names`: a comma list, or @FILE for names a comma list cannot carry (a trial's "cat, black"). */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseClassNames } from "../../src/cli/import.js";

describe("parseClassNames", () => {
  it("parseClassNames reads a comma list, a JSON array file and a one-name-per-line file; a bad JSON file is bad-option", () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-class-names-"));
    expect(parseClassNames("cat, dog ,bird")).toEqual(["cat", "dog", "bird"]);
    writeFileSync(join(dir, "names.json"), JSON.stringify(["cat, black", '"quoted"', "naïve bayes", "🐱"]));
    expect(parseClassNames(`@${join(dir, "names.json")}`)).toEqual(["cat, black", '"quoted"', "naïve bayes", "🐱"]);
    writeFileSync(join(dir, "names.txt"), "cat, black\n dog\r\nbird\n");
    expect(parseClassNames(`@${join(dir, "names.txt")}`)).toEqual(["cat, black", " dog", "bird"]);
    writeFileSync(join(dir, "bad.json"), "[1, 2]");
    expect(() => parseClassNames(`@${join(dir, "bad.json")}`)).toThrow(expect.objectContaining({ code: "bad-option", message: expect.stringContaining("expected a JSON array of strings") }));
    expect(() => parseClassNames(`@${join(dir, "missing.txt")}`)).toThrow(expect.objectContaining({ code: "missing-file" }));
  });

  it("lesion import --class-names @names.json keeps a name with a comma whole; lesion info quotes it", () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-class-names-cli-"));
    const bin = fileURLToPath(new URL("../../bin/lesion.js", import.meta.url));
    const fixture = fileURLToPath(new URL("../fixtures/torch/mlp.onnx", import.meta.url));
    writeFileSync(join(dir, "names.json"), JSON.stringify(["cat, black", "dog", '"quoted"', "naïve bayes", "🐱"]));
    const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, LESION_DEBUG: "" } });
    expect(run("import", fixture, "--class-names", "@names.json", "-o", "named.onnx").status).toBe(0);
    expect(run("info", "named.onnx").stdout.split("\n")).toContain('classes 5: "cat, black", dog, "\\"quoted\\"", naïve bayes, 🐱');
  });
});
