/**
 * What opening a model does to its graph before anything else looks at it: external data read in from beside the
 * model file, constant-only subgraphs folded into initializers, float16 converted to float32. Every later step (site
 * search, batching, masks, suffix graphs, the dense engine) then sees one plain float32 graph with inline weights.
 */
import { fail } from "../errors.js";
import { externalDataFiles, inlineExternalData } from "./externalData.js";
import { float16ToFloat32 } from "./float16.js";
import { foldConstants } from "./fold.js";
import { normalizeHead } from "./head.js";
import type { ModelProto } from "./proto.js";
import { locateSites, type SiteLocation } from "./sites.js";

/** What `normalizeModel` changed, for `info` and provenance. */
export interface Normalization {
  /** Tensors read from external data files (0 when the model held all its tensors). */
  externalTensors: number;
  /** The external data files read, as the model names them (relative to its directory). */
  externalFiles: string[];
  /** The model stored or computed float16/bfloat16 values; lesion computes them in float32. */
  float16: boolean;
  /** Nodes of constant-only subgraphs replaced by initializers. */
  foldedNodes: number;
}

export interface NormalizeOptions {
  /** Directory of the model file, where external data is looked up; null when the model came as bytes. */
  dir: string | null;
  /** The model's name in messages. */
  name: string;
}

/**
 * Normalises `model` in place (see the module comment). Throws `bad-model` when the model keeps tensors in external
 * data but came without a directory to find them in, `missing-file` when a data file is absent.
 */
export function normalizeModel(model: ModelProto, options: NormalizeOptions): Normalization {
  const graph = model.graph!;
  const externalFiles = externalDataFiles(graph);
  let externalTensors = 0;
  if (externalFiles.length > 0) {
    if (options.dir === null) {
      fail("bad-model", `${options.name} keeps its tensors in external data (${externalFiles.join(", ")}); open it by its file path so they are read from beside it`, { name: options.name });
    }
    externalTensors = inlineExternalData(graph, options.dir, options.name);
  }
  // Folding first keeps a constant's float16 rounding where the graph casts it to float16 (mixed-precision output).
  const foldedNodes = foldConstants(graph);
  const float16 = float16ToFloat32(graph);
  return { externalTensors, externalFiles, float16, foldedNodes };
}

/** One line per change, for `lesion info`. */
export function describeNormalization(n: Normalization): string[] {
  const lines: string[] = [];
  if (n.externalTensors > 0) lines.push(`${n.externalTensors} tensor${n.externalTensors === 1 ? "" : "s"} read from external data ${n.externalFiles.join(", ")} beside the model`);
  if (n.float16) lines.push("stored as float16; lesion computes it in float32 (weights, inputs and activations)");
  if (n.foldedNodes > 0) lines.push(`${n.foldedNodes} constant-only node${n.foldedNodes === 1 ? "" : "s"} (weight Reshape/Transpose/Cast/…) folded into initializers`);
  return lines;
}

/**
 * The sites of a model file as `openModel` names them, for readers of result files that do not open a session (the
 * reports): the graph is normalised and its probability head read back in place first, since folding constants and
 * removing a Sigmoid head change positional names. Throws as `normalizeModel` does.
 */
export function openedSites(model: ModelProto, options: NormalizeOptions): SiteLocation[] {
  normalizeModel(model, options);
  normalizeHead(model);
  return locateSites(model.graph!);
}
