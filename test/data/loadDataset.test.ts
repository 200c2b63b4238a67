import { createHash } from "node:crypto";
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { download } from "../../src/data/download.js";
import { loadDataset } from "../../src/data/loadDataset.js";
import { absoluteDataSpec, parseDataSpec } from "../../src/data/parseDataSpec.js";
import { LesionError } from "../../src/errors.js";
import { encodeNpy } from "../../src/runs/npy.js";

async function codeOf(run: () => unknown): Promise<string | undefined> {
  try {
    await run();
  } catch (error) {
    return error instanceof LesionError ? error.code : `not a LesionError: ${error}`;
  }
  return undefined;
}

function histogram(labels: Int32Array, k: number): number[] {
  const counts = new Array<number>(k).fill(0);
  for (const l of labels) counts[l]++;
  return counts;
}

function idx(rank: 1 | 3, dims: number[], data: Uint8Array): Uint8Array {
  const header = Buffer.alloc(4 + 4 * rank);
  header.writeUInt32BE(0x800 + rank, 0);
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return Buffer.concat([header, data]);
}

const dir = mkdtempSync(join(tmpdir(), "lesion-data-"));

describe("parseDataSpec", () => {
  it("parseDataSpec reads named sets, splits, idx, npy and folders", () => {
    expect(parseDataSpec("mnist")).toEqual({ kind: "mnist", split: "test" });
    // A misspelt kind is not a folder (helper trial 'newuser13' got "data folder not found: npz:…").
    expect(() => parseDataSpec("npz:a.npy,b.npy")).toThrow(/unknown data spec kind 'npz' in 'npz:a.npy,b.npy'; expected mnist/);
    expect(parseDataSpec("fashion-mnist:train")).toEqual({ kind: "fashion-mnist", split: "train" });
    expect(parseDataSpec("idx:a/t10k-images-idx3-ubyte.gz")).toEqual({ kind: "idx", images: "a/t10k-images-idx3-ubyte.gz", labels: "a/t10k-labels-idx1-ubyte.gz" });
    expect(parseDataSpec("npy:x.npy,y.npy")).toEqual({ kind: "npy", images: "x.npy", labels: "y.npy" });
    expect(parseDataSpec("./digits/")).toEqual({ kind: "folder", path: "./digits" });
    // Files without their kind had been read as a folder ("… is not a folder of class sub-folders").
    expect(() => parseDataSpec("x.npy,y.npy")).toThrow("data spec 'x.npy,y.npy' names .npy files: write it npy:IMAGES,LABELS");
    expect(() => parseDataSpec("data/t10k-images-idx3-ubyte.gz")).toThrow("names IDX files: write it idx:IMAGES[,LABELS]");
  });

  it("parseDataSpec splits an npy spec whose paths hold commas after the .npy that ends the images path (such a path was refused)", () => {
    expect(parseDataSpec("npy:runs 1,2/x.npy,runs 1,2/y.npy")).toEqual({ kind: "npy", images: "runs 1,2/x.npy", labels: "runs 1,2/y.npy" });
    expect(parseDataSpec("npy:a,b.npy,labels")).toEqual({ kind: "npy", images: "a,b.npy", labels: "labels" });
    expect(parseDataSpec(absoluteDataSpec("npy:a,b/x.npy,a,b/y.npy"))).toEqual({ kind: "npy", images: `${process.cwd()}/a,b/x.npy`, labels: `${process.cwd()}/a,b/y.npy` });
    // Two places to split: refused, naming the rule.
    expect(() => parseDataSpec("npy:a.npy,b.npy,c.npy")).toThrow("should be npy:IMAGES,LABELS (two .npy files; a path with a comma must end in .npy)");
  });

  it("absoluteDataSpec resolves the files and folder of a spec against the working directory; named sets stay", () => {
    const here = process.cwd();
    expect(absoluteDataSpec("npy:x.npy, sub/y.npy")).toBe(`npy:${here}/x.npy,${here}/sub/y.npy`);
    expect(absoluteDataSpec("idx:/abs/images.idx3")).toBe("idx:/abs/images.idx3,/abs/labels.idx1");
    expect(absoluteDataSpec("./digits/")).toBe(`${here}/digits`);
    expect(absoluteDataSpec("cifar10")).toBe("cifar10:test");
  });

  it("parseDataSpec reads a slice of a named split as Python slices it, and formats it back in its shortest form (a trial wrote .npy files to run on 2,000 images)", () => {
    expect(parseDataSpec("mnist:test[:2000]")).toEqual({ kind: "mnist", split: "test", range: { start: 0, end: 2000 } });
    expect(parseDataSpec("fashion-mnist:train[1000:3000]")).toEqual({ kind: "fashion-mnist", split: "train", range: { start: 1000, end: 3000 } });
    expect(parseDataSpec("cifar10:test[500:]")).toEqual({ kind: "cifar10", split: "test", range: { start: 500, end: null } });
    expect(absoluteDataSpec("mnist:test[0:2000]")).toBe("mnist:test[:2000]");
    expect(parseDataSpec("mnist:test[-500:-10]")).toEqual({ kind: "mnist", split: "test", range: { start: -500, end: -10 } });
    // A trial's `[:-10]` and `[::2]` were called an unknown split.
    expect(() => parseDataSpec("mnist:test[::2]")).toThrow("data spec 'mnist:test[::2]' slices with a step, which lesion does not take; write mnist:test[:]");
    expect(() => parseDataSpec("mnist:test[-5:-10]")).toThrow("slices no sample (-5 to -10)");
    expect(() => parseDataSpec("mnist[:20]")).toThrow("data spec 'mnist[:20]' slices no split; write mnist:test[:20] or mnist:train[:20]");
    expect(() => parseDataSpec("mnist:test[7:3]")).toThrow("data spec 'mnist:test[7:3]' slices no sample (7 to 3)");
  });

  it("parseDataSpec rejects a misspelt name, a bad split and an incomplete npy spec with bad-data-spec", async () => {
    expect(await codeOf(() => parseDataSpec("minst"))).toBe("bad-data-spec");
    expect(() => parseDataSpec("minst")).toThrow("unknown data spec 'minst'");
    expect(await codeOf(() => parseDataSpec("mnist:val"))).toBe("bad-data-spec");
    expect(await codeOf(() => parseDataSpec("npy:x.npy"))).toBe("bad-data-spec");
  });
});

