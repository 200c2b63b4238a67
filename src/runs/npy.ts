/** NumPy .npy (format 1.0) writing, so every matrix loads with numpy.load as it is. */
import { fail } from "../errors.js";
import { writeFileAtomic } from "../files.js";

type NpyValues = Float32Array | Float64Array | Int32Array | Uint8Array;

/**
 * The bytes of a .npy file (format 1.0, C order) holding `data` with `shape`: dtype `<f4`, `<f8`, `<i4` or `|u1` from
 * the typed array, values as they are in memory (little-endian on every platform Node runs lesion on).
 * @throws LesionError `bad-option` where `shape` is not whole numbers ≥ 0 whose product is `data.length` (numpy
 * could not load the file).
 */
export function encodeNpy(data: NpyValues, shape: readonly number[]): Uint8Array {
  const counts = shape.every((d) => Number.isSafeInteger(d) && d >= 0);
  const size = shape.reduce((a, b) => a * b, 1);
  if (!counts || size !== data.length) fail("bad-option", `an array of ${data.length} values cannot have shape [${shape.join(", ")}]${counts ? ` (${size} values)` : ""}`, { options: ["shape"], value: [...shape] });
  const descr = data instanceof Float32Array ? "<f4" : data instanceof Float64Array ? "<f8" : data instanceof Int32Array ? "<i4" : "|u1";
  const shapeText = shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shapeText}, }`;
  // The header (magic, version, length, text, newline) is padded with spaces to a multiple of 64 bytes.
  const unpadded = 10 + header.length + 1;
  header = header + " ".repeat((64 - (unpadded % 64)) % 64) + "\n";
  const out = new Uint8Array(10 + header.length + data.byteLength);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  new DataView(out.buffer).setUint16(8, header.length, true);
  out.set(new TextEncoder().encode(header), 10);
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), 10 + header.length);
  return out;
}

/**
 * Writes `encodeNpy(data, shape)` to `path` atomically (a temporary sibling, then a rename), creating missing
 * directories.
 * @throws LesionError `bad-option` (data and shape disagree); `unwritable-path` (a directory or device at `path`, or a
 * file-system fault: permission, read-only, disk full, a file where a directory should be).
 */
export function writeNpy(path: string, data: NpyValues, shape: readonly number[]): void {
  writeFileAtomic(path, encodeNpy(data, shape));
}
