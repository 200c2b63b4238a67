/**
 * Data specs: the one string that names a data set in the API, the CLI and result files.
 * Parsing is pure (no file access); `loadDataset` resolves the paths.
 */
import { basename, resolve } from "node:path";
import { existsSync, statSync } from "node:fs";
import { fail } from "../errors.js";
import type { Split } from "./types.js";

/**
 * Samples `start` up to (not including) `end` of a named set's split, as Python slices them (`mnist:test[:2000]`,
 * `fashion-mnist:train[1000:3000]`, `mnist:test[-500:]`): a negative bound counts from the end, a bound past an end
 * stops there; `end` null: to the last.
 */
export interface SampleRange {
  start: number;
  end: number | null;
}

/**
 * A parsed data spec: a named set, its split and, where sliced, its range of samples; an IDX or .npy image/label file
 * pair (paths as written); or an image folder.
 */
export type DataSpec =
  | { kind: "mnist"; split: Split; range?: SampleRange }
  | { kind: "fashion-mnist"; split: Split; range?: SampleRange }
  | { kind: "cifar10"; split: Split; range?: SampleRange }
  | { kind: "idx"; images: string; labels: string }
  | { kind: "npy"; images: string; labels: string }
  | { kind: "folder"; path: string };

const NAMED = ["mnist", "fashion-mnist", "cifar10"] as const;

const EXPECTED =
  "expected mnist[:train|test], fashion-mnist[:train|test], cifar10[:train|test] (a slice of a split: mnist:test[:2000]), idx:IMAGES[,LABELS], npy:IMAGES,LABELS or a folder of class sub-folders";

/**
 * Parses a data spec. Named data sets default to the test split (`mnist` is `mnist:test`); a split may be sliced
 * (`mnist:test[:2000]`, `cifar10:train[500:1000]`: samples 500..999), the split named.
 * A folder spec must look like a path (contain `/` or `\`, or be `.` or `..`) or name an existing folder, so a
 * misspelt name such as `minst` is an error rather than a missing folder.
 * @throws LesionError `bad-data-spec` (an unknown name or split, an idx or npy spec without its files, an empty slice or
 * one without its split).
 */
export function parseDataSpec(spec: string): DataSpec {
  const text = spec.trim();
  const sliced = /^([a-z0-9-]+)(?::([a-z]*))?\[(-?\d*):(-?\d*)(:-?\d*)?\]$/.exec(text);
  const slicedName = sliced ? NAMED.find((name) => name === sliced[1]) : undefined;
  if (sliced && slicedName) {
    const [, , split, from, to, step] = sliced;
    if (split !== "train" && split !== "test") fail("bad-data-spec", `data spec '${spec}' slices no split; write ${slicedName}:test[${from}:${to}] or ${slicedName}:train[${from}:${to}]`, { spec, split: split ?? "" });
    if (step !== undefined && step !== ":" && step !== ":1") fail("bad-data-spec", `data spec '${spec}' slices with a step, which lesion does not take; write ${slicedName}:${split}[${from}:${to}]`, { spec });
    const range = { start: from === "" ? 0 : Number(from), end: to === "" ? null : Number(to) };
    // Empty whatever the split's size: both bounds from the same end, the second not after the first.
    if (range.end !== null && Math.sign(range.start || 0) === Math.sign(range.end || 0) && range.end <= range.start) fail("bad-data-spec", `data spec '${spec}' slices no sample (${range.start} to ${range.end})`, { spec });
    return { kind: slicedName, split, range };
  }
  const colon = text.indexOf(":");
  const head = colon < 0 ? text : text.slice(0, colon);
  const rest = colon < 0 ? null : text.slice(colon + 1);
  const named = NAMED.find((name) => name === head);
  if (named) {
    if (rest === null || rest === "") return { kind: named, split: "test" };
    if (rest === "train" || rest === "test") return { kind: named, split: rest };
    fail("bad-data-spec", `unknown split '${rest}' in data spec '${spec}'; expected ${named}:train or ${named}:test`, { spec, split: rest });
  }
  if (head === "idx" && rest !== null) {
    const [images, labels, ...extra] = rest.split(",").map((p) => p.trim());
    if (!images || extra.length > 0 || labels === "") {
      fail("bad-data-spec", `data spec '${spec}' should be idx:IMAGES or idx:IMAGES,LABELS`, { spec });
    }
    return { kind: "idx", images, labels: labels ?? idxLabelsPath(images, spec) };
  }
  if (head === "npy" && rest !== null) {
    const [images, labels, ...extra] = npyPaths(rest);
    if (!images || !labels || extra.length > 0) {
      fail("bad-data-spec", `data spec '${spec}' should be npy:IMAGES,LABELS (two .npy files; a path with a comma must end in .npy)`, { spec });
    }
    return { kind: "npy", images, labels };
  }
  // `npz:a.npy,b.npy` is a misspelt kind, not a folder (a Windows drive `C:` is one letter).
  if (/^[a-z][a-z0-9-]+:/i.test(text) && !existsSync(text)) fail("bad-data-spec", `unknown data spec kind '${head}' in '${spec}'; ${EXPECTED}`, { spec });
  // Files given without their kind would be read as a folder ("… is not a folder of class sub-folders").
  const folder = isFolder(text);
  if (!folder) {
    if (/\.npy(,|$)/i.test(text)) fail("bad-data-spec", `data spec '${spec}' names .npy files: write it npy:IMAGES,LABELS`, { spec });
    if (/(-ubyte|\.idx\d?)(\.gz)?(,|$)/i.test(text)) fail("bad-data-spec", `data spec '${spec}' names IDX files: write it idx:IMAGES[,LABELS]`, { spec });
  }
  // A bare name of an existing folder is one too (`ImageFolder("digits")`): named sets were matched above.
  if (looksLikePath(text) || folder) return { kind: "folder", path: text.replace(/(.)[\\/]+$/, "$1") };
  fail("bad-data-spec", `unknown data spec '${spec}'; ${EXPECTED}`, { spec });
}

