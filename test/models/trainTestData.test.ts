/**
 * train's test data is labelled as its training data labels the classes: a test image folder without one of the
 * classes had been numbered by its own sorted sub-folders, so its `c/` images were scored as class `b` (0 % where
 * the network was right on every one).
 */
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PNG } from "pngjs";
import { describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import { train } from "../../src/models/train.js";
import { errorOf } from "../helpers.js";

/** `count` gray 2x2 PNGs of level `value` under root/<folder>/. */
function writeImages(root: string, folder: string, value: number, count: number): void {
  mkdirSync(join(root, folder), { recursive: true });
  const png = new PNG({ width: 2, height: 2 });
  png.data.fill(value);
  for (let p = 3; p < png.data.length; p += 4) png.data[p] = 255;
  for (let i = 0; i < count; i++) writeFileSync(join(root, folder, `${i}.png`), PNG.sync.write(png));
}

describe("train's test data", () => {
  it("a test folder holding only c/ is scored as class c of the training folder a/, b/, c/ (100 %, not 0 %)", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-train-test-"));
    // Black, gray and white images: classes a, b, c, told apart by one linear layer after a little training.
    for (const [folder, value] of [["a", 0], ["b", 128], ["c", 255]] as const) writeImages(join(dir, "train"), folder, value, 20);
    writeImages(join(dir, "test"), "c", 255, 5);
    const data = await loadDataset(join(dir, "train"));
    const test = await loadDataset(join(dir, "test"));
    // Read alone, the test folder's one class is class 0: its labels index its own sorted sub-folders.
    expect([Array.from(test.labels), test.classNames]).toEqual([[0, 0, 0, 0, 0], ["c"]]);
    const result = await train(data, { arch: "mlp:4-16-3", test, epochs: 30, batchSize: 10, optimizer: "adam", lr: 0.01, seed: 1 });
    const last = result.history.at(-1)!;
    expect([last.testAccuracy, last.testPerClass]).toEqual([1, [null, null, 1]]);
    // Test images of another shape, and a test class the training data does not have, are refused in one line.
    mkdirSync(join(dir, "wide", "c"), { recursive: true });
    writeFileSync(join(dir, "wide", "c", "x.png"), PNG.sync.write(new PNG({ width: 3, height: 3 })));
    const wide = await loadDataset(join(dir, "wide"));
    const shape = await errorOf(() => train(data, { arch: "mlp:4-16-3", test: wide, epochs: 1 }));
    expect([shape.code, shape.message]).toEqual(["shape-mismatch", expect.stringMatching(/test data .*wide has 1x3x3 images but training data .* has 1x2x2/)]);
    writeImages(join(dir, "other"), "d", 255, 2);
    const other = await loadDataset(join(dir, "other"));
    const unknown = await errorOf(() => train(data, { arch: "mlp:4-16-3", test: other, epochs: 1 }));
    expect([unknown.code, unknown.message]).toEqual(["bad-data", expect.stringMatching(/sub-folder 'd' of .* is not one of the classes it is scored against \(a, b, c\)/)]);
  });
});
