/**
 * Result directories from the command line: a directory never mixes two runs, two runs never work in one directory
 * at once, file-system faults and an unwritable cache are one line and exit 1 before any work, and every summary
 * carries its provenance.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { encodeNpy } from "../../src/runs/npy.js";
import { random, randomMlp } from "../helpers.js";
import { runLesion } from "../lesionCli.js";

let dir = "";
let data = "";
let imagesSha = "";

const lesion = (args: string[], env: Record<string, string> = {}) => runLesion(args, { cwd: dir, cache: join(dir, "cache"), env });

function expectOneLineError(run: ReturnType<typeof lesion>, text: string | RegExp): void {
  expect(run.stdout).toBe("");
  const lines = run.stderr.trimEnd().split("\n");
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^lesion: /);
  expect(lines[0]).not.toMatch(/internal error/);
  expect(lines[0]).toMatch(text);
  expect(run.status).toBe(1);
}

const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");
const summaryOf = (out: string) => JSON.parse(readFileSync(join(out, "summary.json"), "utf8"));

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "lesion-resultdir-"));
  // Two different networks over the same [1,4,4] images: same sites fc1, fc2, other weights.
  writeFileSync(join(dir, "a.onnx"), randomMlp([16, 12, 8, 3], 5, [1, 4, 4]));
  writeFileSync(join(dir, "b.onnx"), randomMlp([16, 12, 8, 3], 9, [1, 4, 4]));
  const rand = random(7);
  const n = 120;
  const images = Float32Array.from({ length: n * 16 }, () => rand());
  const labels = Int32Array.from({ length: n }, (_, i) => i % 3);
  writeFileSync(join(dir, "x.npy"), encodeNpy(images, [n, 1, 4, 4]));
  writeFileSync(join(dir, "y.npy"), encodeNpy(labels, [n]));
  data = "npy:x.npy,y.npy";
  // The data identity, computed here from the arrays written: float32 pixels then int32 labels, little-endian.
  imagesSha = createHash("sha256").update(new Uint8Array(images.buffer)).update(new Uint8Array(labels.buffer)).digest("hex");
});

describe("lesion result directories (bin)", () => {
  it("lesion ablate -o D with another model or site than D holds refuses, naming what differs; --overwrite replaces every file", () => {
    const out = join(dir, "d1");
    expect(lesion(["ablate", "a.onnx", "--data", data, "--site", "fc1", "-o", out]).status).toBe(0);
    const first = summaryOf(out);
    expect(first.provenance.model.sha256).toBe(sha256(readFileSync(join(dir, "a.onnx"))));

    expectOneLineError(lesion(["ablate", "b.onnx", "--data", data, "--site", "fc1", "-o", out]), /holds another run \(model [0-9a-f]{8}… there, [0-9a-f]{8}… now\); use --overwrite to replace it, or choose another output directory/);
    expectOneLineError(lesion(["ablate", "a.onnx", "--data", data, "--site", "fc2", "-o", out]), /options\.site fc1 there, fc2 now/);
    // The same files spelt another way (`./`, an absolute path) are the same run: reused, not "another run".
    for (const spelt of ["npy:./x.npy,./y.npy", `npy:${join(dir, "x.npy")},${join(dir, "y.npy")}`]) {
      const again = lesion(["ablate", "a.onnx", "--data", spelt, "--site", "fc1", "-o", out]);
      expect([again.status, again.stderr]).toEqual([0, ""]);
      expect(summaryOf(out).elapsedSeconds).toBe(first.elapsedSeconds);
    }
    // Refused runs left the first run as it was.
    expect(summaryOf(out)).toEqual(first);
    expect(readdirSync(out).sort()).toEqual(["changes.npy", "fc1.csv", "labels.npy", "per_class.npy", "predictions.npy", "run.json", "summary.json"]);

    // Another site with --overwrite: no stale fc1.csv beside the new summary.
    expect(lesion(["ablate", "b.onnx", "--data", data, "--site", "fc2", "-o", out, "--overwrite"]).status).toBe(0);
    expect(readdirSync(out).sort()).toEqual(["changes.npy", "fc2.csv", "labels.npy", "per_class.npy", "predictions.npy", "run.json", "summary.json"]);
    const second = summaryOf(out);
    expect(second.provenance.model.sha256).toBe(sha256(readFileSync(join(dir, "b.onnx"))));
    expect(second.conditions.every((c: { site: string }) => c.site === "fc2")).toBe(true);
    // Its baseline is b's own, as a plain evaluation gives it.
    const evaluated = JSON.parse(lesion(["eval", "b.onnx", "--data", data, "--json"]).stdout);
    expect(second.baseline.accuracy).toBe(evaluated.accuracy);

    // The same command again is a rerun of the same run: allowed, same results.
    expect(lesion(["ablate", "b.onnx", "--data", data, "--site", "fc2", "-o", out]).status).toBe(0);
    expect({ ...summaryOf(out), elapsedSeconds: 0 }).toEqual({ ...second, elapsedSeconds: 0 });
  });

  // A trial's `ablate … --units 25 --overwrite` on a finished run: one line, exit 1, but the run's files were gone and a
  // run.json of the refused run left, which then refused the original command.
  it("--overwrite with a bad site, unit or value refuses before the directory is touched: the finished run stays as it was", () => {
    const bad: Record<string, { run: string[]; variants: Array<[string[], RegExp]> }> = {
      ablate: {
        run: ["ablate", "a.onnx", "--data", data, "--site", "fc1"],
        variants: [
          [["--units", "25"], /^lesion: unit 25 is out of range for site fc1 \(0\.\.11\)$/],
          [["--fraction", "1.5"], /fraction 1\.5 is outside \(0, 1\]/],
          [["--units", "a"], /--units 'a' is not understood/],
          [["--pairs", "fc9"], /unknown site 'fc9'/],
          [["--units", "@x.npy"], /x\.npy/],
        ],
      },
      record: { run: ["record", "a.onnx", "--data", data], variants: [[["--sites", "fc9"], /unknown site 'fc9'/]] },
      characterize: { run: ["characterize", "a.onnx", "--data", data, "--no-map"], variants: [[["--sites", "fc1,fc9"], /unknown site 'fc9'/]] },
      recover: {
        run: ["recover", "a.onnx", "--data", data, "--test", data, "--site", "fc1", "--units", "0", "--epochs", "1"],
        variants: [
          [["--units", "3,700"], /unit 700 is out of range for site fc1/],
          [["--lr", "-1"], /--lr \(the learning rate\) must be a positive number, got -1/],
        ],
      },
    };
    for (const [command, { run, variants }] of Object.entries(bad)) {
      const out = join(dir, `keep-${command}`);
      expect(lesion([...run, "-o", out]).status).toBe(0);
      const snapshot = () => Object.fromEntries(readdirSync(out).sort().map((name) => [name, sha256(readFileSync(join(out, name)))]));
      const before = snapshot();
      for (const [extra, message] of variants) {
        expectOneLineError(lesion([...run, ...extra, "--overwrite", "-o", out]), message);
        expect(snapshot(), `${command} ${extra.join(" ")}`).toEqual(before);
      }
      // The original command is still a rerun of the finished run.
      expect(lesion([...run, "-o", out]).stdout).toMatch(/already holds this run's results/);
    }
  });

  // A trial's `recover … --units 44,7,3` after `--units 3,7,44` was refused as another run: the same units, held at once.
  it("lesion recover with the same units in another order is a rerun of the finished run, not another run", () => {
    const out = join(dir, "units-order");
    const run = ["recover", "a.onnx", "--data", data, "--test", data, "--site", "fc1", "--epochs", "1", "-o", out];
    expect(lesion([...run, "--units", "5,0,3"]).status).toBe(0);
    expect(lesion([...run, "--units", "0,3,5"]).stdout).toMatch(/already holds this run's results/);
    expect(lesion([...run, "--units", "3,5,0,5"]).stdout).toMatch(/already holds this run's results/);
    expectOneLineError(lesion([...run, "--units", "0,3"]), /options\.units \[0,3,5\] there, \[0,3\] now/);
  });

  it("a second run on a directory in use is refused naming the owner's pid; a lock of a dead process is taken over", async () => {
    const out = join(dir, "d2");
    mkdirSync(out);
    // A live owner: a process that sleeps while the run is tried.
    const owner = spawn(process.execPath, ["-e", "setTimeout(() => {}, 60000)"]);
    try {
      writeFileSync(join(out, "lesion.lock"), `${owner.pid}\n`);
      expectOneLineError(lesion(["record", "a.onnx", "--data", data, "-o", out]), new RegExp(`${out.replace(/[/.]/g, "\\$&")} is in use by another lesion run \\(pid ${owner.pid}, `));
      expect(existsSync(join(out, "summary.json"))).toBe(false);
      expectOneLineError(lesion(["ablate", "a.onnx", "--data", data, "--site", "fc1", "-o", out]), /is in use by another lesion run/);
    } finally {
      owner.kill();
    }
    await new Promise((resolve) => owner.once("exit", resolve));
    // The owner is gone: its lock is stale and taken over; the run completes and leaves no lock.
    const run = lesion(["record", "a.onnx", "--data", data, "-o", out]);
    expect(run.stderr).toBe("");
    expect(run.status).toBe(0);
    expect(existsSync(join(out, "summary.json"))).toBe(true);
    expect(existsSync(join(out, "lesion.lock"))).toBe(false);
  });

  it("-o under a file, on a file, in a directory that refuses writes (/sys, /proc): one line naming the path, exit 1", () => {
    writeFileSync(join(dir, "plain-file"), "x");
    expectOneLineError(lesion(["record", "a.onnx", "--data", data, "-o", join(dir, "plain-file", "out")]), new RegExp(`cannot create directory ${join(dir, "plain-file", "out")}: .*\\(ENOTDIR\\)`));
    expectOneLineError(lesion(["ablate", "a.onnx", "--data", data, "--site", "fc1", "-o", join(dir, "plain-file")]), new RegExp(`cannot create directory ${join(dir, "plain-file")}: it is a file, not a directory \\(EEXIST\\)`));
    // Tests run as root, whom permissions do not stop; sysfs refuses new directories even to root.
    expectOneLineError(lesion(["characterize", "a.onnx", "--data", data, "--no-map", "-o", "/sys/lesion-test/out"]), /cannot create directory \/sys\/lesion-test\/out: .*\((EPERM|EACCES|EROFS)\)/);
    // Training is refused before it starts, not after.
    expectOneLineError(lesion(["train", "--arch", "mlp:16-8-3", "--data", data, "--epochs", "50", "-o", join(dir, "plain-file", "m.onnx")]), new RegExp(`output directory ${join(dir, "plain-file")} is not writable: .*\\(EEXIST\\)`));
    // Node's recursive mkdir never returns under /proc; lesion must answer, and not call /proc missing.
    expectOneLineError(lesion(["record", "a.onnx", "--data", data, "-o", "/proc/lesion-test/out"]), /^lesion: cannot create directory \/proc\/lesion-test\/out: \/proc does not allow new directories \(ENOENT\)$/);
    // /proc itself holds other files: refused before its lock is tried.
    expectOneLineError(lesion(["record", "a.onnx", "--data", data, "-o", "/proc"]), /^lesion: \/proc holds other files \(\S+, \S+, \S+, … \d+ in all\) and no lesion run; choose a new or empty output directory$/);
    // The directory that makes no files is the one named (a trial's `explore -o /proc/ex.html` named "/").
    expectOneLineError(lesion(["explore", "a.onnx", "--data", data, "-o", "/proc/ex.html"]), /^lesion: output directory \/proc is not writable: \/proc does not allow new files \(ENOENT\)$/);
  });

  // A user's `ablate … -o ~/Documents` wrote summary.json, .npy files and a CSV among their own files.
  it("-o DIR that holds other files and no lesion run: every command with a result directory refuses in one line naming it, exit 1, --overwrite too, nothing written; a file output may go there", () => {
    const docs = join(dir, "docs");
    mkdirSync(join(docs, "photos"), { recursive: true });
    writeFileSync(join(docs, "notes.txt"), "the user's notes");
    writeFileSync(join(docs, "thesis.pdf"), "%PDF");
    const contents = () => readdirSync(docs, { recursive: true }).map(String).sort();
    const before = contents();
    expect(before).toEqual(["notes.txt", "photos", "thesis.pdf"]);
    const runs: Record<string, string[]> = {
      ablate: ["ablate", "a.onnx", "--data", data, "--site", "fc1", "--units", "all"],
      record: ["record", "a.onnx", "--data", data],
      characterize: ["characterize", "a.onnx", "--data", data, "--no-map"],
      recover: ["recover", "a.onnx", "--data", data, "--test", data, "--site", "fc1", "--units", "0", "--epochs", "1"],
      transplant: ["transplant", "b.onnx", "--into", "a.onnx", "--data", data, "--test", data, "--units", "1,2", "--budget-epochs", "1"],
    };
    for (const [command, args] of Object.entries(runs)) {
      for (const extra of [[], ["--overwrite"]]) {
        expectOneLineError(lesion([...args, ...extra, "-o", docs]), new RegExp(`^lesion: ${docs.replace(/[/.]/g, "\\$&")} holds other files \\(notes\\.txt, photos/, thesis\\.pdf\\) and no lesion run; choose a new or empty output directory$`));
        expect(contents(), `${command} ${extra.join(" ")}`).toEqual(before);
      }
    }
    // A study: refused before its default network would be trained (none is given here), as with another model.
    for (const args of [["study", "-o", docs], ["study", "a.onnx", "--data", data, "-o", docs]]) {
      expectOneLineError(lesion(args), `lesion: ${docs} holds other files (notes.txt, photos/, thesis.pdf) and no lesion study; choose a new or empty output directory`);
    }
    expect(contents()).toEqual(before);
    // An output that is a file goes among other files, as before.
    expect(lesion(["explore", "a.onnx", "--data", data, "-o", join(docs, "explorer.html")]).status).toBe(0);
    expect(contents()).toEqual(["explorer.html", ...before]);
    // A run's own directory that the user added a file to is still its own: the rerun of the finished run reuses it.
    const own = join(dir, "own");
    expect(lesion([...runs.record, "-o", own]).status).toBe(0);
    writeFileSync(join(own, "notes.txt"), "the user's notes");
    expect(lesion([...runs.record, "-o", own]).stdout).toMatch(/already holds this run's results/);
  });

  it("an unwritable cache directory is found before the work starts: lesion study trains nothing and says how to choose another", () => {
    writeFileSync(join(dir, "cache-file"), "x");
    const started = Date.now();
    const run = lesion(["study", "-o", join(dir, "never-study")], { LESION_CACHE_DIR: join(dir, "cache-file") });
    expectOneLineError(run, new RegExp(`cache directory ${join(dir, "cache-file", "models")} is not writable \\(set LESION_CACHE_DIR to a writable directory\\): .*\\(ENOTDIR\\)`));
    // Training the default network takes tens of seconds; the refusal comes before it.
    expect(Date.now() - started).toBeLessThan(20_000);
    const map = lesion(["characterize", "a.onnx", "--data", data, "-o", join(dir, "never-map")], { LESION_CACHE_DIR: join(dir, "cache-file") });
    expectOneLineError(map, /cache directory .*stimulus-maps is not writable/);
  });

  it("summary.json of record, ablate, characterize and recover, and eval --json, record lesion and onnxruntime versions, threads, optimisation level, model sha256, data identity and seed", () => {
    const modelSha = sha256(readFileSync(join(dir, "a.onnx")));
    const outputs: Record<string, string[]> = {
      record: ["record", "a.onnx", "--data", data, "-o", join(dir, "p-record")],
      ablate: ["ablate", "a.onnx", "--data", data, "--site", "fc1", "--fraction", "0.5,1", "--repeats", "2", "--seed", "4", "-o", join(dir, "p-ablate")],
      characterize: ["characterize", "a.onnx", "--data", data, "--no-map", "--seed", "3", "-o", join(dir, "p-characterize")],
      recover: ["recover", "a.onnx", "--data", data, "--test", data, "--site", "fc1", "--units", "0,1", "--epochs", "1", "--seed", "2", "-o", join(dir, "p-recover")],
    };
    const seeds: Record<string, number | null> = { record: null, ablate: 4, characterize: 3, recover: 2, eval: null };
    const ortVersion = JSON.parse(readFileSync(fileURLToPath(new URL("../../node_modules/onnxruntime-node/package.json", import.meta.url)), "utf8")).version;
    const lesionVersion = JSON.parse(readFileSync(fileURLToPath(new URL("../../package.json", import.meta.url)), "utf8")).version;
    const provenances: Record<string, Record<string, unknown>> = {};
    for (const [command, args] of Object.entries(outputs)) {
      const run = lesion(args);
      // recover retrains and tests on the same data here: the one thing it warns of, after its epoch's line.
      const said = command === "recover" ? run.stderr.replace(/^recovery epoch 1\/1: train loss \d+\.\d{4}, test accuracy \d+\.\d\d%, test loss \d+\.\d{4} \(\d+\.\d s\)\n/, "") : run.stderr;
      expect(said).toBe(command === "recover" ? `lesion: warning: the test data is the training data (${data}): recovery is measured on the images the network retrains on; give --test another set\n` : "");
      expect(run.status).toBe(0);
      provenances[command] = summaryOf(args[args.length - 1]).provenance;
    }
    provenances.eval = JSON.parse(lesion(["eval", "a.onnx", "--data", data, "--json"]).stdout).provenance;
    for (const [command, p] of Object.entries(provenances)) {
      expect(p, command).toMatchObject({
        lesion: lesionVersion,
        onnxruntime: ortVersion,
        node: process.versions.node,
        graphOptimizationLevel: "basic",
        model: { name: "a.onnx", sha256: modelSha },
        // The spec with its paths absolute: the same files named from another directory are the same data.
        data: { spec: `npy:${join(dir, "x.npy")},${join(dir, "y.npy")}`, n: 120, shape: [1, 4, 4], sha256: imagesSha },
        seed: seeds[command],
      });
      expect(p.threads as number, command).toBeGreaterThanOrEqual(1);
    }
    expect((provenances.recover.otherData as { test: { sha256: string } }).test.sha256).toBe(imagesSha);
  });
});
