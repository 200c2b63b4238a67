/**
 * Provenance of a result: what computed it (lesion, onnxruntime, Node, threads, graph optimisation level) and on what
 * (the model's SHA-256, the data's identity with a SHA-256 of its content, the seed). Every verb's summary.json
 * carries one, so a result can be traced and reproduced.
 */
import { dataIdentity, type DataIdentity } from "../data/dataIdentity.js";
import type { Dataset } from "../data/types.js";
import type { LesionModel } from "../engine/model.js";
import { GRAPH_OPTIMIZATION_LEVEL, ORT_VERSION } from "../engine/ort.js";
import { LESION_VERSION } from "./resultDir.js";

/** What computed a result and on what (see the module comment): every summary.json's `provenance`. */
export interface Provenance {
  /** lesion's version (package.json). */
  lesion: string;
  /** onnxruntime-node's version. */
  onnxruntime: string;
  /** Node.js's version (`process.versions.node`). */
  node: string;
  /** onnxruntime intra-op threads of the model's sessions. */
  threads: number;
  /** onnxruntime graph optimisation level of every session. */
  graphOptimizationLevel: string;
  /** The model's name and SHA-256 (hex) of its file. */
  model: { name: string; sha256: string };
  /** The data's identity: spec, size, shape and SHA-256 of its loaded content. */
  data: DataIdentity;
  /** Further data sets the run read (recover's test set), by role. */
  otherData?: Record<string, DataIdentity>;
  /** The seed of everything random in the run; null when nothing is random. */
  seed: number | null;
}

/** The provenance of a run of `model` on `data` (`otherData`: further data sets by role). Throws nothing. */
export function provenance(model: LesionModel, data: Dataset, seed: number | null = null, otherData: Record<string, Dataset> = {}): Provenance {
  const others = Object.entries(otherData);
  return {
    lesion: LESION_VERSION,
    onnxruntime: ORT_VERSION,
    node: process.versions.node,
    threads: model.threads,
    graphOptimizationLevel: GRAPH_OPTIMIZATION_LEVEL,
    model: { name: model.name, sha256: model.sha256 },
    data: dataIdentity(data),
    ...(others.length > 0 ? { otherData: Object.fromEntries(others.map(([role, d]) => [role, dataIdentity(d)])) } : {}),
    seed,
  };
}
