/** Batched forward passes over a dataset: bounded memory (one batch of inputs and outputs at a time). */
import { fail, yieldThenCheck } from "../errors.js";
import { sameNames } from "../data/matchClassNames.js";
import type { Dataset } from "../data/types.js";
import { fillInput } from "./input.js";
import { memoized, memoizedValue, type LesionModel } from "./model.js";
import { OrtTensor, type OrtSession } from "./ort.js";

export const DEFAULT_BATCH_SIZE = 1024;
/**
 * The activations of one batch (every site's tensor, the sum a recording of all sites fetches at once) are kept under
 * this many bytes: a wide CNN (a full-width ResNet-18 holds ~3 MB of site activations per 32×32 image) runs in
 * smaller batches instead of needing gigabytes; MLPs and small CNNs keep their batch size.
 */
export const BATCH_ACTIVATION_BYTES = 256 * 2 ** 20;

/**
 * A `batchSize` option: undefined (the default), or a whole number ≥ 1 (0 and −5 ran as 1, silently).
 * @throws LesionError `bad-option`.
 */
export function checkBatchSize(batchSize: number | undefined): number | undefined {
  if (batchSize !== undefined && !(Number.isInteger(batchSize) && batchSize >= 1)) fail("bad-option", `\`batchSize\` must be a whole number ≥ 1, got ${batchSize}`, { options: ["batchSize"], value: batchSize });
  return batchSize;
}

/**
 * Without a batch size given, a network with conv sites runs in batches whose largest site tensor stays under this
 * many bytes. Its sessions run without onnxruntime's memory arena (createSession), so each run allocates its tensors
 * anew, and a tensor beyond glibc's mmap threshold (32 MiB at most) is mapped fresh and faulted in page by page on
 * every run: `lesion eval` of cnn:small on mnist:test (16×28×28 floats per image at conv1, 51 MB a batch of 1,024)
 * took 4.9 s at 1,024 rows and 1.7 s at 64 (187,000 against 26,000 page faults; `/usr/bin/time -f "%e s %R"`).
 * Smaller batches also keep a run's tensors in cache.
 */
export const CONV_BATCH_BYTES = 4 * 2 ** 20;

/**
 * The rows of one batch: `batchSize`, fewer when the model's site activations of that many samples would pass
 * BATCH_ACTIVATION_BYTES (never fewer than 1). Without `batchSize`: 1,024 rows, or for a network with conv sites as
 * many as keep its largest site tensor under CONV_BATCH_BYTES. Per-sample results do not depend on it.
 */
export function batchRows(model: LesionModel, batchSize?: number): number {
  const sizes = model.sites.map((site) => site.shape.reduce((a, b) => a * b, 1) * 4);
  const perSample = sizes.reduce((a, b) => a + b, 0);
  const largest = Math.max(0, ...sizes);
  const rows = batchSize ?? (model.sites.some((s) => s.kind === "conv") && largest > 0 ? Math.min(DEFAULT_BATCH_SIZE, Math.floor(CONV_BATCH_BYTES / largest)) : DEFAULT_BATCH_SIZE);
  return Math.max(1, Math.min(rows, perSample > 0 ? Math.floor(BATCH_ACTIVATION_BYTES / perSample) : rows));
}

export interface BatchOutputs {
  start: number;
  count: number;
  /** Output tensors by name, each [count, …] row-major. */
  values: Record<string, Float32Array>;
  dims: Record<string, number[]>;
}

export interface ForwardOptions {
  batchSize?: number;
  /** Tensors to fetch besides the logits. */
  outputs?: string[];
  /** Extra feeds for a batch of `count` rows (mask inputs). */
  feeds?: (start: number, count: number) => Record<string, OrtTensor>;
  signal?: AbortSignal;
}

/**
 * Checks that a dataset fits a model: sample shape, label range, and for an image folder that its classes are the
 * model's by name. Throws before any compute: `shape-mismatch`, `label-out-of-range`, or `bad-data` for an image
 * folder scored against a model with other class names without `matchClassNames` (its labels would be positions in
 * the folder's own sorted sub-folder names, not the model's classes).
 */
