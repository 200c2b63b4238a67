/**
 * `lesion import --resize N --crop M` stores torchvision-style image sizing in the model's metadata, and every command
 * that loads an image folder for that model applies it (issue #14). The pixels it must give are Pillow's
 * (test/fixtures/resize/reference.json, from make_resize_fixtures.py).
 */
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { encodeNpy } from "../../src/runs/npy.js";
import { runLesion } from "../lesionCli.js";

const VGG = fileURLToPath(new URL("../fixtures/cnn/vgg_bn.onnx", import.meta.url));
const FOLDER = fileURLToPath(new URL("../fixtures/resize/images", import.meta.url));
const REFERENCE = JSON.parse(readFileSync(new URL("../fixtures/resize/reference.json", import.meta.url), "utf8")) as {
  configs: Array<{ resize: number; crop: number; images: Array<{ file: string; chw: number[] }> }>;
};
const CIFAR = ["--mean", "0.4914,0.4822,0.4465", "--std", "0.2470,0.2435,0.2616"];

const lesion = (...args: string[]) => runLesion(args);

describe("lesion import --resize N --crop M", () => {
  it("lesion import vgg_bn.onnx --resize 36 --crop 32: info shows them; eval of a folder of mixed sizes equals eval of Pillow's pixels", () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-resize-"));
    const model = join(dir, "vgg.onnx");
    const imported = lesion("import", VGG, ...CIFAR, "--resize", "36", "--crop", "32", "-o", model);
    expect(imported.status, imported.stderr).toBe(0);
    const info = lesion("info", model, "--json");
    expect(JSON.parse(info.stdout).preprocessing).toMatchObject({ resize: 36, crop: 32, mean: [0.4914, 0.4822, 0.4465] });
    expect(lesion("info", model).stdout).toContain("image folders resized to 36 then center-cropped to 32x32");

    // Pillow's pixels of the same images as a uint8 npy pair: the same network must score them identically.
    const config = REFERENCE.configs.find((c) => c.resize === 36 && c.crop === 32)!;
    const pixels = Uint8Array.from(config.images.flatMap((i) => i.chw));
    writeFileSync(join(dir, "images.npy"), encodeNpy(pixels, [config.images.length, 3, 32, 32]));
    writeFileSync(join(dir, "labels.npy"), encodeNpy(Int32Array.from(config.images, (i) => (i.file.startsWith("cat/") ? 0 : 1)), [config.images.length]));
    const folder = lesion("eval", model, "--data", FOLDER, "--json");
    expect(folder.status, folder.stderr).toBe(0);
    const npy = lesion("eval", model, "--data", `npy:${join(dir, "images.npy")},${join(dir, "labels.npy")}`, "--json");
    expect(npy.status, npy.stderr).toBe(0);
    const a = JSON.parse(folder.stdout);
    const b = JSON.parse(npy.stdout);
    expect(a.n).toBe(4);
    expect(a.loss).toBe(b.loss);
    expect(a.perClass).toEqual(b.perClass);
  });

  it("lesion eval of the folder with a model imported without --resize: one line, bad-data, exit 1", () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-resize-"));
    const model = join(dir, "vgg.onnx");
    expect(lesion("import", VGG, ...CIFAR, "-o", model).status).toBe(0);
    const run = lesion("eval", model, "--data", FOLDER);
    expect(run.status).toBe(1);
    const lines = run.stderr.trim().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^lesion: .*b\.png is 20x41 but .*a\.png is 37x23; every image must have the same size \(import the model with --resize N --crop M/);
  });

  it("lesion import --resize 32 --crop 36: one line naming both, exit 1, nothing written", () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-resize-"));
    const run = lesion("import", VGG, "--resize", "32", "--crop", "36", "-o", join(dir, "vgg.onnx"));
    expect(run.status).toBe(1);
    expect(run.stderr.trim().split("\n")).toEqual(["lesion: --crop 36 is larger than --resize 32: the crop is cut from the resized image"]);
    expect(readdirSync(dir)).toEqual([]);
  });
});
