/**
 * `--arch` on the command line, one grammar for `lesion train` and `lesion import`: a VGG with BatchNorm trains from
 * `vgg:…` and from a layer list with `bn`, recovers with held units; the VGG-BN state_dict fixture imports with
 * `vgg:small` (no --input-shape: 3 input channels → 3x32x32) and with the same network written as a layer list, to the
 * same model, whose accuracy on cifar10:test is PyTorch's (test/fixtures/cnn/vgg_bn_state.reference.json).
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeNpy } from "../../src/runs/npy.js";
import { random } from "../helpers.js";
import { runLesion } from "../lesionCli.js";

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/cnn/${name}`, import.meta.url));
let dir = "";
let data = "";

const lesion = (...args: string[]) => runLesion(args, { cwd: dir, cache: join(dir, "cache") });

const sites = (model: string) => JSON.parse(lesion("info", model, "--json").stdout).sites.map((s: { name: string }) => s.name);

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "lesion-arch-"));
  const rand = random(7);
  const n = 120;
  writeFileSync(join(dir, "d.images.npy"), encodeNpy(Float32Array.from({ length: n * 3 * 8 * 8 }, () => rand()), [n, 3, 8, 8]));
  writeFileSync(join(dir, "d.labels.npy"), encodeNpy(Int32Array.from({ length: n }, (_, i) => i % 3), [n]));
  data = "npy:d.images.npy,d.labels.npy";
});

describe("lesion --arch", () => {
  it("lesion train --arch vgg:4-M-fc8 and a layer list with bn train BatchNorm networks; lesion recover holds a BN site's units", () => {
    const vgg = lesion("train", "--arch", "vgg:4-M-fc8", "--data", data, "--epochs", "1", "-o", "vgg.onnx");
    expect(vgg.status, vgg.stderr).toBe(0);
    expect(sites("vgg.onnx")).toEqual(["features.0", "classifier.1", "classifier.3"]);
    const list = lesion("train", "--arch", "conv(out=4,padding=1),bn,relu,maxpool(2),flatten,linear(out=8),bn,relu,linear", "--data", data, "--epochs", "1", "-o", "list.onnx");
    expect(list.status, list.stderr).toBe(0);
    expect(sites("list.onnx")).toEqual(["conv1", "fc1", "fc2"]);
    const recovered = lesion("recover", "vgg.onnx", "--data", data, "--test", data, "--site", "features.0", "--units", "0,1", "--epochs", "1", "-o", "recovery");
    expect(recovered.status, recovered.stderr).toBe(0);
    const summary = JSON.parse(readFileSync(join(dir, "recovery", "summary.json"), "utf8"));
    expect([summary.site, summary.units, summary.mode]).toEqual(["features.0", [0, 1], "held"]);
  }, 120_000);

  it("lesion import vgg_bn_state.pt --arch vgg:small equals the layer-list spelling and has PyTorch's accuracy", () => {
    const norm = ["--mean", "0.4914,0.4822,0.4465", "--std", "0.2470,0.2435,0.2616"];
    expect(lesion("import", fixture("vgg_bn_state.pt"), "--arch", "vgg:small", ...norm, "-o", "named.onnx").status).toBe(0);
    const block = (out: number) => `conv(out=${out},kernel=3,padding=1),bn,relu`;
    const list = [block(16), block(16), "maxpool(2)", block(32), block(32), "maxpool(2)", block(64), "maxpool(2)", "flatten", "linear(out=64)", "relu", "linear(out=10)"].join(",");
    expect(lesion("import", fixture("vgg_bn_state.pt"), "--arch", list, "--input-shape", "3x32x32", ...norm, "-o", "imported-list.onnx").status).toBe(0);
    expect(Buffer.compare(readFileSync(join(dir, "named.onnx")), readFileSync(join(dir, "imported-list.onnx")))).toBe(0);
    const evaluated = lesion("eval", "named.onnx", "--data", "cifar10:test", "--json");
    expect(evaluated.status).toBe(0);
    const reference = JSON.parse(readFileSync(fixture("vgg_bn_state.reference.json"), "utf8")) as { accuracy: number };
    expect(JSON.parse(evaluated.stdout).accuracy).toBe(reference.accuracy);
  }, 120_000);
});
