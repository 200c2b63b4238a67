/** NumPy .npy (format 1.0) writing, so every matrix loads with numpy.load as it is. */
import { writeFileAtomic } from "../files.js";

type NpyValues = Float32Array | Float64Array | Int32Array | Uint8Array;

export function encodeNpy(data: NpyValues, shape: readonly number[]): Uint8Array {
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

export function writeNpy(path: string, data: NpyValues, shape: readonly number[]): void {
  writeFileAtomic(path, encodeNpy(data, shape));
}
