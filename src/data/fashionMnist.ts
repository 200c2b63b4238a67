/**
 * Fashion-MNIST (Zalando, MIT license): where its IDX files are found, in order: the cache, the test split bundled in
 * assets/data/fashion-mnist, Debian's dataset-fashion-mnist package, then a download from Zalando's mirror into the
 * cache, checked against the SHA-256 sums of the published files.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fail } from "../errors.js";
import { checkCacheDir } from "./cacheDir.js";
import { download } from "./download.js";
import { idxFileNames, type IdxFiles } from "./mnist.js";
import type { Split } from "./types.js";

export const FASHION_MNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/";

export const FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

/** SHA-256 of the published .gz files (byte-identical to zalandoresearch/fashion-mnist data/fashion/). */
export const FASHION_MNIST_SHA256: Record<string, string> = {
  "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
  "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
  "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
  "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
};

export const DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

export interface FashionMnistLocations {
  cacheDir: string;
  /** The repository's bundled copy (test split only); null to skip. */
  bundledDir: string | null;
  /** Debian's system copy; null to skip. */
  systemDir: string | null;
  download: boolean;
  /** Base URL of the mirror. */
  baseUrl: string;
  fetch?: typeof fetch;
}

/** The IDX files of a Fashion-MNIST split, downloading them into `<cacheDir>/fashion-mnist/` when nowhere else. */
export async function fashionMnistFiles(split: Split, where: FashionMnistLocations): Promise<IdxFiles> {
  const names = idxFileNames(split, ".gz");
  const cache = join(where.cacheDir, "fashion-mnist");
  for (const dir of [cache, where.bundledDir, where.systemDir]) {
    if (dir === null) continue;
    const files = { images: join(dir, names.images), labels: join(dir, names.labels) };
    if (existsSync(files.images) && existsSync(files.labels)) return files;
  }
  const files = { images: join(cache, names.images), labels: join(cache, names.labels) };
  if (!where.download) {
    fail("missing-file", `Fashion-MNIST ${split} files not found in ${cache} and downloads are off; download ${names.images} and ${names.labels} from ${where.baseUrl} into ${cache}`, {
      path: cache,
    });
  }
  checkCacheDir(cache);
  for (const name of [names.images, names.labels]) {
    const path = join(cache, name);
    if (!existsSync(path)) await download(new URL(name, withSlash(where.baseUrl)).href, path, { sha256: FASHION_MNIST_SHA256[name], fetch: where.fetch });
  }
  return files;
}

export function withSlash(base: string): string {
  return base.endsWith("/") ? base : `${base}/`;
}
