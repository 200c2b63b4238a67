/**
 * `lesion recover` on an exported ResNet (BatchNorm folded): the default learning rate is a tenth of SGD's usual, and
 * the command line says so, since nothing on it chose that (a trial found it only in summary.json).
 */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { runLesion } from "../lesionCli.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/cnn/resnet18.onnx", import.meta.url));
let dir = "";

const lesion = (...args: string[]) => runLesion(args, { cwd: dir, cache: join(dir, "cache") });

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "lesion-recover-cli-"));
  expect(lesion("import", FIXTURE, "--mean", "0.4914,0.4822,0.4465", "--std", "0.247,0.2435,0.2616", "-o", "r18.onnx").status).toBe(0);
});

describe("lesion recover on a ResNet whose export folded BatchNorm", () => {
  it("says which learning rate it chose when --lr is not given, and nothing when it is", { timeout: 120_000 }, () => {
    const run = ["recover", "r18.onnx", "--data", "cifar10:test", "--site", "layer2.1", "--units", "3", "--epochs", "1", "--batch-size", "250"];
    const chosen = lesion(...run, "-o", "default");
    expect(chosen.status, chosen.stderr).toBe(0);
    expect(chosen.stderr.split("\n")).toContain("lesion: --lr 0.001 (the default for a residual network without BatchNorm, as an export that folded it; give --lr to choose)");
    expect(JSON.parse(readFileSync(join(dir, "default", "summary.json"), "utf8")).settings.lr).toBe(0.001);
    const given = lesion(...run, "--lr", "0.001", "-o", "given");
    expect(given.status, given.stderr).toBe(0);
    expect(given.stderr).not.toMatch(/--lr 0\.001/);
  });
});
