/** Subsets of a data set: chosen samples, or every sample but those of some classes. */
import { fail } from "../errors.js";
import type { Dataset } from "./types.js";

/** The samples at `indices` (in that order) of `data`, as a data set named `spec`; its classes stay `data`'s. */
export function pickSamples(data: Dataset, indices: readonly number[], spec: string): Dataset {
  const per = data.images.length / data.n;
  const images = new Float32Array(indices.length * per);
  indices.forEach((s, r) => images.set(data.images.subarray(s * per, (s + 1) * per), r * per));
  const { within: _within, ...rest } = data;
  return { ...rest, spec, n: indices.length, images, labels: Int32Array.from(indices, (s) => data.labels[s]) };
}

/**
 * `data` without the samples of `classes` (class indices), named "SPEC without class 3" (or "classes 3, 5"); its
 * classes stay `data`'s (a network trained on it still has an output for each). Used to train the recipient of a
 * transplant that never saw a class (Meyes et al. 2020's future work).
 * @throws LesionError `bad-option` (a class out of 0..numClasses−1, or no sample left).
 */
export function withoutClasses(data: Dataset, classes: readonly number[], option = "excludeClasses"): Dataset {
  for (const c of classes) if (!(Number.isInteger(c) && c >= 0 && c < data.numClasses)) fail("bad-option", `\`${option}\`: class ${c} is not a class of ${data.spec} (0..${data.numClasses - 1})`, { options: [option], value: c });
  const dropped = new Set(classes);
  const kept: number[] = [];
  for (let s = 0; s < data.n; s++) if (!dropped.has(data.labels[s])) kept.push(s);
  if (kept.length === 0) fail("bad-option", `\`${option}\` leaves no sample of ${data.spec}`, { options: [option] });
  const sorted = [...dropped].sort((a, b) => a - b);
  return pickSamples(data, kept, `${data.spec} without class${sorted.length > 1 ? "es" : ""} ${sorted.join(", ")}`);
}
