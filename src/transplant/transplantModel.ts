/**
 * The merged network of a transplant as a lesion model: the plain classifier (every verb can study it), lesion's
 * preprocessing and class names of the recipient, and under `lesion.transplant` which units came from where.
 */
import type { LesionModel } from "../engine/model.js";
import { buildClassifier } from "../onnx/build.js";
import { writeMetadata } from "../onnx/metadata.js";
import { classifierLayers, type Network } from "../onnx/network.js";
import { encodeModel, setMetadataValue } from "../onnx/proto.js";

/** Metadata key holding the transplant's provenance (JSON). */
export const TRANSPLANT_KEY = "lesion.transplant";

/** What `lesion.transplant` records: the donor units at `site`/`units` of the merged model, and their upstream branch. */
export interface TransplantProvenance {
  /** The donor model's name. */
  donor: string;
  /** SHA-256 (hex) of the donor model file. */
  donorSha256: string;
  /** The recipient model's name. */
  recipient: string;
  /** SHA-256 (hex) of the recipient model file. */
  recipientSha256: string;
  /** The target class; null when the units were given. */
  class: number | null;
  /** The merged model's site that holds the transplanted units (the recipient's site at the population's depth). */
  site: string;
  /** The transplanted units' indices at `site`: after the recipient's own units, in the order of `donorUnits`. */
  units: number[];
  /** The donor's site the population came from. */
  donorSite: string;
  /** The donor units, in the order they were added (`TransplantResult.population.units`). */
  donorUnits: number[];
  /** Per earlier layer: the merged model's site, its units that carry the donor's upstream branch, and the donor layer they copy. */
  branch: Array<{ site: string; units: number[]; donorSite: string }>;
}

export function transplantModelBytes(network: Network, values: Map<string, Float32Array>, recipient: LesionModel, provenance: TransplantProvenance): Uint8Array {
  const model = buildClassifier({ layers: classifierLayers(network, values), inputShape: recipient.inputShape });
  const classNames = recipient.classNames ?? Array.from({ length: recipient.numClasses }, (_, i) => String(i));
  writeMetadata(model, { preprocessing: recipient.preprocessing, classNames });
  setMetadataValue(model, TRANSPLANT_KEY, JSON.stringify(provenance));
  return encodeModel(model);
}
