/** The one entry point for data: a spec string in, a checked Dataset of [0,1] NCHW pixels out. */
import { fileURLToPath } from "node:url";
import { checkLimit } from "./assembleDataset.js";
import { defaultCacheDir } from "./cacheDir.js";
import { loadCifar10 } from "./cifar10.js";
import { FASHION_MNIST_CLASSES, FASHION_MNIST_URL, fashionMnistFiles, DEBIAN_FASHION_MNIST_DIR } from "./fashionMnist.js";
import { DIGITS, loadIdxPair } from "./idx.js";
import { mnistFiles } from "./mnist.js";
import { loadNpyPair } from "./npy.js";
import { matchClassNames } from "./matchClassNames.js";
import { formatDataSpec, parseDataSpec, type DataSpec } from "./parseDataSpec.js";
import { pickSamples } from "./pickSamples.js";
import { fail } from "../errors.js";
import type { Dataset } from "./types.js";

/** Options of `loadDataset`. */
export interface LoadDatasetOptions {
  /** Keep only the first `limit` samples. Default: all. */
  limit?: number;
  /** Where downloaded data sets are kept. Default: $LESION_CACHE_DIR, else $XDG_CACHE_HOME/lesion, else ~/.cache/lesion. */
  cacheDir?: string;
  /** Download a missing data set (SHA-256 checked) instead of failing. Default true. */
  download?: boolean;
  /** Base URL of the Fashion-MNIST mirror. Default Zalando's. */
  mirror?: string;
  /** The fetch used for downloads; default the global one. */
  fetch?: typeof fetch;
  /**
   * The class names of the model the data will be scored with (`model.classNames`). An image folder's sub-folders
   * then map to these classes by name (`matchClassNames`: a folder with only `3/` and `7/` is classes 3 and 7, not 0
   * and 1), and a sub-folder that is no class throws `bad-data`. Other data (labels are indices already) is unchanged.
   * Default: none (sub-folders in sorted order are classes 0..K−1, as torchvision's ImageFolder).
   */
  classNames?: readonly string[] | null;
  /**
   * The number of classes of the model the data will be scored with (`model.numClasses`), for a model without class
   * names: an image folder whose sub-folders are whole numbers 0..K−1 (all or some), else 1..K, is matched to the
   * classes torchvision's ImageFolder makes of those folders (`imageFolderClassNames`, `matchClassNames`). Default:
   * the largest folder number + 1.
   */
  numClasses?: number;
  /**
   * Channels the model takes (1 or 3: `model.preprocessing.imageShape[0]`): an image folder's images are converted to
   * them as PIL does (`ImageSizing.channels`). Default: 1 when every image is gray, else 3.
   */
  channels?: number | null;
  /**
   * An image folder's images: shorter side resized to this many pixels first, with PIL's antialiased bilinear filter
   * as torchvision's `Resize(N)` on the PIL images of its ImageFolder (src/data/resizeImage.ts). The model's
   * `preprocessing.resize` (`lesion import --resize`). Other data is used as it is. Default: no resizing.
   */
  resize?: number | null;
  /** An image folder's images: the central crop×crop square, after `resize` (torchvision's `CenterCrop(M)`). Default: none. */
  crop?: number | null;
}

const ASSETS = fileURLToPath(new URL("../../assets/data/", import.meta.url));

/**
 * Loads the data set a spec names (`mnist:test`, `fashion-mnist:train`, `cifar10:test`, a slice of one such as
 * `mnist:test[:2000]`, `idx:…`, `npy:IMAGES,LABELS`, a folder of class sub-folders): images [n, C, H, W] as float32 pixels in [0, 1], labels 0..K−1, class names.
 * @throws LesionError `bad-data-spec`; `missing-file`; `bad-data` (unreadable or inconsistent files, a folder class
 * that is not the model's); `label-out-of-range`; `download-failed`, `checksum-mismatch` (Fashion-MNIST downloads);
 * `unwritable-path` (the cache directory); `bad-option` (`limit` not a positive integer).
 */
export async function loadDataset(spec: string, options: LoadDatasetOptions = {}): Promise<Dataset> {
  checkLimit(options.limit);
  const parsed = parseDataSpec(spec);
  const range = "range" in parsed ? parsed.range : undefined;
  if (!range) {
    const whole = await loadWhole(parsed, options);
    return "split" in parsed ? { ...whole, within: { of: whole.spec, start: 0, end: whole.n } } : whole;
  }
  // A slice, as Python takes it: negative bounds from the end, bounds past an end stopped there; then `limit` of it.
  // Its split is read up to the slice's end where that is counted from the start.
  const text = formatDataSpec(parsed);
  const upTo = range.start >= 0 && range.end !== null && range.end >= 0 ? range.end : undefined;
  const whole = await loadWhole({ ...parsed, range: undefined } as DataSpec, { ...options, limit: upTo });
  const bound = (b: number) => (b < 0 ? Math.max(0, whole.n + b) : Math.min(b, whole.n));
  const start = bound(range.start);
  const end = Math.min(range.end === null ? whole.n : bound(range.end), start + (options.limit ?? Infinity));
  // Empty only where the split is shorter than the bounds (read whole, or fewer than `upTo`): whole.n is its size.
  if (end <= start) fail("bad-data-spec", `data spec '${spec}' slices no sample of the ${whole.n} samples of ${whole.spec}`, { spec });
  return { ...pickSamples(whole, Array.from({ length: end - start }, (_, i) => start + i), text), within: { of: whole.spec, start, end } };
}

/** A spec's whole data set (its range, if any, left out), `options.limit` applied. */
async function loadWhole(parsed: DataSpec, options: LoadDatasetOptions): Promise<Dataset> {
  const text = formatDataSpec(parsed);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  switch (parsed.kind) {
    case "mnist": {
      const files = mnistFiles(parsed.split);
      return loadIdxPair(files.images, files.labels, { spec: text, limit: options.limit, classNames: DIGITS });
    }
    case "fashion-mnist": {
      const files = await fashionMnistFiles(parsed.split, {
        cacheDir,
        bundledDir: parsed.split === "test" ? `${ASSETS}fashion-mnist` : null,
        systemDir: DEBIAN_FASHION_MNIST_DIR,
        download: options.download ?? true,
        baseUrl: options.mirror ?? FASHION_MNIST_URL,
        fetch: options.fetch,
      });
      return loadIdxPair(files.images, files.labels, { spec: text, limit: options.limit, classNames: FASHION_MNIST_CLASSES });
    }
    case "cifar10":
      return loadCifar10(parsed.split, { cacheDir, bundledDir: `${ASSETS}cifar10` }, text, options.limit);
    case "idx":
      return loadIdxPair(parsed.images, parsed.labels, { spec: text, limit: options.limit });
    case "npy":
      return loadNpyPair(parsed.images, parsed.labels, text, options.limit);
    case "folder": {
      // Its PNG and JPEG decoders load only for a folder (~70 ms of start-up otherwise).
      const folder = await (await import("./folder.js")).loadImageFolder(parsed.path, text, options.limit, { resize: options.resize, crop: options.crop, channels: options.channels });
      return options.classNames === undefined ? folder : matchClassNames(folder, options.classNames, options.numClasses);
    }
  }
}