describe("loadDataset", () => {
  it("loadDataset('mnist:test') gives the 10,000 test digits in [0,1], first label 7", async () => {
    const data = await loadDataset("mnist:test");
    expect([data.n, data.shape, data.numClasses]).toEqual([10000, [1, 28, 28], 10]);
    expect(data.labels[0]).toBe(7);
    // The MNIST test set's published class counts.
    expect(histogram(data.labels, 10)).toEqual([980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]);
    let min = Infinity;
    let max = -Infinity;
    for (const v of data.images) (min = Math.min(min, v)), (max = Math.max(max, v));
    expect([min, max]).toEqual([0, 1]);
  });

  it("loadDataset('mnist:train', {limit}) keeps the first samples", async () => {
    const data = await loadDataset("mnist:train", { limit: 100 });
    expect(data.n).toBe(100);
    expect(Array.from(data.labels.slice(0, 5))).toEqual([5, 0, 4, 1, 9]);
    expect(await codeOf(() => loadDataset("mnist", { limit: 0 }))).toBe("bad-option");
  });

  it("loadDataset('mnist:test[9990:]'), ('mnist:test[:5]'), ('mnist:test[-3:]') are those samples of mnist:test as Python slices it, named by their slice; an empty slice is bad-data-spec", async () => {
    const whole = await loadDataset("mnist:test");
    const tail = await loadDataset("mnist:test[9990:]");
    expect([tail.n, tail.spec]).toEqual([10, "mnist:test[9990:]"]);
    expect(Array.from(tail.labels)).toEqual(Array.from(whole.labels.subarray(9990)));
    expect(tail.images).toEqual(whole.images.subarray(9990 * 784));
    const head = await loadDataset("mnist:test[:5]");
    expect(Array.from(head.labels)).toEqual([7, 2, 1, 0, 4]);
    expect((await loadDataset("mnist:test[9990:]", { limit: 3 })).n).toBe(3);
    // As Python slices a list of 10,000: a bound past the end stops there, a negative one counts from it.
    expect((await loadDataset("mnist:test[9995:20000]")).n).toBe(5);
    const last = await loadDataset("mnist:test[-3:]");
    expect(Array.from(last.labels)).toEqual(Array.from(whole.labels.subarray(9997)));
    expect(Array.from((await loadDataset("mnist:test[-10:-7]")).labels)).toEqual(Array.from(whole.labels.subarray(9990, 9993)));
    expect((await loadDataset("mnist:test[:-9999]")).n).toBe(1);
    await expect(loadDataset("mnist:test[10000:]")).rejects.toThrow("data spec 'mnist:test[10000:]' slices no sample of the 10000 samples of mnist:test");
    expect(await codeOf(() => loadDataset("mnist:test[-20000:-10001]"))).toBe("bad-data-spec");
  });

  it("loadDataset('fashion-mnist:test') loads the bundled test set with Zalando's class names", async () => {
    const data = await loadDataset("fashion-mnist:test", { cacheDir: join(dir, "empty-cache"), download: false });
    expect([data.n, data.shape]).toEqual([10000, [1, 28, 28]]);
    expect(data.classNames[9]).toBe("Ankle boot");
    expect(histogram(data.labels, 10)).toEqual(new Array(10).fill(1000));
    expect(data.labels[0]).toBe(9);
  });

  it("loadDataset('cifar10:test') loads the bundled 1,000-image subset and says so", async () => {
    const data = await loadDataset("cifar10", { cacheDir: join(dir, "empty-cache") });
    expect([data.n, data.shape, data.classNames[0]]).toEqual([1000, [3, 32, 32], "airplane"]);
    expect(Array.from(data.labels.slice(0, 20))).toEqual([3, 8, 8, 0, 6, 6, 1, 6, 3, 1, 0, 9, 5, 7, 9, 8, 5, 7, 8, 6]);
    expect(histogram(data.labels, 10)).toEqual([103, 89, 100, 103, 90, 86, 112, 102, 106, 109]);
    expect(data.source).toContain("bundled subset");
    expect(await codeOf(() => loadDataset("cifar10:train", { cacheDir: join(dir, "empty-cache") }))).toBe("missing-file");
  });

  it("the bundled files match assets/data/SHA256SUMS", () => {
    const root = new URL("../../assets/data/", import.meta.url);
    const lines = readFileSync(new URL("SHA256SUMS", root), "utf8").trim().split("\n");
    expect(lines.length).toBe(4);
    for (const line of lines) {
      const [sum, name] = line.split(/\s+/);
      expect(createHash("sha256").update(readFileSync(new URL(name, root))).digest("hex"), name).toBe(sum);
    }
  });

  it("loadDataset('idx:…') reads gzipped and raw IDX pairs; mismatched counts are bad-data, a missing file missing-file", async () => {
    const pixels = Uint8Array.from({ length: 3 * 4 }, (_, i) => i * 20);
    writeFileSync(join(dir, "x-images-idx3-ubyte.gz"), gzipSync(idx(3, [3, 2, 2], pixels)));
    writeFileSync(join(dir, "x-labels-idx1-ubyte.gz"), gzipSync(idx(1, [3], Uint8Array.from([0, 2, 1]))));
    const data = await loadDataset(`idx:${join(dir, "x-images-idx3-ubyte.gz")}`);
    expect([data.n, data.shape, data.numClasses]).toEqual([3, [1, 2, 2], 3]);
    expect(data.images[5]).toBeCloseTo(100 / 255, 7);
    writeFileSync(join(dir, "short-labels.idx"), idx(1, [2], Uint8Array.from([0, 1])));
    expect(await codeOf(() => loadDataset(`idx:${join(dir, "x-images-idx3-ubyte.gz")},${join(dir, "short-labels.idx")}`))).toBe("bad-data");
    expect(await codeOf(() => loadDataset(`idx:${join(dir, "nope-images-idx3-ubyte")}`))).toBe("missing-file");
  });

  it("loadDataset('npy:…') names what is wrong with images of Python objects or of one dimension", async () => {
    // numpy.save of an object array: descr '|O', pickled data lesion cannot read as numbers.
    const header = "{'descr': '|O', 'fortran_order': False, 'shape': (2,), }";
    const padded = header + " ".repeat(64 - ((10 + header.length + 1) % 64)) + "\n";
    const bytes = new Uint8Array(10 + padded.length + 8);
    bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    new DataView(bytes.buffer).setUint16(8, padded.length, true);
    bytes.set(new TextEncoder().encode(padded), 10);
    writeFileSync(join(dir, "objects.npy"), bytes);
    writeFileSync(join(dir, "two.npy"), encodeNpy(Int32Array.from([1, 0]), [2]));
    await expect(loadDataset(`npy:${join(dir, "objects.npy")},${join(dir, "two.npy")}`)).rejects.toThrow(/objects\.npy holds Python objects \(\|O\), not numbers/);
    writeFileSync(join(dir, "flat.npy"), encodeNpy(new Float32Array(2 * 16), [32]));
    await expect(loadDataset(`npy:${join(dir, "flat.npy")},${join(dir, "two.npy")}`)).rejects.toThrow(/flat\.npy has shape \(32\); expected \[N,H,W\]/);
  });

  it("loadDataset('npy:…') reads uint8 NHWC and float NCHW images; pixels outside [0,1] are bad-data", async () => {
    const nhwc = Uint8Array.from({ length: 2 * 2 * 2 * 3 }, (_, i) => i);
    writeFileSync(join(dir, "rgb.npy"), encodeNpy(nhwc, [2, 2, 2, 3]));
    writeFileSync(join(dir, "l2.npy"), encodeNpy(Int32Array.from([1, 0]), [2]));
    const data = await loadDataset(`npy:${join(dir, "rgb.npy")},${join(dir, "l2.npy")}`);
    expect(data.shape).toEqual([3, 2, 2]);
    // Sample 0, channel 1 (G), pixel (0,1): source index (0·2+1)·3 + 1 = 4.
    expect(data.images[1 * 4 + 1]).toBeCloseTo(4 / 255, 7);
    writeFileSync(join(dir, "big.npy"), encodeNpy(Float32Array.from([0.5, 2]), [2, 1]));
    expect(await codeOf(() => loadDataset(`npy:${join(dir, "big.npy")},${join(dir, "l2.npy")}`))).toBe("bad-data");
    // 0..255 pixels as int32 (numpy's default integers): refused with the dtype that reads them.
    writeFileSync(join(dir, "int.npy"), encodeNpy(Int32Array.from([37, 255]), [2, 1]));
    await expect(loadDataset(`npy:${join(dir, "int.npy")},${join(dir, "l2.npy")}`)).rejects.toThrow(/sample 0 has 37 \(<i4 pixels are read as fractions: save 0\.\.255 pixels as uint8, numpy: images\.astype\(np\.uint8\)\)$/);
  });

  it("loadDataset('./folder') reads class sub-folders of PNG and JPEG images, sorted", async () => {
    const root = join(dir, "images");
    for (const [cls, value] of [["cat", 40], ["dog", 200]] as const) {
      mkdirSync(join(root, cls), { recursive: true });
      const png = new PNG({ width: 3, height: 2 });
      png.data.fill(value);
      for (let p = 3; p < png.data.length; p += 4) png.data[p] = 255;
      writeFileSync(join(root, cls, "a.png"), PNG.sync.write(png));
    }
    // A 3x2 grayscale JPEG of level 128 (PIL, test/fixtures/imagefolder/make_imagefolder_fixtures.py).
    copyFileSync(new URL("../fixtures/imagefolder/gray128.jpg", import.meta.url), join(root, "dog", "b.jpg"));
    const data = await loadDataset(root);
    expect([data.n, data.shape, data.classNames, Array.from(data.labels)]).toEqual([3, [1, 2, 3], ["cat", "dog"], [0, 1, 1]]);
    expect([data.images[0], data.images[6 * 2]]).toEqual([Math.fround(40 / 255), Math.fround(128 / 255)]);
    const odd = new PNG({ width: 5, height: 5 });
    writeFileSync(join(root, "dog", "c.png"), PNG.sync.write(odd));
    await expect(loadDataset(root)).rejects.toThrow(/c\.png is 5x5 but .* is 3x2/);
    // A 16-bit PNG would be rounded to 8 bits by the decoder: refused in one line instead.
    const deep = new PNG({ width: 3, height: 2, bitDepth: 16, colorType: 0, inputColorType: 0, inputHasAlpha: false });
    deep.data = Buffer.from(new Uint16Array([0, 65535, 32768, 1000, 7, 9]).buffer);
    writeFileSync(join(root, "dog", "c.png"), PNG.sync.write(deep, { bitDepth: 16, colorType: 0, inputColorType: 0, inputHasAlpha: false }));
    await expect(loadDataset(root)).rejects.toThrow(/c\.png is a 16-bit PNG; lesion reads 8-bit PNG and JPEG folders/);
  });

  it("loadDataset('./folder') reads the images in a class's sub-folders too, in torchvision ImageFolder's order (helper trial 'newuser62': left out)", async () => {
    // ImageFolder: sorted(os.walk(class folder)), files sorted within each folder; so a/z.png, then a/sub/y.png, then
    // a2 (whose path sorts after a/sub: "/" < "2"). Each image's grey level says which it is.
    const root = join(dir, "nested");
    const write = (path: string, value: number) => {
      mkdirSync(join(root, path, ".."), { recursive: true });
      const png = new PNG({ width: 2, height: 2 });
      png.data.fill(value);
      for (let p = 3; p < png.data.length; p += 4) png.data[p] = 255;
      writeFileSync(join(root, path), PNG.sync.write(png));
    };
    write("a/z.png", 10);
    write("a/sub/y.png", 20);
    write("a/sub/deeper/x.png", 30);
    write("a2/w.png", 40);
    const data = await loadDataset(root);
    expect([data.n, data.classNames, Array.from(data.labels)]).toEqual([4, ["a", "a2"], [0, 0, 0, 1]]);
    expect([0, 1, 2, 3].map((i) => Math.round(data.images[i * 4] * 255))).toEqual([10, 20, 30, 40]);
  });
});

