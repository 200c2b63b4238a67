/**
 * `npy:IMAGES,LABELS`: two NumPy .npy files (format 1.0–3.0, C order, little-endian).
 * Images: uint8 (÷255) or float32/float64 already in [0,1], shaped [N,H,W], [N,C,H,W], [N,H,W,C] with C = 1 or 3
 * (channels-last is assumed only when the last axis is 1 or 3 and the second is not), or [N,D] with D a square
 * (one channel). Labels: [N] integers (int8..int64, uint8..uint32).
 */
import { fail } from "../errors.js";
import { readFileChecked } from "../files.js";
import { assembleDataset, checkCounts, inferClasses, keptCount } from "./assembleDataset.js";
import type { Dataset } from "./types.js";

export interface NpyArray {
  descr: string;
  shape: number[];
  /** The raw little-endian payload. */
  data: Uint8Array;
}

export function parseNpy(bytes: Uint8Array, path: string): NpyArray {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59];
  if (bytes.length < 10 || magic.some((m, i) => bytes[i] !== m)) fail("bad-data", `${path} is not a .npy file (no \\x93NUMPY magic)`, { path });
  const major = bytes[6];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (!descr || !fortran || shapeText === undefined) fail("bad-data", `${path} has an unreadable .npy header: ${header.trim()}`, { path });
  if (fortran === "True") fail("bad-data", `${path} is stored in Fortran order; save it with numpy.ascontiguousarray`, { path });
  const shape = shapeText.split(",").map((s) => s.trim()).filter(Boolean).map(Number);
  const data = bytes.subarray(start + headerLength);
  // Python objects (an array of arrays of different lengths, strings) have no fixed item size to read.
  if (descr.endsWith("O")) fail("bad-data", `${path} holds Python objects (${descr}), not numbers; save a numeric array (numpy.stack, .astype)`, { path });
  const itemSize = Number(/\d+$/.exec(descr)?.[0] ?? NaN);
  const count = shape.reduce((a, b) => a * b, 1);
  if (!(itemSize > 0) || data.length < count * itemSize) fail("bad-data", `${path} is truncated: shape (${shape.join(", ")}) of ${descr} needs ${count * itemSize} bytes, has ${data.length}`, { path });
  return { descr, shape, data: data.subarray(0, count * itemSize) };
}

/** The array's values as float64 (labels) or, for images, as [0,1] float32. */
function numbers(array: NpyArray, path: string): Float64Array {
  const { descr, data } = array;
  // A copy, aligned for the typed-array views below (a Buffer's slice() would share and keep the file's offset).
  const copy = new Uint8Array(data);
  const buffer = copy.buffer;
  const length = array.shape.reduce((a, b) => a * b, 1);
  switch (descr.replace(/^[<|=]/, "")) {
    case "u1":
      return Float64Array.from(copy);
    case "i1":
      return Float64Array.from(new Int8Array(buffer, 0, length));
    case "u2":
      return Float64Array.from(new Uint16Array(buffer, 0, length));
    case "i2":
      return Float64Array.from(new Int16Array(buffer, 0, length));
    case "u4":
      return Float64Array.from(new Uint32Array(buffer, 0, length));
    case "i4":
      return Float64Array.from(new Int32Array(buffer, 0, length));
    case "i8":
      return Float64Array.from(new BigInt64Array(buffer, 0, length), Number);
    case "u8":
      return Float64Array.from(new BigUint64Array(buffer, 0, length), Number);
    case "f4":
      return Float64Array.from(new Float32Array(buffer, 0, length));
    case "f8":
      return new Float64Array(buffer, 0, length);
    default:
      fail("bad-data", `${path} holds ${descr}; lesion reads little-endian integers and float32/float64`, { path });
  }
}

export function loadNpyPair(imagesPath: string, labelsPath: string, spec: string, limit?: number): Dataset {
  const images = parseNpy(readFileChecked(imagesPath, "images .npy file"), imagesPath);
  const labels = parseNpy(readFileChecked(labelsPath, "labels .npy file"), labelsPath);
  if (labels.shape.length !== 1) fail("bad-data", `${labelsPath} must be a 1-D array of labels, has shape (${labels.shape.join(", ")})`, { path: labelsPath });
  if (labels.descr.includes("f")) fail("bad-data", `${labelsPath} holds floats (${labels.descr}); labels must be integers`, { path: labelsPath });
  // A 1-D images array has no sample axis to count along: its shape is the problem, not a count mismatch.
  if (images.shape.length < 2) imageShape(images.shape, imagesPath);
  checkCounts(images.shape[0], imagesPath, labels.shape[0], labelsPath);
  const { shape, channelsLast } = imageShape(images.shape, imagesPath);
  const n = keptCount(images.shape[0], limit);
  const values = numbers(images, imagesPath);
  const scale = images.descr.endsWith("u1") ? 1 / 255 : 1;
  const [c, h, w] = shape;
  const size = c * h * w;
  const pixels = new Float32Array(n * size);
  for (let s = 0; s < n; s++) {
    for (let i = 0; i < size; i++) {
      // NCHW target index i = ch·h·w + y·w + x; channels-last source is (y·w + x)·c + ch.
      const source = channelsLast ? (i % (h * w)) * c + Math.floor(i / (h * w)) : i;
      const v = values[s * size + source] * scale;
      if (!(v >= 0 && v <= 1)) {
        // Pixels 0..255 in a wider integer type (numpy's default int64) are only a dtype away from being read.
        const hint = /^[<|=]?[iu]\d$/.test(images.descr) ? ` (${images.descr} pixels are read as fractions: save 0..255 pixels as uint8, numpy: images.astype(np.uint8))` : "";
        fail("bad-data", `${imagesPath}: pixel values must lie in [0,1] (or be uint8); sample ${s} has ${values[s * size + source]}${hint}`, { path: imagesPath, sample: s });
      }
      pixels[s * size + i] = v;
    }
  }
  const allLabels = Int32Array.from(numbers(labels, labelsPath));
  return assembleDataset({ spec, shape, images: pixels, labels: allLabels.slice(0, n), ...inferClasses(allLabels), source: `${imagesPath},${labelsPath}`, labelsSource: labelsPath });
}

function imageShape(shape: number[], path: string): { shape: [number, number, number]; channelsLast: boolean } {
  const [, a, b, c] = shape;
  if (shape.length === 2 && Number.isInteger(Math.sqrt(a))) return { shape: [1, Math.sqrt(a), Math.sqrt(a)], channelsLast: false };
  if (shape.length === 3) return { shape: [1, a, b], channelsLast: false };
  if (shape.length === 4) {
    if ((c === 1 || c === 3) && a !== 1 && a !== 3) return { shape: [c, a, b], channelsLast: true };
    return { shape: [a, b, c], channelsLast: false };
  }
  fail("bad-data", `${path} has shape (${shape.join(", ")}); expected [N,H,W], [N,C,H,W], [N,H,W,C] or [N,D] with D a square`, { path });
}
