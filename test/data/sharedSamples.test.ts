/**
 * sharedSamples / sharedSamplesWarning: a command trained on a slice of the test split and tested on the whole split
 * (a trial's `recover --data 'mnist:test[:1000]'` without --test measured recovery on all 10,000 test images, the 1,000
 * it retrained on among them, without a word). Counts derived by hand from the slices' bounds.
 */
import { describe, expect, it } from "vitest";
import { loadDataset } from "../../src/data/loadDataset.js";
import { sharedSamples, sharedSamplesWarning } from "../../src/data/sharedSamples.js";
import { randomDataset } from "../helpers.js";

const said = { same: "its test accuracy is a training accuracy", partly: "its test accuracy is partly a training accuracy", option: "--test" };

describe("sharedSamples", () => {
  it("counts the samples two slices of one split share: [:1000] of the split 1000, [-500:] and [9000:9600] 100, other splits 0", async () => {
    const test = await loadDataset("mnist:test");
    const first = await loadDataset("mnist:test[:1000]");
    expect(sharedSamples(first, test)).toBe(1000);
    expect(sharedSamples(await loadDataset("mnist:test[-500:]"), await loadDataset("mnist:test[9000:9600]"))).toBe(100);
    expect(sharedSamples(await loadDataset("mnist:test[:1000]"), await loadDataset("mnist:test[1000:]"))).toBe(0);
    expect(sharedSamples(await loadDataset("mnist:train[:1000]"), test)).toBe(0);
    expect(sharedSamples(test, test)).toBe(10000);
    // Files are not compared by content; a subset picked from a split no longer says where it lies.
    expect(sharedSamples(randomDataset("npy:x.npy,y.npy", 10, [1, 28, 28], 10, 1), test)).toBe(0);
  });

  it("sharedSamplesWarning names the overlap and a set apart, or says the test data is the training data", async () => {
    const test = await loadDataset("mnist:test");
    expect(sharedSamplesWarning(await loadDataset("mnist:test[:1000]"), test, said)).toBe(
      "the test data (mnist:test) holds all 1000 training images (mnist:test[:1000]): its test accuracy is partly a training accuracy; give --test a set apart (such as mnist:test[1000:])",
    );
    expect(sharedSamplesWarning(await loadDataset("mnist:test[8000:]"), test, said)).toBe(
      "the test data (mnist:test) holds all 2000 training images (mnist:test[8000:]): its test accuracy is partly a training accuracy; give --test a set apart (such as mnist:test[:8000])",
    );
    expect(sharedSamplesWarning(await loadDataset("mnist:test[:3000]"), await loadDataset("mnist:test[2000:4000]"), said)).toBe(
      "the test data (mnist:test[2000:4000]) holds 1000 of the 3000 training images (mnist:test[:3000]): its test accuracy is partly a training accuracy; give --test a set apart (such as mnist:test[3000:])",
    );
    expect(sharedSamplesWarning(test, await loadDataset("mnist:test"), said)).toBe("the test data is the training data (mnist:test): its test accuracy is a training accuracy; give --test another set");
    expect(sharedSamplesWarning(await loadDataset("mnist:train[:100]"), test, said)).toBeNull();
  });
});