export function checkData(model: LesionModel, data: Dataset): void {
  const [c, h, w] = data.shape;
  // A Dataset built by hand must hold what it says: a short images buffer was read past its end as zeros, silently.
  if (!(Number.isInteger(data.n) && data.n >= 0) || data.images.length !== data.n * c * h * w || data.labels.length !== data.n) {
    fail("shape-mismatch", `data ${data.spec} says n = ${data.n} samples of ${c}x${h}x${w} but holds ${data.images.length} pixel values (${data.n * c * h * w} expected) and ${data.labels.length} labels`, {
      expected: [data.n * c * h * w, data.n],
      actual: [data.images.length, data.labels.length],
    });
  }
  const expected = model.inputShape.reduce((a, b) => a * b, 1);
  const image = model.preprocessing.imageShape;
  const fits = image ? image[0] === c && image[1] === h && image[2] === w : expected === c * h * w;
  if (!fits) {
    // A folder's images of another size are brought to the model's by its resize and crop (ImageNet-style models).
    const sizing = data.folderClasses && image && (image[1] !== h || image[2] !== w) ? `; \`lesion import --resize N --crop ${image[1] === image[2] ? image[1] : "M"}\` resizes and crops a folder's images to the model's size` : "";
    fail("shape-mismatch", `model ${model.name} takes inputs of shape ${model.inputShape.join("x")}${image ? ` (images ${image.join("x")})` : ""} but data ${data.spec} has ${c}x${h}x${w} images${sizing}`, {
      expected: image ?? model.inputShape,
      actual: [...data.shape],
    });
  }
  const names = model.classNames;
  if (data.folderClasses && names && !sameNames(data.classNames, names)) {
    fail(
      "bad-data",
      `image folder ${data.spec} (classes ${data.classNames.join(", ")}) is not matched to the classes of model ${model.name}; load it with loadDataset(spec, { classNames: model.classNames }) or matchClassNames(data, model.classNames)`,
      { source: data.spec, classNames: data.classNames },
    );
  }
  for (let i = 0; i < data.n; i++) {
    const label = data.labels[i];
    if (label < 0 || label >= model.numClasses) {
      // A folder's labels are its sub-folders' positions: more sub-folders than classes is the fault to name.
      if (data.folderClasses && data.folderClasses.length > model.numClasses) {
        const shown = data.folderClasses.length > 14 ? `${data.folderClasses.slice(0, 14).join(", ")}, …` : data.folderClasses.join(", ");
        fail("label-out-of-range", `image folder ${data.spec} has ${data.folderClasses.length} class sub-folders (${shown}) but model ${model.name} has ${model.numClasses} classes; every sub-folder is a class, hidden ones too`, { label, sample: i, numClasses: model.numClasses, source: data.spec });
      }
      fail("label-out-of-range", `label ${label} of sample ${i} in ${data.spec} is out of range for model ${model.name} (0..${model.numClasses - 1})`, { label, sample: i, numClasses: model.numClasses, source: data.spec });
    }
  }
}

const INPUTS_KEY = "inputs";

/**
 * Every sample of `data` as the model's input ([n × C·H·W] float32, normalised by fillInput), made once while the model
 * is open: for a caller that needs all of them at once (the dense engine's intact pass). forEachBatch then reads its
 * batches from it instead of normalising the images again.
 */
export function allInputs(model: LesionModel, data: Dataset): Promise<Float32Array> {
  return memoized(model, data, INPUTS_KEY, async () => {
    const inputs = new Float32Array(data.n * data.shape[0] * data.shape[1] * data.shape[2]);
    fillInput(inputs, data.images, 0, data.n, data.shape, model.preprocessing);
    return inputs;
  });
}

export async function forEachBatch(
  model: LesionModel,
  session: OrtSession,
  data: Dataset,
  options: ForwardOptions,
  onBatch: (batch: BatchOutputs) => void,
): Promise<void> {
  const batchSize = batchRows(model, checkBatchSize(options.batchSize));
  const sampleSize = data.shape[0] * data.shape[1] * data.shape[2];
  // The inputs normalised once for every sample (allInputs), where a caller made them; else batch by batch.
  const all = memoizedValue<Float32Array>(model, data, INPUTS_KEY);
  const buffer = all ? null : new Float32Array(Math.min(batchSize, data.n) * sampleSize);
  const names = [model.outputName, ...(options.outputs ?? []).filter((o) => o !== model.outputName)];
  for (let start = 0; start < data.n; start += batchSize) {
    await yieldThenCheck(options.signal);
    const count = Math.min(batchSize, data.n - start);
    let input: Float32Array;
    if (all) input = all.subarray(start * sampleSize, (start + count) * sampleSize);
    else {
      input = buffer!.subarray(0, count * sampleSize);
      fillInput(input, data.images, start, count, data.shape, model.preprocessing);
    }
    const feeds: Record<string, OrtTensor> = { [model.inputName]: new OrtTensor("float32", input, [count, ...model.inputShape]), ...options.feeds?.(start, count) };
    const result = await session.run(feeds, names);
    const values: Record<string, Float32Array> = {};
    const dims: Record<string, number[]> = {};
    for (const name of names) {
      values[name] = result[name].data as Float32Array;
      dims[name] = result[name].dims.map(Number);
    }
    onBatch({ start, count, values, dims });
  }
}
