/**
 * Image folders read as torchvision's ImageFolder reads them: pixels, classes and labels equal to what it gives for
 * the same files (test/fixtures/imagefolder/reference.json, made by make_imagefolder_fixtures.py with torchvision
 * 0.14 and PIL on libjpeg-turbo). A trial found colour JPEGs 47 levels off PIL, a folder 0..11 numbered 0..11 where
 * ImageFolder has "10" as class 2, and a grayscale folder read with one channel for an RGB model.
 */
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import { imageFolderClassNames, matchClassNames } from "../../src/data/matchClassNames.js";
import { buildClassifier } from "../../src/onnx/build.js";
import { encodeModel } from "../../src/onnx/proto.js";
import { errorOf } from "../helpers.js";
import { runLesion } from "../lesionCli.js";

const FIXTURES = fileURLToPath(new URL("../fixtures/imagefolder/", import.meta.url));
interface Read {
  classes: string[];
  targets: number[];
  pixels: number[][];
}
const REFERENCE = JSON.parse(readFileSync(join(FIXTURES, "reference.json"), "utf8")) as { colour: { rgb: Read; gray: Read }; numbered: Read; from1: Read };
const dir = mkdtempSync(join(tmpdir(), "lesion-folder-"));

/** The dataset's pixels as ImageFolder's uint8 tensors (one flat CHW list per sample). */
function bytes(data: { n: number; images: Float32Array }): number[][] {
  const size = data.images.length / data.n;
  return Array.from({ length: data.n }, (_, s) => Array.from(data.images.subarray(s * size, (s + 1) * size), (v) => Math.round(v * 255)));
}

/**
 * A 12-class RGB model without class names, trained (by hand) as ImageFolder numbers the folders 0..11: class c is
 * the folder k = imageFolderClassNames(12)[c], whose images have gray level 10k. With x the mean pixel and m_c = 10k/255,
 * logit c = 2·m_c·x − m_c² = x² − (x − m_c)²: the largest is the nearest level, so every image is its folder's class.
 */
function numberedModel(): Uint8Array {
  const levels = REFERENCE.numbered.classes.map((k) => (10 * Number(k)) / 255);
  const weight = new Float32Array(12 * 12);
  levels.forEach((m, c) => weight.fill((2 * m) / 12, c * 12, (c + 1) * 12));
  return encodeModel(
    buildClassifier({
      inputShape: [3, 2, 2],
      layers: [
        { op: "flatten" },
        { op: "linear", name: "fc", weight, shape: [12, 12], bias: Float32Array.from(levels, (m) => -m * m) },
      ],
    }),
  );
}

