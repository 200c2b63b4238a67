/**
 * CIFAR-10 in its binary batch format: records of 1 label byte then 1024 R, 1024 G and 1024 B bytes (32×32, row-major).
 * The test split is bundled as a subset (its first 1,000 images); the full batches (`data_batch_1.bin` … `test_batch.bin`
 * from cifar-10-binary.tar.gz) are used instead when they are in `<cacheDir>/cifar10/`.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fail } from "../errors.js";
import { assembleDataset, keptCount } from "./assembleDataset.js";
import { bytesToUnit, readMaybeGzip } from "./bytes.js";
import type { Dataset, Split } from "./types.js";

export const CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
const RECORD = 3073;
const FULL_FILES: Record<Split, string[]> = {
  train: [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`),
  test: ["test_batch.bin"],
};

export interface Cifar10Locations {
  cacheDir: string;
  bundledDir: string;
}

export function loadCifar10(split: Split, where: Cifar10Locations, spec: string, limit?: number): Dataset {
  const cache = join(where.cacheDir, "cifar10");
  const full = FULL_FILES[split].map((name) => join(cache, name));
  let files: string[];
  let source: string;
  if (full.every((path) => existsSync(path))) {
    files = full;
    source = full.join(",");
  } else if (split === "test") {
    files = [join(where.bundledDir, "test_batch_first1000.bin.gz")];
    source = `${files[0]} (bundled subset: the first 1,000 of CIFAR-10's 10,000 test images)`;
  } else {
    fail("missing-file", `cifar10:train needs CIFAR-10's binary batches ${FULL_FILES.train.join(", ")} in ${cache} (from ${CIFAR10_URL}); only a test subset is bundled`, { path: cache });
  }
  const classNames = readFileSync(join(where.bundledDir, "batches.meta.txt"), "utf8").split("\n").map((s) => s.trim()).filter(Boolean);
  const batches = files.map((path) => {
    const bytes = readMaybeGzip(path, "CIFAR-10 batch");
    if (bytes.length % RECORD !== 0) fail("bad-data", `${path} is not a CIFAR-10 binary batch: ${bytes.length} bytes is not a multiple of ${RECORD}`, { path });
    return bytes;
  });
  const total = batches.reduce((sum, b) => sum + b.length / RECORD, 0);
  const n = keptCount(total, limit);
  const images = new Float32Array(n * 3072);
  const labels = new Int32Array(n);
  let at = 0;
  for (const bytes of batches) {
    for (let r = 0; r < bytes.length / RECORD && at < n; r++, at++) {
      labels[at] = bytes[r * RECORD];
      bytesToUnit(bytes, r * RECORD + 1, 3072, images, at * 3072);
    }
  }
  return assembleDataset({ spec, shape: [3, 32, 32], images, labels, numClasses: classNames.length, classNames, source });
}
