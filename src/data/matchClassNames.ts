/**
 * Scoring an image folder against a model's classes. A folder's labels are positions in its sorted sub-folder names
 * (torchvision's ImageFolder), which equal the model's class indices only when the folder has every class, named as
 * the model names them. A folder with only `3/` and `7/` would otherwise be scored as classes 0 and 1.
 */
import { fail } from "../errors.js";
import { byCodePoint } from "./byCodePoint.js";
import type { Dataset } from "./types.js";

/**
 * An image folder's data relabelled by class name: each sub-folder becomes the class of that name in `classNames`
 * (the model's class names, in class order), and the result has the model's classes (`classNames`, `numClasses`);
 * classes without a sub-folder simply have no samples. Data that is not an image folder (its labels are class indices
 * already) is returned as is.
 *
 * With `classNames` null (a model without class names, `numClasses` K classes), sub-folders named by whole numbers
 * are taken for folders of those names the model was trained on with ImageFolder, and get the classes it numbered
 * them (`imageFolderClassNames`): within 0..K−1 (all or some) the training folders are taken to be 0..K−1 (for K ≤ 10
 * folder `3/` is class 3; for K = 12 it is class 5, after "0", "1", "10", "11", "2"), else within 1..K, 1..K (folder
 * `1/` class 0, `10/` class 1, `2/` class 2, …). Any other names keep the folder's own sorted order (ImageFolder on
 * this folder). K defaults to the largest folder number + 1. Which it was cannot be told from a folder with only some
 * of the classes: the CLI prints the numbering it used.
 *
 * Throws `bad-data` naming the first sub-folder that is no class of the model, with the classes allowed.
 */
export function matchClassNames(data: Dataset, classNames: readonly string[] | null, numClasses?: number): Dataset {
  const folders = data.folderClasses;
  if (!folders) return data;
  if (!classNames) {
    // MNIST's `3/` and `7/` alone are classes 3 and 7, not 0 and 1: as the model's own ImageFolder numbered them.
    if (!folders.every((name) => /^(0|[1-9]\d{0,5})$/.test(name))) return data;
    const numbers = folders.map(Number);
    const size = numClasses ?? Math.max(...numbers) + 1;
    const first = numbers.every((k) => k < size) ? 0 : numbers.every((k) => k >= 1 && k <= size) ? 1 : null;
    return first === null ? data : matchClassNames(data, imageFolderClassNames(size, first));
  }
  if (sameNames(data.classNames, classNames)) return data;
  const index = new Map(classNames.map((name, c) => [name, c] as const));
  const labelOf = folders.map((name) => {
    const c = index.get(name);
    if (c === undefined) {
      const shown = classNames.length > 12 ? `${classNames.slice(0, 12).join(", ")}, …` : classNames.join(", ");
      fail("bad-data", `sub-folder '${name}' of ${data.source} is not one of the classes it is scored against (${shown})`, { source: data.source, classNames: [...classNames] });
    }
    return c;
  });
  // Labels index data.classNames: a folder already matched to other names is mapped from those names.
  const from = data.classNames.map((name) => {
    const at = folders.indexOf(name);
    return at >= 0 ? labelOf[at] : (index.get(name) ?? -1);
  });
  const labels = Int32Array.from(data.labels, (label) => from[label]);
  return { ...data, labels, numClasses: classNames.length, classNames: [...classNames] };
}

/**
 * The classes torchvision's ImageFolder makes of sub-folders named first..first+K−1 (`first` 0 or 1): the names in
 * sorted (text) order, so class c is the c-th of "0", "1", "10", "11", "2", … — the numbers' own order only for
 * 0..9.
 */
export function imageFolderClassNames(numClasses: number, first = 0): string[] {
  return Array.from({ length: numClasses }, (_, c) => String(c + first)).sort(byCodePoint);
}

/** Whether two lists of class names are the same names in the same order. */
export function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, i) => name === b[i]);
}
