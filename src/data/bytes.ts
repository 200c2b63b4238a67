/** Byte-level helpers shared by the loaders: gzip detection and uint8 → [0,1] conversion without per-pixel allocation. */
import { gunzipSync } from "node:zlib";
import { fail } from "../errors.js";
import { readFileChecked } from "../files.js";

/** i/255 for every byte, rounded to float32: the same values as PyTorch's `ToTensor` (x.float().div(255)). */
const UNIT = Float32Array.from({ length: 256 }, (_, i) => i / 255);

/** Writes bytes[from .. from+count) as [0,1] floats into out[at ..]. */
export function bytesToUnit(bytes: Uint8Array, from: number, count: number, out: Float32Array, at = 0): void {
  // Zero-based views and a local table: V8 compiles this loop without offset arithmetic (~1.5x faster on MNIST).
  const source = bytes.subarray(from, from + count);
  const target = out.subarray(at, at + count);
  const unit = UNIT;
  for (let i = 0; i < source.length; i++) target[i] = unit[source[i]];
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Reads a file, decompressing it when it starts with the gzip magic (whatever its name). */
export function readMaybeGzip(path: string, what: string): Uint8Array {
  const raw = readFileChecked(path, what);
  if (!isGzip(raw)) return raw;
  try {
    return gunzipSync(raw);
  } catch (error) {
    fail("bad-data", `${what} ${path} is not a valid gzip file (${(error as Error).message})`, { path });
  }
}