describe("download", () => {
  let server: Server;
  let base = "";
  let hits = 0;
  const payload = gzipSync(idx(1, [4], Uint8Array.from([1, 2, 3, 4])));
  const sha = createHash("sha256").update(payload).digest("hex");

  beforeAll(async () => {
    server = createServer((request, response) => {
      hits++;
      if (request.url === "/file.gz") response.end(payload);
      else response.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("download(url, path, {sha256}) writes the verified file and nothing else", async () => {
    const target = join(dir, "dl", "ok", "file.gz");
    await download(`${base}/file.gz`, target, { sha256: sha });
    expect(readFileSync(target)).toEqual(payload);
    expect(readdirSync(join(dir, "dl", "ok"))).toEqual(["file.gz"]);
  });

  it("download with a wrong SHA-256 is checksum-mismatch and leaves nothing", async () => {
    const target = join(dir, "dl", "bad", "file.gz");
    expect(await codeOf(() => download(`${base}/file.gz`, target, { sha256: "0".repeat(64) }))).toBe("checksum-mismatch");
    expect(readdirSync(join(dir, "dl", "bad"))).toEqual([]);
  });

  it("download of a 404 or from a closed port is download-failed and leaves nothing", async () => {
    const target = join(dir, "dl", "missing", "file.gz");
    expect(await codeOf(() => download(`${base}/nope.gz`, target, { sha256: sha }))).toBe("download-failed");
    expect(await codeOf(() => download("http://127.0.0.1:1/file.gz", target, { sha256: sha }))).toBe("download-failed");
    expect(existsSync(target)).toBe(false);
  });

  it("loadDataset('fashion-mnist:train') downloads into the cache once, from the mirror, checked", async () => {
    const images = readFileSync(new URL("../../assets/data/fashion-mnist/t10k-images-idx3-ubyte.gz", import.meta.url));
    const labels = readFileSync(new URL("../../assets/data/fashion-mnist/t10k-labels-idx1-ubyte.gz", import.meta.url));
    // The mirror serves the test files under the train names: the checksums must then refuse them.
    const mirror = createServer((request, response) => response.end(request.url?.includes("images") ? images : labels));
    await new Promise<void>((resolve) => mirror.listen(0, "127.0.0.1", resolve));
    const url = `http://127.0.0.1:${(mirror.address() as AddressInfo).port}/`;
    try {
      const cacheDir = join(dir, "cache-train");
      expect(await codeOf(() => loadDataset("fashion-mnist:train", { cacheDir, mirror: url }))).toBe("checksum-mismatch");
      expect(existsSync(join(cacheDir, "fashion-mnist", "train-images-idx3-ubyte.gz"))).toBe(false);
      expect(await codeOf(() => loadDataset("fashion-mnist:train", { cacheDir, download: false }))).toBe("missing-file");
    } finally {
      await new Promise<void>((resolve) => mirror.close(() => resolve()));
    }
  });
});
