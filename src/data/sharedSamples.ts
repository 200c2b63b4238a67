/** Whether a command's test data holds its training images (a slice of the test split trained on, the split tested on). */
import type { Dataset } from "./types.js";

/**
 * How many of `test`'s samples are samples of `train`: where both are a named set's split or slices of one split
 * (Dataset.within), those in both ranges; where they are one data set (the same object, or the same spec and size),
 * all of them; else 0 (files and folders are not compared by content).
 */
export function sharedSamples(train: Dataset, test: Dataset): number {
  if (train === test || (train.spec === test.spec && train.n === test.n)) return test.n;
  const a = train.within;
  const b = test.within;
  if (!a || !b || a.of !== b.of) return 0;
  return Math.max(0, Math.min(a.end, b.end) - Math.max(a.start, b.start));
}

/**
 * The warning of a command that measures on `test` after training on `train` where they share samples
 * (sharedSamples), or null. `same` says what the measure then is where they are one set ("its test accuracy is a
 * training accuracy"), `partly` where the test data holds some training images; `option` is how to give other test
 * data. A set apart is named where one is at hand: the rest of the split after (or before) a slice that starts (or
 * ends) it.
 */
export function sharedSamplesWarning(train: Dataset, test: Dataset, said: { same: string; partly: string; option: string }): string | null {
  const shared = sharedSamples(train, test);
  if (shared === 0) return null;
  if (shared === test.n && shared === train.n) return `the test data is the training data (${test.spec}): ${said.same}; give ${said.option} another set`;
  const a = train.within;
  const b = test.within;
  const apart = a && b && a.start <= b.start && a.end < b.end ? ` (such as ${a.of}[${a.end}:])` : a && b && a.end >= b.end && a.start > b.start ? ` (such as ${a.of}[:${a.start}])` : "";
  const which = shared === train.n ? `all ${shared}` : `${shared} of the ${train.n}`;
  return `the test data (${test.spec}) holds ${which} training images (${train.spec}): ${said.partly}; give ${said.option} a set apart${apart}`;
}
