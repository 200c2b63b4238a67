/** What identifies a data set's content, so results and reused study steps are tied to the bytes, not the spec. */
import { createHash } from "node:crypto";
import { absoluteDataSpec } from "./parseDataSpec.js";
import type { Dataset } from "./types.js";

/** What identifies a loaded data set (`dataIdentity`): in every provenance and run identity. */
export interface DataIdentity {
  /**
   * The spec it was loaded from, its paths absolute (`absoluteDataSpec`): `npy:./x.npy,y.npy` from one directory and
   * `npy:/data/x.npy,/data/y.npy` from another are one data set (a trial's rerun with `./` had recomputed every step).
   */
  spec: string;
  /** Samples. */
  n: number;
  /** [C, H, W] of one sample. */
  shape: [number, number, number];
  /** SHA-256 of the loaded pixels (float32, NCHW, little-endian) followed by the labels (int32): a changed file, limit or subset gives another. */
  sha256: string;
}

// Hashing MNIST's 10,000 test images takes ~50 ms: once per loaded data set, weakly held.
const computed = new WeakMap<Dataset, DataIdentity>();

/** The data set's identity: spec, size and a SHA-256 of its loaded content (computed once per Dataset object). Throws nothing. */
export function dataIdentity(data: Dataset): DataIdentity {
  let identity = computed.get(data);
  if (!identity) {
    const sha256 = createHash("sha256")
      .update(new Uint8Array(data.images.buffer, data.images.byteOffset, data.images.byteLength))
      .update(new Uint8Array(data.labels.buffer, data.labels.byteOffset, data.labels.byteLength))
      .digest("hex");
    identity = { spec: canonicalSpec(data.spec), n: data.n, shape: [...data.shape], sha256 };
    computed.set(data, identity);
  }
  return identity;
}

/** The spec with absolute paths; a spec that names no files (a data set built in code, "tiny") as it is. */
function canonicalSpec(spec: string): string {
  try {
    return absoluteDataSpec(spec);
  } catch {
    return spec;
  }
}
