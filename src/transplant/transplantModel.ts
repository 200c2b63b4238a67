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
  donor: string;
  donorSha256: string;
  recipient: string;
  recipientSha256: string;
  class: number | null;
  site: string;
  units: number[];
  donorSite: string;
  donorUnits: number[];
  branch: Array<{ site: string; units: number[]; donorSite: string }>;
}

export function transplantModelBytes(network: Network, values: Map<string, Float32Array>, recipient: LesionModel, provenance: TransplantProvenance): Uint8Array {
  const model = buildClassifier({ layers: classifierLayers(network, values), inputShape: recipient.inputShape });
  const classNames = recipient.classNames ?? Array.from({ length: recipient.numClasses }, (_, i) => String(i));
  writeMetadata(model, { preprocessing: recipient.preprocessing, classNames });
  setMetadataValue(model, TRANSPLANT_KEY, JSON.stringify(provenance));
  return encodeModel(model);
}
