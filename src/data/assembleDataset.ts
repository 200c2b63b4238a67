/** The checks every loader shares, applied once at the boundary: sample counts, label range, the `limit` option. */
import { fail } from "../errors.js";
import type { Dataset } from "./types.js";

/** Checks the `limit` option: undefined (all samples) or a positive integer. */
export function checkLimit(limit: number | undefined): void {
  if (limit !== undefined && !(Number.isInteger(limit) && limit > 0)) {
    fail("bad-option", `\`limit\` must be a positive integer (a number of samples), got ${limit}`, { options: ["limit"], value: limit });
  }
}

/** Samples to keep of `n`, given `limit`. */
export function keptCount(n: number, limit: number | undefined): number {
  return limit === undefined ? n : Math.min(n, limit);
}

export function checkCounts(images: number, imagesSource: string, labels: number, labelsSource: string): void {
  if (images !== labels) {
    fail("bad-data", `${imagesSource} has ${images} images but ${labelsSource} has ${labels} labels`, { source: imagesSource });
  }
}

/** Every label in 0..numClasses−1, else `label-out-of-range` naming the first bad one. */
export function checkLabels(labels: Int32Array, numClasses: number, source: string): void {
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i];
    if (label < 0 || label >= numClasses) {
      // A negative label is wrong whatever the classes; the range of data without a class list is its own (0..max).
      const allowed = label < 0 ? "labels are class indices from 0" : `this data set's classes are 0..${numClasses - 1}`;
      fail("label-out-of-range", `label ${label} of sample ${i} in ${source} is out of range: ${allowed}`, {
        label,
        sample: i,
        numClasses,
        source,
      });
    }
  }
}

/** Classes of a data set with no class list of its own: max label + 1 (at least 1), named "0".."K−1". */
export function inferClasses(labels: Int32Array): { numClasses: number; classNames: string[] } {
  let max = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] > max) max = labels[i];
  const numClasses = max + 1;
  return { numClasses, classNames: digitNames(numClasses) };
}

export function digitNames(count: number): string[] {
  return Array.from({ length: count }, (_, c) => String(c));
}

/** Builds the Dataset after checking pixel count and labels. */
export function assembleDataset(fields: Omit<Dataset, "n"> & { labelsSource?: string }): Dataset {
  const { labelsSource, ...dataset } = fields;
  const n = dataset.labels.length;
  if (n === 0) fail("bad-data", `${dataset.source} has no samples`, { source: dataset.source });
  const [c, h, w] = dataset.shape;
  if (dataset.images.length !== n * c * h * w) {
    fail("bad-data", `${dataset.source} has ${dataset.images.length} pixel values, expected ${n}x${c}x${h}x${w}`, { source: dataset.source });
  }
  if (dataset.classNames.length !== dataset.numClasses) {
    fail("bad-data", `${dataset.source} names ${dataset.classNames.length} classes but has ${dataset.numClasses}`, { source: dataset.source });
  }
  checkLabels(dataset.labels, dataset.numClasses, labelsSource ?? dataset.source);
  return { ...dataset, n };
}
