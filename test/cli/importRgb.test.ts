/** `lesion import --mean R,G,B --std R,G,B` stores per-channel normalisation for an RGB model (issue #14). */
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { runLesion } from "../lesionCli.js";

const VGG = fileURLToPath(new URL("../fixtures/cnn/vgg_bn.onnx", import.meta.url));

const lesion = (...args: string[]) => runLesion(args);

describe("lesion import --mean R,G,B --std R,G,B", () => {
  it("lesion import vgg_bn.onnx --mean 0.4914,0.4822,0.4465 --std 0.2470,0.2435,0.2616: info --json has those per-channel values", () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-rgb-"));
    const out = join(dir, "vgg.onnx");
    const run = lesion("import", VGG, "--mean", "0.4914,0.4822,0.4465", "--std", "0.2470,0.2435,0.2616", "-o", out);
    expect(run.status, run.stderr).toBe(0);
    const info = JSON.parse(lesion("info", out, "--json").stdout);
    expect(info.preprocessing).toMatchObject({ layout: "nchw", mean: [0.4914, 0.4822, 0.4465], std: [0.247, 0.2435, 0.2616] });
  });

  it("lesion import --mean with 3 values and --std with 2: one line naming both counts, exit 1, nothing written", () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-rgb-"));
    const run = lesion("import", VGG, "--mean", "0.4914,0.4822,0.4465", "--std", "0.2470,0.2435", "-o", join(dir, "vgg.onnx"));
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split("\n")).toEqual(["lesion: --mean has 3 values and --std 2; give one value or one per channel for each"]);
    expect(readdirSync(dir)).toEqual([]);
  });
});
