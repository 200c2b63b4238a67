/**
 * Tells a PyTorch checkpoint from other bytes by its first bytes, without reading it: so that a checkpoint given
 * where a model is expected gets "this is a checkpoint, import it" instead of a protobuf parse error.
 */
import { createRequire } from "node:module";
import type * as Fflate from "fflate";

/**
 * `zip`: a `torch.save` zip archive (PyTorch ≥ 1.6: a zip holding `<name>/data.pkl`); `torchscript`: a
 * `torch.jit.save` archive (the same zip with the modules' code in `code/` and `constants.pkl`); `legacy`: the legacy
 * `torch.save` format (a pickle of torch's magic number 0x1950a86a20f9469cfc6c first); `safetensors`: an 8-byte
 * little-endian header length, then a JSON object; `pickle`: another Python pickle (protocol 2 to 5), which
 * `torch.save` does not write and lesion does not read.
 */
export type CheckpointFormat = "zip" | "torchscript" | "legacy" | "safetensors" | "pickle";

/** PROTO 2, LONG1 of 10 bytes: torch's magic number, little-endian. */
const LEGACY_START = [0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];

/** The format of a checkpoint, or null for bytes that are none of these (an ONNX model among them). Reads the first bytes (a zip's entry names) only; throws nothing. */
export function checkpointFormat(bytes: Uint8Array): CheckpointFormat | null {
  if (bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) return torchZip(bytes);
  if (LEGACY_START.every((b, i) => bytes[i] === b)) return "legacy";
  if (bytes.length >= 2 && bytes[0] === 0x80 && bytes[1] >= 2 && bytes[1] <= 5) return "pickle";
  return isSafetensors(bytes) ? "safetensors" : null;
}

function torchZip(bytes: Uint8Array): "zip" | "torchscript" | null {
  const names: string[] = [];
  try {
    // fflate is loaded here, on the first zip, not with this module: every ONNX model passes through checkpointFormat,
    // and importing fflate up front cost each command ~20 ms of start-up.
    const { unzipSync } = createRequire(import.meta.url)("fflate") as typeof Fflate;
    // The filter sees every entry's name and decompresses none.
    unzipSync(bytes, { filter: (file) => (names.push(file.name), false) });
  } catch {
    // A damaged archive: judge by the names read so far.
  }
  if (!names.some((name) => name === "data.pkl" || name.endsWith("/data.pkl"))) return null;
  return names.some(isTorchScriptEntry) ? "torchscript" : "zip";
}

/** Entries only `torch.jit.save` writes: the scripted modules' code and their constants. */
export function isTorchScriptEntry(name: string): boolean {
  return name.endsWith("/constants.pkl") || name === "constants.pkl" || name.includes("/code/") || name.startsWith("code/");
}

function isSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 10 || bytes[8] !== 0x7b) return false;
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true));
  if (length < 2 || 8 + length > bytes.length) return false;
  try {
    const header: unknown = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
    return typeof header === "object" && header !== null && !Array.isArray(header);
  } catch {
    return false;
  }
}
