/**
 * `lesion train` run again at the same output path: the same command finds its run finished (exit 0, one line naming
 * its files, nothing trained or written), as `lesion recover` does in its directory; another run is refused in one
 * line naming what differs (exit 1), the files left as they were.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeNpy } from "../../src/runs/npy.js";
import { random } from "../helpers.js";
import { runLesion } from "../lesionCli.js";

let dir = "";
const lesion = (...args: string[]) => runLesion(args, { cwd: dir, cache: join(dir, "cache") });
const files = ["m.onnx", "m.initial.onnx", "m.history.json"];
const train = ["train", "--arch", "mlp:16-8-3", "--data", "npy:x.npy,y.npy", "--epochs", "2", "-o", "m.onnx"];

/** Each file's bytes and inode: a write (a temporary renamed over the path) gives a new inode even with equal bytes. */
const snapshot = () => files.map((name) => ({ name, bytes: readFileSync(join(dir, name)).toString("base64"), inode: statSync(join(dir, name)).ino }));
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** 120 samples of [1,4,4] pixels from `seed`, labels 0..2. */
function writeData(seed: number): void {
  const rand = random(seed);
  writeFileSync(join(dir, "x.npy"), encodeNpy(Float32Array.from({ length: 120 * 16 }, () => rand()), [120, 1, 4, 4]));
  writeFileSync(join(dir, "y.npy"), encodeNpy(Int32Array.from({ length: 120 }, (_, i) => i % 3), [120]));
}

function expectOneLineError(run: ReturnType<typeof lesion>, text: RegExp): void {
  expect([run.status, run.stdout]).toEqual([1, ""]);
  const lines = run.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(text);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "lesion-train-rerun-"));
  writeData(7);
});

describe("lesion train run again (bin)", () => {
  // A trial killed `train --epoch-state`, then trained without it: the 10 MB state stayed for good.
  it("lesion train without --epoch-state removes a state a killed run left at the output path, once the model is written", () => {
    writeFileSync(join(dir, "k.epoch-state.json"), "{}");
    const run = lesion("train", "--arch", "mlp:16-8-3", "--data", "npy:x.npy,y.npy", "--epochs", "1", "-o", "k.onnx");
    expect(run.status, run.stderr).toBe(0);
    expect(existsSync(join(dir, "k.onnx"))).toBe(true);
    expect(existsSync(join(dir, "k.epoch-state.json"))).toBe(false);
  });

  it("lesion train … -o m.onnx twice: the second says the run is finished, exits 0 and writes nothing; another option, data or model there is refused in one line", () => {
    const first = lesion(...train);
    expect(first.status, first.stderr).toBe(0);
    const before = snapshot();
    // The history records both models' hashes, as computed here from the files.
    const history = JSON.parse(readFileSync(join(dir, "m.history.json"), "utf8"));
    expect(history.sha256).toEqual({ model: sha256(readFileSync(join(dir, "m.onnx"))), initial: sha256(readFileSync(join(dir, "m.initial.onnx"))) });

    const finished = "m.onnx already holds this run's model (same architecture, data and options): nothing trained; its files are m.onnx, m.initial.onnx and m.history.json; --overwrite trains it again\n";
    // The same command, and the same run spelt otherwise (SGD's default --lr given, the data with ./): no epoch trained.
    for (const extra of [[], ["--lr", "0.02"], ["--data", "npy:./x.npy,./y.npy"]]) {
      const again = lesion(...train, ...extra);
      expect([again.status, again.stdout, again.stderr], extra.join(" ")).toEqual([0, finished, ""]);
      expect(snapshot()).toEqual(before);
    }
    // --json prints the stored history, as a fresh run prints what it writes.
    const json = lesion(...train, "--json");
    expect([json.status, json.stdout]).toEqual([0, readFileSync(join(dir, "m.history.json"), "utf8")]);

    // Another run at the same path: refused before training, naming what differs; nothing written.
    const refusal = (what: string) => new RegExp(`^lesion: m\\.onnx, m\\.initial\\.onnx, m\\.history\\.json exist \\(${what}\\); use --overwrite to replace them, or choose another -o path$`);
    expectOneLineError(lesion(...train, "--epochs", "3"), refusal("another training run: options\\.epochs 2 there, 3 now"));
    expectOneLineError(lesion(...train, "--seed", "4", "--mean", "0.25"), refusal("another training run: mean \\[0\\.5\\] there, \\[0\\.25\\] now; options\\.seed 0 there, 4 now"));
    expectOneLineError(lesion(...train, "--exclude-classes", "1"), refusal("another training run: excludeClasses \\[\\] there, \\[1\\] now"));
    expect(snapshot()).toEqual(before);
    // The same spec over other pixels is other data.
    writeData(8);
    expectOneLineError(lesion(...train), refusal(`another training run: data\\.sha256 ${history.run.data.sha256.slice(0, 8)}… there, [0-9a-f]{8}… now`));
    writeData(7);
    expect(lesion(...train).status).toBe(0);
    // A model replaced since (another file under the name) is not the run's.
    writeFileSync(join(dir, "m.onnx"), readFileSync(join(dir, "m.initial.onnx")));
    expectOneLineError(lesion(...train), refusal("the models are not the ones m\\.history\\.json records"));
    // A history without the run's identity (an earlier lesion's): refused as before, without a reason.
    writeFileSync(join(dir, "m.history.json"), JSON.stringify({ arch: "mlp:16-8-3", history: [] }));
    expectOneLineError(lesion(...train), /^lesion: m\.onnx, m\.initial\.onnx, m\.history\.json exist; use --overwrite to replace them, or choose another -o path$/);
    // --overwrite trains again, and the rerun after it is finished.
    const overwritten = lesion(...train, "--overwrite");
    expect(overwritten.status, overwritten.stderr).toBe(0);
    expect(readFileSync(join(dir, "m.onnx")).toString("base64")).toBe(before[0].bytes);
    expect(lesion(...train).stdout).toBe(finished);
  });
});
