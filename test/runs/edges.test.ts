/**
 * Values at their edges, from a new-user trial ('newuser34') that fed lesion what a careless user would: each had
 * crashed, run out of memory, or silently done something other than asked. Each case here is the trial's, with the
 * outcome it should have had.
 */
import { mkdirSync, mkdtempSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { checkOutsideData } from "../../src/cli/common.js";
import { parseGroups } from "../../src/cli/parseUnits.js";
import { loadDataset } from "../../src/data/loadDataset.js";
import type { Dataset } from "../../src/data/types.js";
import { closeModel, openModel, resolveSite, type LesionModel } from "../../src/engine/model.js";
import { importModel } from "../../src/models/importModel.js";
import { train } from "../../src/models/train.js";
import { study } from "../../src/runs/study.js";
import { ablate } from "../../src/study/ablate.js";
import { fractions, MAX_REPEATS, singles } from "../../src/study/conditions.js";
import { errorOf, randomDataset, randomMlp } from "../helpers.js";

const CHECKPOINT = fileURLToPath(new URL("../fixtures/meyes2019/meyes2019-mlp20/trained.pt", import.meta.url));
let root = "";
let model: LesionModel;
let data: Dataset;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "lesion-edges-"));
  process.env.LESION_CACHE_DIR = join(root, "cache");
  model = await openModel(randomMlp([16, 10, 8, 3], 5, [1, 4, 4]), { name: "m.onnx" });
  data = randomDataset("test:edges", 60, [1, 4, 4], 3, 3);
});

afterAll(async () => {
  await closeModel(model);
});

describe("values at their edges", () => {
  it("fractions with repeats beyond MAX_REPEATS is bad-option naming `repeats`, before any condition is built (1e9 had filled the heap)", async () => {
    const error = await errorOf(() => fractions(resolveSite(model, "fc1"), { fractions: [0.5, 1], order: "random", repeats: 1e9 }));
    expect([error.code, error.message, error.details]).toEqual(["bad-option", `\`repeats\` must be a whole number from 1 to ${MAX_REPEATS}, got 1000000000`, { options: ["repeats"], value: 1e9 }]);
    expect(fractions(resolveSite(model, "fc1"), { fractions: [1], order: "random", repeats: MAX_REPEATS })).toHaveLength(MAX_REPEATS);
  });

  it("an image folder that is a loop of symbolic links is missing-file naming it (it had been an internal error, ELOOP)", async () => {
    const a = join(root, "loopa");
    symlinkSync(join(root, "loopb"), a);
    symlinkSync(a, join(root, "loopb"));
    const error = await errorOf(() => loadDataset(a));
    expect([error.code, error.message]).toEqual(["missing-file", `cannot read ${a}: a loop of symbolic links (ELOOP)`]);
    // A class sub-folder that loops, inside a real folder: the same line, naming it.
    const folder = join(root, "digits");
    mkdirSync(folder);
    symlinkSync(join(folder, "3"), join(folder, "3"));
    expect((await errorOf(() => loadDataset(folder))).message).toBe(`cannot read ${join(folder, "3")}: a loop of symbolic links (ELOOP)`);
  });

  it("train with a batch larger than the data trains on the whole data per step, as batchSize = n does (1e9 had tried to allocate 1e9 samples)", async () => {
    const options = { arch: "mlp:16-8-3", epochs: 2, seed: 4 };
    const huge = await train(data, { ...options, batchSize: 1e9 });
    const whole = await train(data, { ...options, batchSize: data.n });
    expect(Buffer.compare(Buffer.from(huge.model), Buffer.from(whole.model))).toBe(0);
    expect(huge.history.map((e) => e.trainLoss)).toEqual(whole.history.map((e) => e.trainLoss));
  });

  it("study with a site given twice studies it once (it had failed in the fraction step, 4 steps in)", async () => {
    const dir = join(root, "twice");
    const result = await study(model, data, { dir, sites: ["fc1", "fc1"], pairs: "none", fractions: [1], repeats: 1 });
    expect(result.sites).toEqual(["fc1"]);
  });

  it("import with an empty or repeated class name is bad-option naming `classNames` (an empty name had made a CSV column 'accuracy_')", async () => {
    const options = { arch: "mlp", mean: [0.5], std: [0.5] };
    const empty = await errorOf(() => importModel(CHECKPOINT, { ...options, classNames: ["a", "", "c", "d", "e", "f", "g", "h", "i", "j"] }));
    expect([empty.code, empty.message]).toEqual(["bad-option", "`classNames`: name 2 of 10 is empty"]);
    const repeated = await errorOf(() => importModel(CHECKPOINT, { ...options, classNames: ["a", "b", "c", "d", "e", "f", "g", "h", "i", "a"] }));
    expect([repeated.code, repeated.message]).toEqual(["bad-option", "`classNames`: 'a' is given twice"]);
  });

  it("ablate's progress gives each site its first count, though it equals the last site's last (the first count of a site was dropped), and no count twice", async () => {
    const events: Array<[string | undefined, number]> = [];
    const conditions = [...singles(resolveSite(model, "fc1")), ...singles(resolveSite(model, "fc2"))];
    await ablate(model, data, { conditions, loss: false, onProgress: (e) => events.push([e.detail, e.done]) });
    const fc2 = events.filter(([site]) => site === "fc2");
    expect(fc2[0]).toEqual(["fc2", 10]);
    expect(fc2.at(-1)).toEqual(["fc2", 18]);
    expect(events.every(([site, done], i) => i === 0 || site !== events[i - 1][0] || done !== events[i - 1][1])).toBe(true);
  });

  it("an output directory inside the image folder given as data is bad-option (it became a class of the folder)", async () => {
    const folder: Dataset = { ...data, spec: "./ab", folderClasses: ["3", "7"] };
    const error = await errorOf(() => checkOutsideData("ab/out", folder));
    expect([error.code, error.message]).toEqual(["bad-option", "-o ab/out is inside the data folder ./ab: its directory would become a class of it; write the results elsewhere"]);
    expect(() => checkOutsideData("abc/out", folder)).not.toThrow();
    expect(() => checkOutsideData("ab/out", data)).not.toThrow();
  });

  it("a groups file naming a unit twice in a group is bad-groups (it had run as the smaller group)", async () => {
    const error = await errorOf(() => parseGroups('{"t": [3, 3]}', "groups.json"));
    expect([error.code, error.message]).toEqual(["bad-groups", "group 't' in groups.json names unit 3 twice"]);
  });
});
