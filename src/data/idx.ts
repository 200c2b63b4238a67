/**
 * IDX files (LeCun's MNIST format, also Fashion-MNIST): a big-endian uint32 magic 0x000008DD (0x08 = unsigned byte,
 * DD = number of dimensions), one big-endian uint32 per dimension, then the bytes. Images are N×H×W, labels N.
 */
import { fail } from "../errors.js";
import { assembleDataset, checkCounts, digitNames, inferClasses, keptCount } from "./assembleDataset.js";
import { bytesToUnit, readMaybeGzip } from "./bytes.js";
import type { Dataset } from "./types.js";

export interface IdxArray {
  dims: number[];
  /** The payload, a view into the file's bytes. */
  data: Uint8Array;
}

/** Parses an IDX file of unsigned bytes with `rank` dimensions; a wrong magic or length is `bad-data`. */
export function parseIdx(bytes: Uint8Array, rank: 1 | 3, path: string): IdxArray {
  const what = rank === 3 ? "IDX image file (magic 0x00000803)" : "IDX label file (magic 0x00000801)";
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = bytes.length >= 4 ? view.getUint32(0) : -1;
  if (magic !== 0x800 + rank) {
    const found = magic < 0 ? `only ${bytes.length} bytes` : `magic 0x${magic.toString(16).padStart(8, "0")}`;
    fail("bad-data", `${path} is not an ${what}: ${found}`, { path });
  }
  const header = 4 + 4 * rank;
  if (bytes.length < header) fail("bad-data", `${path} is truncated: ${bytes.length} bytes, shorter than its ${header}-byte header`, { path });
  const dims = Array.from({ length: rank }, (_, d) => view.getUint32(4 + 4 * d));
  const size = dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== header + size) {
    fail("bad-data", `${path} has ${bytes.length - header} data bytes but its header (${dims.join("x")}) needs ${size}`, { path });
  }
  return { dims, data: bytes.subarray(header) };
}

export interface IdxPairOptions {
  spec: string;
  limit?: number;
  /** Class names when the data set has its own (MNIST digits, Fashion-MNIST); else inferred from the labels. */
  classNames?: string[];
}

/** Loads an IDX image file and its label file (each gzipped or not) into a Dataset of [1, H, W] samples. */
export function loadIdxPair(imagesPath: string, labelsPath: string, options: IdxPairOptions): Dataset {
  const images = parseIdx(readMaybeGzip(imagesPath, "IDX image file"), 3, imagesPath);
  const labels = parseIdx(readMaybeGzip(labelsPath, "IDX label file"), 1, labelsPath);
  const [count, height, width] = images.dims;
  checkCounts(count, imagesPath, labels.dims[0], labelsPath);
  const n = keptCount(count, options.limit);
  const plane = height * width;
  const pixels = new Float32Array(n * plane);
  bytesToUnit(images.data, 0, n * plane, pixels);
  const labelArray = new Int32Array(labels.data.subarray(0, n));
  const classes = options.classNames
    ? { numClasses: options.classNames.length, classNames: options.classNames }
    : inferClasses(new Int32Array(labels.data));
  return assembleDataset({
    spec: options.spec,
    shape: [1, height, width],
    images: pixels,
    labels: labelArray,
    ...classes,
    source: `${imagesPath},${labelsPath}`,
    labelsSource: labelsPath,
  });
}

export const DIGITS = digitNames(10);