/** The normalised text of a spec: `parseDataSpec(formatDataSpec(s))` equals `s`. Pure; throws nothing. */
export function formatDataSpec(spec: DataSpec): string {
  switch (spec.kind) {
    case "mnist":
    case "fashion-mnist":
    case "cifar10":
      return `${spec.kind}:${spec.split}${spec.range ? `[${spec.range.start || ""}:${spec.range.end ?? ""}]` : ""}`;
    case "idx":
    case "npy":
      return `${spec.kind}:${spec.images},${spec.labels}`;
    case "folder":
      return spec.path;
  }
}

/**
 * The spec with its files and folders as absolute paths (resolved against the working directory), so a command line
 * written from it works from any directory: `npy:x.npy,y.npy` → `npy:/home/me/x.npy,/home/me/y.npy`; named sets stay.
 * @throws LesionError `bad-data-spec` (as parseDataSpec).
 */
export function absoluteDataSpec(spec: string): string {
  const parsed = parseDataSpec(spec);
  switch (parsed.kind) {
    case "idx":
    case "npy":
      return formatDataSpec({ ...parsed, images: resolve(parsed.images), labels: resolve(parsed.labels) });
    case "folder":
      return formatDataSpec({ ...parsed, path: resolve(parsed.path) });
    default:
      return formatDataSpec(parsed);
  }
}

/**
 * `IMAGES,LABELS` split at the comma between the two files. A path may hold a comma itself (`run 1,2/x.npy`): the
 * split is then after the `.npy` that ends the images path, when exactly one comma follows a `.npy`.
 */
function npyPaths(rest: string): string[] {
  const parts = rest.split(",");
  if (parts.length <= 2) return parts.map((p) => p.trim());
  const after = parts.slice(0, -1).flatMap((p, i) => (/\.npy\s*$/i.test(p) ? [i] : []));
  if (after.length !== 1) return parts.map((p) => p.trim());
  return [parts.slice(0, after[0] + 1).join(","), parts.slice(after[0] + 1).join(",")].map((p) => p.trim());
}

function looksLikePath(text: string): boolean {
  return text === "." || text === ".." || /[\\/]/.test(text);
}

/** `…/t10k-images-idx3-ubyte.gz` → `…/t10k-labels-idx1-ubyte.gz` (also LeCun's `images.idx3` spelling). */
function idxLabelsPath(images: string, spec: string): string {
  const name = basename(images);
  const labels = name.replace(/images([-.])idx3/, "labels$1idx1");
  if (labels === name) {
    fail("bad-data-spec", `cannot derive a labels path from '${images}' (its name has no 'images-idx3'); write idx:IMAGES,LABELS`, { spec });
  }
  return images.slice(0, images.length - name.length) + labels;
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
