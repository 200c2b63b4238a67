/**
 * external-data-cwd from the command line, as its README runs it: a model with `model.onnx.data` evaluates from any
 * working directory, and `lesion import` run in the model's folder writes one file that evaluates anywhere.
 * Right value: 9.61 % on mnist:test (the same network in one file, single.onnx; NumPy in make_references.py).
 */
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runLesion } from "../lesionCli.js";

const CASE = fileURLToPath(new URL("../fixtures/cases/external-data-cwd", import.meta.url));

const lesion = (cwd: string, ...args: string[]) => runLesion(args, { cwd });

describe("lesion eval/import with external data", () => {
  it("lesion eval ext/model.onnx and ext2/model.onnx from another directory give 9.61 %", () => {
    const elsewhere = mkdtempSync(join(tmpdir(), "lesion-cwd-"));
    for (const layout of ["ext", "ext2"]) {
      const run = lesion(elsewhere, "eval", relative(elsewhere, join(CASE, layout, "model.onnx")), "--data", "mnist:test", "--json");
      // Its warnings (no recorded normalisation, chance-level accuracy) and nothing else on stderr.
      expect(run.stderr).toMatch(/^(lesion: warning: [^\n]*\n)+$/);
      expect(run.status).toBe(0);
      expect(Math.round(JSON.parse(run.stdout).accuracy * 10000)).toBe(961);
    }
  }, 60_000);

  it("lesion import model.onnx (in ext2/) writes a self-contained file that evaluates elsewhere", () => {
    const out = join(mkdtempSync(join(tmpdir(), "lesion-import-")), "m.onnx");
    const imported = lesion(join(CASE, "ext2"), "import", "model.onnx", "-o", out);
    expect(imported.status).toBe(0);
    expect(statSync(out).size).toBeGreaterThan(statSync(join(CASE, "single.onnx")).size);
    const run = lesion(tmpdir(), "eval", out, "--data", "mnist:test", "--json");
    expect(run.status).toBe(0);
    expect(Math.round(JSON.parse(run.stdout).accuracy * 10000)).toBe(961);
  }, 60_000);
});
