/**
 * lesion's metadata in a model's metadata_props: how to turn [0,1] pixels into the graph's input, and the class
 * names. Stored as JSON under `lesion.preprocessing` and `lesion.classes`, so any ONNX tool keeps it intact.
 */
import { fail } from "../errors.js";
import { metadataValue, setMetadataValue, type ModelProto } from "./proto.js";

export type InputLayout = "flat" | "nchw" | "nhwc";

/** How [0,1] pixels become a model's input, as lesion's metadata (`lesion.preprocessing`) records it: (x − mean) / std per channel, laid out as `layout`. */
export interface Preprocessing {
  /** How one [C,H,W] image is laid out in the graph input: "flat" = [N, C·H·W] in C,H,W order. */
  layout: InputLayout;
  /** Per-channel mean subtracted from pixels in [0,1] (one value broadcasts to every channel). */
  mean: number[];
  /** Per-channel divisor applied after the mean. */
  std: number[];
  /** One sample's image shape [C, H, W], when known. */
  imageShape: [number, number, number] | null;
  /**
   * Image folders only: the shorter side of each image resized to this many pixels before use (torchvision's
   * `Resize(N)`, PIL's antialiased bilinear filter). Absent: images are used at their size.
   */
  resize?: number;
  /** Image folders only: the central crop×crop square, after `resize` (torchvision's `CenterCrop(M)`). Absent: no crop. */
  crop?: number;
}

export interface ModelMetadata {
  preprocessing: Preprocessing | null;
  classNames: string[] | null;
}

const PREPROCESSING_KEY = "lesion.preprocessing";
const CLASSES_KEY = "lesion.classes";

export function readMetadata(model: ModelProto, name = "model"): ModelMetadata {
  const preprocessingText = metadataValue(model, PREPROCESSING_KEY);
  const classesText = metadataValue(model, CLASSES_KEY);
  let preprocessing: Preprocessing | null = null;
  let classNames: string[] | null = null;
  try {
    if (preprocessingText) preprocessing = normalizePreprocessing(JSON.parse(preprocessingText));
    if (classesText) classNames = JSON.parse(classesText);
  } catch (error) {
    fail("bad-model", `${name} has unreadable lesion metadata (${(error as Error).message})`, { name });
  }
  if (classNames && (!Array.isArray(classNames) || !classNames.every((c) => typeof c === "string"))) {
    fail("bad-model", `${name} has lesion.classes that is not a list of names`, { name });
  }
  return { preprocessing, classNames };
}

export function writeMetadata(model: ModelProto, metadata: ModelMetadata): void {
  if (metadata.preprocessing) setMetadataValue(model, PREPROCESSING_KEY, JSON.stringify(metadata.preprocessing));
  if (metadata.classNames) setMetadataValue(model, CLASSES_KEY, JSON.stringify(metadata.classNames));
}

function normalizePreprocessing(value: Partial<Preprocessing>): Preprocessing {
  const layout = value.layout ?? "nchw";
  if (!["flat", "nchw", "nhwc"].includes(layout)) throw new Error(`unknown layout ${layout}`);
  const mean = value.mean ?? [0];
  const std = value.std ?? [1];
  if (!mean.every(Number.isFinite) || !std.every((s) => Number.isFinite(s) && s !== 0)) throw new Error("mean/std must be finite, std non-zero");
  for (const key of ["resize", "crop"] as const) {
    const size = value[key];
    if (size !== undefined && size !== null && !(Number.isInteger(size) && size > 0)) throw new Error(`${key} must be a positive integer, got ${JSON.stringify(size)}`);
  }
  // Written only when set, so the metadata (and the hash) of a model without them is what it always was.
  return { layout, mean, std, imageShape: value.imageShape ?? null, ...(value.resize ? { resize: value.resize } : {}), ...(value.crop ? { crop: value.crop } : {}) };
}

/**
 * Mean and std given together: one value or one per channel each, their counts compatible, no std of 0 (import's and
 * train's options alike). Throws `bad-option`.
 */
export function checkMeanStd(mean: readonly number[] | undefined, std: readonly number[] | undefined): void {
  if (mean && std && mean.length !== std.length && mean.length !== 1 && std.length !== 1) {
    fail("bad-option", `\`mean\` has ${mean.length} values and \`std\` ${std.length}; give one value or one per channel for each`, { options: ["mean", "std"] });
  }
  if ((std ?? []).some((s) => s === 0)) fail("bad-option", "`std` must not contain 0", { options: ["std"], value: std });
}

/** Mean and std take one value for every channel or one per channel, never another count (it would be ignored or misread). */
export function checkChannels(preprocessing: Preprocessing, channels: number | null): void {
  if (channels === null) return;
  for (const name of ["mean", "std"] as const) {
    const count = preprocessing[name].length;
    if (count !== 1 && count !== channels) {
      fail("bad-option", `\`${name}\` has ${count} values but the model's images have ${channels} channel${channels === 1 ? "" : "s"}; give one value or one per channel`, { options: [name], value: preprocessing[name] });
    }
  }
}
