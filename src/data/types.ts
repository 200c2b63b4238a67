/** The in-memory form of every data set lesion evaluates on: [0,1] pixels in NCHW order and integer labels. */

export type Split = "train" | "test";

/** A loaded data set (`loadDataset`): every verb's `data`. */
export interface Dataset {
  /** The spec it was loaded from, normalised: "mnist:test", "idx:a.gz,b.gz", "./digits". */
  spec: string;
  /** Number of samples. */
  n: number;
  /** [C, H, W] of one sample. */
  shape: [number, number, number];
  /** n·C·H·W pixels in [0,1], NCHW, sample-major. */
  images: Float32Array;
  /** n labels, each 0..numClasses−1. */
  labels: Int32Array;
  /** Number of classes K (the length of `classNames`). */
  numClasses: number;
  /** One name per class, in class order ("0".."9" for MNIST). */
  classNames: string[];
  /** Where the bytes came from (paths), for result provenance; names the bundled subset when one was used. */
  source: string;
  /**
   * An image folder's sub-folder names, sorted: its classes are named, not numbered, so a model with class names
   * scores it by name (`matchClassNames`). Absent for every other kind of data.
   */
  folderClasses?: string[];
  /**
   * Where the samples lie in a named set's split: samples `start` to `end` − 1 of `of` (its normalised spec,
   * "mnist:test"), for a whole split or a slice of one as loadDataset read it. Absent for files, folders and subsets
   * picked otherwise. Lets a command see that its test data holds its training images (sharedSamples).
   */
  within?: { of: string; start: number; end: number };
}
