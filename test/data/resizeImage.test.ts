/**
 * Image folders resized and center-cropped as torchvision's Resize(N) + CenterCrop(M) on PIL images (issue #14):
 * pixels equal Pillow's, byte for byte (test/fixtures/resize/reference.json, made by make_resize_fixtures.py with
 * Pillow 9.4).
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import { centerCrop, resizedSize } from "../../src/data/resizeImage.js";
import { LesionError } from "../../src/errors.js";

const FOLDER = fileURLToPath(new URL("../fixtures/resize/images", import.meta.url));
interface Reference {
  configs: Array<{ resize: number; crop: number; images: Array<{ file: string; resized: [number, number]; chw: number[] }> }>;
}
const REFERENCE = JSON.parse(readFileSync(new URL("../fixtures/resize/reference.json", import.meta.url), "utf8")) as Reference;

describe("loadDataset(folder, {resize, crop})", () => {
  for (const config of REFERENCE.configs) {
    it(`loadDataset(folder, {resize: ${config.resize}, crop: ${config.crop}}) equals PIL's Image.resize(BILINEAR) + torchvision's center crop, byte for byte`, async () => {
      const data = await loadDataset(FOLDER, { resize: config.resize, crop: config.crop });
      expect(data.shape).toEqual([3, config.crop, config.crop]);
      expect(data.n).toBe(config.images.length);
      expect(Array.from(data.labels)).toEqual([0, 0, 1, 1]);
      const size = 3 * config.crop * config.crop;
      config.images.forEach((image, s) => {
        const ours = Array.from(data.images.subarray(s * size, (s + 1) * size), (v) => Math.round(v * 255));
        const differing = ours.filter((v, i) => v !== image.chw[i]).length;
        expect(differing, `${image.file}: ${differing} of ${size} values differ from PIL's`).toBe(0);
        // Exactly k/255 in float32, as ToTensor makes them.
        expect(data.images[s * size]).toBe(Math.fround(image.chw[0] / 255));
      });
    });
  }

  it("resizedSize(w, h, N) gives torchvision's output size (shorter side N, longer ⌊N·long/short⌋)", () => {
    for (const config of REFERENCE.configs) {
      const sizes = [[37, 23], [20, 41], [16, 16], [50, 33]].map(([w, h]) => resizedSize(w, h, config.resize));
      expect(sizes.map((s) => [s.width, s.height])).toEqual(config.images.map((i) => i.resized));
    }
  });

  it("loadDataset(folder) of images of different sizes without resize/crop: bad-data naming both sizes and `resize`", async () => {
    await expect(loadDataset(FOLDER)).rejects.toThrow(/b\.png is 20x41 but .*a\.png is 37x23; every image must have the same size \(import the model with `resize` N `crop` M/);
  });

  it("loadDataset(folder, {resize: 12}) alone: the aspect ratios differ, so bad-data names the sizes after resizing", async () => {
    await expect(loadDataset(FOLDER, { resize: 12 })).rejects.toThrow(/b\.png is 12x24 but .*a\.png is 19x12 after resize 12; every image/);
  });

  it("centerCrop(image 8x6, 7): bad-data naming the image and both sizes", () => {
    const image = { width: 8, height: 6, rgba: new Uint8Array(8 * 6 * 4) };
    let error: unknown;
    try {
      centerCrop(image, 7, "x.png");
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LesionError);
    expect((error as LesionError).code).toBe("bad-data");
    expect((error as LesionError).message).toBe("x.png is 8x6 after resizing, smaller than the crop 7x7");
  });
});