describe("image folders as ImageFolder reads them", () => {
  it("colour JPEGs (4:2:0, 4:2:2, 4:4:4, progressive), a gray JPEG and RGBA/palette PNGs equal PIL's pixels, in RGB and converted to L", async () => {
    const rgb = await loadDataset(join(FIXTURES, "colour"));
    expect([rgb.classNames, Array.from(rgb.labels), rgb.shape]).toEqual([REFERENCE.colour.rgb.classes, REFERENCE.colour.rgb.targets, [3, 11, 13]]);
    expect(bytes(rgb)).toEqual(REFERENCE.colour.rgb.pixels);
    const gray = await loadDataset(join(FIXTURES, "colour"), { channels: 1 });
    expect(gray.shape).toEqual([1, 11, 13]);
    expect(bytes(gray)).toEqual(REFERENCE.colour.gray.pixels);
  });

  it("a grayscale folder read for a 3-channel model repeats the gray as ImageFolder's RGB loader does", async () => {
    expect((await loadDataset(join(FIXTURES, "numbered"))).shape).toEqual([1, 2, 2]);
    const data = await loadDataset(join(FIXTURES, "numbered"), { channels: 3 });
    expect(bytes(data)).toEqual(REFERENCE.numbered.pixels);
    expect((await errorOf(() => loadDataset(join(FIXTURES, "numbered"), { channels: 2 }))).code).toBe("bad-option");
  });

  it("sub-folders 0..11 of a 12-class model without names are ImageFolder's classes ('10' is class 2); 1..10 of a 10-class model keep their sorted order", async () => {
    expect(imageFolderClassNames(12)).toEqual(REFERENCE.numbered.classes);
    const numbered = await loadDataset(join(FIXTURES, "numbered"), { classNames: null, numClasses: 12 });
    expect(Array.from(numbered.labels)).toEqual(REFERENCE.numbered.targets);
    // Each sample's gray level (10 × its folder's number) against its label: folder "10" is class 2.
    expect(Array.from(numbered.labels, (label, s) => [label, Math.round(numbered.images[s * 4] * 255)])[2]).toEqual([2, 100]);
    const from1 = await loadDataset(join(FIXTURES, "from1"), { classNames: null, numClasses: 10 });
    expect([from1.classNames, Array.from(from1.labels)]).toEqual([REFERENCE.from1.classes, REFERENCE.from1.targets]);
  });

  it("a folder with only some of 0..11 gets the classes the full folder had in ImageFolder (3 → 5, 11 → 3)", async () => {
    const root = join(dir, "some");
    for (const k of ["3", "11"]) cpSync(join(FIXTURES, "numbered", k), join(root, k), { recursive: true });
    const loaded = await loadDataset(root);
    const data = matchClassNames(loaded, null, 12);
    expect([data.numClasses, Array.from(data.labels)]).toEqual([12, ["11", "3"].map((name) => REFERENCE.numbered.classes.indexOf(name))]);
    // A 10-class model (MNIST's 3/ and 7/): the numbers are the classes.
    const mnist = join(dir, "mnist");
    for (const k of ["3", "7"]) cpSync(join(FIXTURES, "numbered", k), join(mnist, k), { recursive: true });
    expect(Array.from((await loadDataset(mnist, { classNames: null, numClasses: 10 })).labels)).toEqual([3, 7]);
  });

  it("folders and files are in Python's order, code point by code point (JavaScript's sort put 😀 before ｆ)", async () => {
    // sorted(["apple", "ｆull", "😀smile"]) in Python: U+0061 < U+FF46 < U+1F600. UTF-16 has 😀 as D83D DE00 < FF46.
    const root = join(dir, "unicode");
    for (const name of ["😀smile", "apple", "ｆull"]) cpSync(join(FIXTURES, "numbered", "3"), join(root, name), { recursive: true });
    for (const name of ["𠮷.png", "ｆ.png"]) cpSync(join(FIXTURES, "numbered", "5", "x.png"), join(root, "apple", name));
    const data = await loadDataset(root);
    expect(data.classNames).toEqual(["apple", "ｆull", "😀smile"]);
    // apple/ holds x.png (level 30), then ｆ.png and 𠮷.png (level 50): "x" < "ｆ" < "𠮷".
    expect(Array.from(data.labels)).toEqual([0, 0, 0, 1, 2]);
  });

  it("some of the folders 1..10 of a 10-class model without names get the classes ImageFolder gave 1..10 (10 → 1, 5 → 5)", async () => {
    const root = join(dir, "some-from1");
    for (const k of ["1", "10", "5"]) cpSync(join(FIXTURES, "from1", k), join(root, k), { recursive: true });
    const data = await loadDataset(root, { classNames: null, numClasses: 10 });
    expect(Array.from(data.labels)).toEqual(["1", "10", "5"].map((name) => REFERENCE.from1.classes.indexOf(name)));
  });

  it("a class sub-folder without images (_unused/, .ipynb_checkpoints/) and an image type ImageFolder counts but lesion cannot read are bad-data", async () => {
    const root = join(dir, "extra");
    cpSync(join(FIXTURES, "from1"), root, { recursive: true });
    mkdirSync(join(root, ".ipynb_checkpoints"));
    writeFileSync(join(root, ".ipynb_checkpoints", "notes-checkpoint.ipynb"), "{}");
    const empty = await errorOf(() => loadDataset(root));
    expect([empty.code, empty.message]).toEqual(["bad-data", expect.stringMatching(/class sub-folder without images: \.ipynb_checkpoints; every sub-folder is a class/)]);
    const bmp = join(dir, "bmp");
    cpSync(join(FIXTURES, "from1"), bmp, { recursive: true });
    writeFileSync(join(bmp, "2", "y.bmp"), "BM");
    expect((await errorOf(() => loadDataset(bmp))).message).toMatch(/y\.bmp is a BMP image; lesion reads PNG and JPEG/);
  });

  it("a truncated JPEG, a corrupt PNG and a file that is neither are one bad-data line each, naming the file", async () => {
    const root = join(dir, "broken");
    mkdirSync(join(root, "a"), { recursive: true });
    const jpeg = readFileSync(join(FIXTURES, "colour", "a", "c420.jpg"));
    // Cut in its scan data (libjpeg warns and fills gray, PIL refuses) and before it (libjpeg fails).
    for (const cut of [10, 200]) {
      writeFileSync(join(root, "a", "t.jpg"), jpeg.subarray(0, jpeg.length - cut));
      const truncated = await errorOf(() => loadDataset(root));
      expect([truncated.code, truncated.message]).toEqual(["bad-data", expect.stringMatching(/t\.jpg is not a readable JPEG image \(Premature end of JPEG file\)$/)]);
    }
    writeFileSync(join(root, "a", "t.jpg"), Buffer.from("not an image"));
    expect((await errorOf(() => loadDataset(root))).message).toMatch(/t\.jpg is not a PNG or JPEG image/);
    copyFileSync(join(FIXTURES, "numbered", "3", "x.png"), join(root, "a", "t.jpg"));
    const png = readFileSync(join(root, "a", "t.jpg"));
    writeFileSync(join(root, "a", "t.jpg"), png.subarray(0, 40));
    expect((await errorOf(() => loadDataset(root))).message).toMatch(/t\.jpg is not a readable PNG image \(corrupt or truncated data\)$/);
  });

  it("lesion eval of an RGB 12-class model on the gray folder 0..11 scores 100 % as in PyTorch, and says how the folders are numbered", () => {
    writeFileSync(join(dir, "numbered.onnx"), numberedModel());
    const run = runLesion(["eval", join(dir, "numbered.onnx"), "--data", join(FIXTURES, "numbered"), "--json"]);
    expect([run.status, JSON.parse(run.stdout).accuracy]).toEqual([0, 1]);
    expect(run.stderr).toMatch(/^lesion: note: numbered\.onnx names no classes, so the sub-folders of .* are numbered as torchvision's ImageFolder numbers folders 0\.\.11, taken to be those the model was trained on \(folder → class: 0\/ → 0, 1\/ → 1, 10\/ → 2, 11\/ → 3, 2\/ → 4,/);
    // A hidden sub-folder with an image is a 13th class, as in ImageFolder: said as such, not as "label 12 out of range".
    const hidden = join(dir, "hidden");
    cpSync(join(FIXTURES, "numbered"), hidden, { recursive: true });
    cpSync(join(FIXTURES, "numbered", "3"), join(hidden, ".ipynb_checkpoints"), { recursive: true });
    const extra = runLesion(["eval", join(dir, "numbered.onnx"), "--data", hidden]);
    expect([extra.status, extra.stderr.split("\n").at(-2)]).toEqual([1, expect.stringMatching(/^lesion: image folder .*hidden has 13 class sub-folders \(\.ipynb_checkpoints, 0, 1, 10, .*\) but model numbered\.onnx has 12 classes; every sub-folder is a class, hidden ones too$/)]);
    // The table of a folder of two of the classes: rows named by folder and output (10/ is output 2), the empty
    // classes counted, not listed.
    const two = join(dir, "two");
    for (const folder of ["10", "3"]) cpSync(join(FIXTURES, "numbered", folder), join(two, folder), { recursive: true });
    const table = runLesion(["eval", join(dir, "numbered.onnx"), "--data", two]);
    expect([table.status, table.stdout.split("\n").slice(1)]).toEqual([0, [expect.stringMatching(/^ {2}10 \(output 2\) +100\.00% {2}\(\d+\)$/), expect.stringMatching(/^ {2}3 \(output 5\) +100\.00% {2}\(\d+\)$/), "  (10 of 12 classes have no samples here: not listed)", ""]]);
    // Named without ./, an existing folder is a folder.
    const bare = runLesion(["eval", join(dir, "numbered.onnx"), "--data", "numbered", "--json"], { cwd: FIXTURES });
    expect([bare.status, JSON.parse(bare.stdout).accuracy]).toEqual([0, 1]);
  });
});
