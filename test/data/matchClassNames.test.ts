/** Image folders scored by class name against a model's classes (issue 13: a folder with only 3/ and 7/). */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { beforeAll, describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import { matchClassNames } from "../../src/data/matchClassNames.js";
import { closeModel, openModel } from "../../src/engine/model.js";
import { LesionError } from "../../src/errors.js";
import { buildClassifier } from "../../src/onnx/build.js";
import { writeMetadata } from "../../src/onnx/metadata.js";
import { encodeModel } from "../../src/onnx/proto.js";
import { evaluate } from "../../src/engine/evaluate.js";
import { BIN } from "../lesionCli.js";

const DIGITS = Array.from({ length: 10 }, (_, c) => String(c));

/** One gray 2x2 PNG per entry, `value` in 0..255, under root/<folder>/. */
function writeFolder(root: string, images: Array<[folder: string, value: number]>): void {
  images.forEach(([folder, value], i) => {
    mkdirSync(join(root, folder), { recursive: true });
    const png = new PNG({ width: 2, height: 2 });
    png.data.fill(value);
    for (let p = 3; p < png.data.length; p += 4) png.data[p] = 255;
    writeFileSync(join(root, folder, `${i}.png`), PNG.sync.write(png));
  });
}

/**
 * A 10-class model named "0".."9" over 2x2 gray images, by hand: fc1 = relu([x, 1 − x]) of the first pixel x, then
 * logit 7 = 10·h0, logit 3 = 10·h1, the others 0. Bright images (x = 0.9) are class 7, dark ones (x = 0.2) class 3.
 */
function sevenOrThree(): Uint8Array {
  const w1 = new Float32Array(2 * 4);
  w1[0] = 1;
  w1[4] = -1;
  const w2 = new Float32Array(10 * 2);
  w2[7 * 2 + 0] = 10;
  w2[3 * 2 + 1] = 10;
  const model = buildClassifier({
    inputShape: [1, 2, 2],
    layers: [
      { op: "flatten" },
      { op: "linear", name: "fc1", weight: w1, shape: [2, 4], bias: Float32Array.from([0, 1]) },
      { op: "relu" },
      { op: "linear", name: "fc2", weight: w2, shape: [10, 2], bias: null },
    ],
  });
  writeMetadata(model, { preprocessing: { layout: "nchw", mean: [0], std: [1], imageShape: [1, 2, 2] }, classNames: DIGITS });
  return encodeModel(model);
}

describe("matchClassNames", () => {
  let dir = "";
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "lesion-classes-"));
    // 0.2·255 = 51 and 0.9·255 ≈ 230: two "3"s and three "7"s.
    writeFolder(join(dir, "digits"), [["3", 51], ["3", 51], ["7", 230], ["7", 230], ["7", 230]]);
    writeFolder(join(dir, "odd"), [["3", 51], ["seven", 230]]);
    writeFileSync(join(dir, "m.onnx"), sevenOrThree());
  });

  it("loadDataset(folder of 3/ and 7/, {classNames: 0..9}) labels the images 3 and 7 of ten classes", async () => {
    const data = await loadDataset(join(dir, "digits"), { classNames: DIGITS });
    expect([Array.from(data.labels), data.numClasses, data.classNames]).toEqual([[3, 3, 7, 7, 7], 10, DIGITS]);
    // Without a model's names the folder is read as torchvision's ImageFolder: sorted sub-folders are classes 0, 1.
    const plain = await loadDataset(join(dir, "digits"));
    expect([Array.from(plain.labels), plain.numClasses, plain.classNames]).toEqual([[0, 0, 1, 1, 1], 2, ["3", "7"]]);
    expect(Array.from(matchClassNames(plain, DIGITS).labels)).toEqual([3, 3, 7, 7, 7]);
    // A model without class names has classes 0..K−1: integer sub-folders are those classes; other names keep the
    // folder's own order.
    expect(Array.from(matchClassNames(plain, null).labels)).toEqual([3, 3, 7, 7, 7]);
    const odd = await loadDataset(join(dir, "odd"));
    expect(matchClassNames(odd, null)).toBe(odd);
  });

  it("matchClassNames(folder with a sub-folder 'seven', 0..9) throws bad-data naming the sub-folder", async () => {
    const plain = await loadDataset(join(dir, "odd"));
    let error: unknown;
    try {
      matchClassNames(plain, DIGITS);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LesionError);
    expect((error as LesionError).code).toBe("bad-data");
    expect((error as LesionError).message).toBe(`sub-folder 'seven' of ${join(dir, "odd")} is not one of the classes it is scored against (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)`);
    await expect(loadDataset(join(dir, "odd"), { classNames: DIGITS })).rejects.toThrow(/sub-folder 'seven'/);
  });

  it("evaluate(model named 0..9, folder of 3/ and 7/) scores classes 3 and 7; unmatched folder data is refused", async () => {
    const model = await openModel(join(dir, "m.onnx"));
    try {
      const result = await evaluate(model, await loadDataset(join(dir, "digits"), { classNames: model.classNames }));
      expect(result.accuracy).toBe(1);
      expect(result.classCounts).toEqual([0, 0, 0, 2, 0, 0, 0, 3, 0, 0]);
      expect(result.perClass).toEqual([null, null, null, 1, null, null, null, 1, null, null]);
      // The folder's own labels (0 and 1) would score 0 % as if correct; the boundary refuses them.
      await expect(evaluate(model, await loadDataset(join(dir, "digits")))).rejects.toMatchObject({ code: "bad-data" });
    } finally {
      await closeModel(model);
    }
  });

  it("lesion eval m.onnx --data FOLDER scores by class name; an unknown sub-folder is one line, exit 1", () => {
    const ok = spawnSync(process.execPath, [BIN, "eval", "m.onnx", "--data", "./digits", "--json"], { cwd: dir, encoding: "utf8" });
    expect(ok.stderr).toBe("");
    expect(ok.status).toBe(0);
    const result = JSON.parse(ok.stdout);
    expect([result.accuracy, result.classCounts]).toEqual([1, [0, 0, 0, 2, 0, 0, 0, 3, 0, 0]]);
    const bad = spawnSync(process.execPath, [BIN, "eval", "m.onnx", "--data", "./odd"], { cwd: dir, encoding: "utf8" });
    expect(bad.status).toBe(1);
    expect(bad.stdout).toBe("");
    expect(bad.stderr).toBe("lesion: sub-folder 'seven' of ./odd is not one of the classes it is scored against (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)\n");
  });
});
