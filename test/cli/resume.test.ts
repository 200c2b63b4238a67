/** A killed sweep resumes from its resume log and ends with byte-identical result files. */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { encodeNpy } from "../../src/runs/npy.js";
import { random, randomMlp } from "../helpers.js";
import { BIN } from "../lesionCli.js";


function resultFiles(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    let text = readFileSync(join(dir, name)).toString("base64");
    if (name === "summary.json") {
      const summary = JSON.parse(readFileSync(join(dir, name), "utf8"));
      summary.elapsedSeconds = 0;
      text = JSON.stringify(summary);
    }
    files[name] = text;
  }
  return files;
}

async function sleep(ms: number): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, ms));
}

describe("lesion ablate resume", () => {
  it("lesion ablate --units pairs, killed mid-run and run again, writes the same files as an uninterrupted run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-resume-"));
    // Sized to finish in a third of the test's limit on a loaded 2-core machine: 300 conditions of 500 images is five
    // resume-log blocks, so a kill after the first block leaves work for the resumed run.
    writeFileSync(join(dir, "m.onnx"), randomMlp([36, 24, 16, 10], 8, [1, 6, 6]));
    const n = 500;
    // 24·23/2 pairs and the 24 singles their redundancy needs.
    const conditions = 276 + 24;
    const rand = random(2);
    writeFileSync(join(dir, "x.npy"), encodeNpy(Float32Array.from({ length: n * 36 }, () => rand()), [n, 1, 6, 6]));
    writeFileSync(join(dir, "y.npy"), encodeNpy(Int32Array.from({ length: n }, () => Math.floor(rand() * 10)), [n]));
    // Mean ablation goes through the general engine, which logs every 64 conditions: slow enough to kill.
    const args = [BIN, "ablate", "m.onnx", "--data", "npy:x.npy,y.npy", "--site", "fc1", "--units", "pairs", "--mode", "mean"];

    const whole = spawnSync(process.execPath, [...args, "-o", "whole"], { cwd: dir, encoding: "utf8" });
    expect(whole.stderr).toBe("");
    expect(whole.status).toBe(0);
    // The count a resume states (300) is the one the run's line accounts for (helper trial 'newuser46': "4950
    // condition(s)" on stdout, "… of 5050 conditions" when resuming).
    expect(whole.stdout.split("\n")[0]).toMatch(/^276 condition\(s\) \(and 24 single unit\(s\) the pairs' redundancy needs, not reported\) on m\.onnx, npy:/);

    const child = spawn(process.execPath, [...args, "-o", "killed"], { cwd: dir, stdio: "ignore" });
    const resumeLog = join(dir, "killed", "resume-log.jsonl");
    const started = Date.now();
    // Kill once a block of conditions is on disk (header + intact + ≥ 1 block).
    while (Date.now() - started < 30_000) {
      if (existsSync(resumeLog) && readFileSync(resumeLog, "utf8").split("\n").length > 2 + 64) break;
      await sleep(5);
    }
    child.kill("SIGKILL");
    await new Promise((resolve) => child.once("exit", resolve));
    expect(existsSync(join(dir, "killed", "summary.json"))).toBe(false);
    const saved = readFileSync(resumeLog, "utf8").split("\n").length;
    expect(saved).toBeGreaterThan(2 + 64);
    expect(saved).toBeLessThan(2 + conditions);

    const resumed = spawnSync(process.execPath, [...args, "-o", "killed"], { cwd: dir, encoding: "utf8" });
    // Said without a terminal too (a trial's resumed run looked like a fresh one): the conditions on disk before it.
    expect(resumed.stderr).toBe(`lesion: resuming: ${saved - 3} of ${conditions} conditions done before, from killed/resume-log.jsonl\n`);
    expect(resumed.status).toBe(0);
    expect(existsSync(resumeLog)).toBe(false);
    expect(resultFiles(join(dir, "killed"))).toEqual(resultFiles(join(dir, "whole")));

    /** Starts a run into `out`, sends `signals` (30 ms apart) once its resume log holds a condition; exit code and stderr. */
    const stopped = async (out: string, signals: NodeJS.Signals[]) => {
      const run = spawn(process.execPath, [...args, "-o", out], { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      run.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      const log = join(dir, out, "resume-log.jsonl");
      const begun = Date.now();
      while (Date.now() - begun < 30_000 && !(existsSync(log) && readFileSync(log, "utf8").split("\n").length > 2)) await sleep(5);
      for (const [i, signal] of signals.entries()) {
        if (i > 0) await sleep(30);
        run.kill(signal);
      }
      const code = await new Promise((resolve) => run.once("exit", resolve));
      return { code, stderr, lock: existsSync(join(dir, out, "lesion.lock")), log: existsSync(log) };
    };
    // One Ctrl-C delivered twice within milliseconds (as `timeout -s INT` does: the command and its process group)
    // aborts cleanly: one line, exit 130, the lock released, the resume log kept. Before, the second copy exited 130
    // at once, silently, leaving lesion.lock behind.
    // The line counts what the resume log kept (a trial was told "what finished is kept" when nothing was).
    const aborted = { code: 130, stderr: expect.stringMatching(new RegExp(`^lesion: run aborted; [1-9][0-9]* of ${conditions} conditions \\(276 asked for and 24 single unit\\(s\\) the pairs' redundancy needs\\) are kept: the same command resumes from them\n$`)), lock: false, log: true };
    expect(await stopped("interrupted", ["SIGINT", "SIGINT"])).toEqual(aborted);
    // SIGTERM stops it the same way (it had exited at once, silently, leaving lesion.lock behind).
    expect(await stopped("terminated", ["SIGTERM"])).toEqual(aborted);
  });
});

describe("lesion train --epoch-state", () => {
  // A trial: a state of another run was refused without saying how to start over, after "resuming" had been printed,
  // and --overwrite did not discard it.
  it("a state of another run is refused in one line that names the difference and --overwrite; with --overwrite it is removed and training starts over", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-train-state-"));
    const rand = random(5);
    const n = 200;
    writeFileSync(join(dir, "x.npy"), encodeNpy(Float32Array.from({ length: n * 16 }, () => rand()), [n, 1, 4, 4]));
    writeFileSync(join(dir, "y.npy"), encodeNpy(Int32Array.from({ length: n }, (_, i) => i % 3), [n]));
    const spec = `npy:${join(dir, "x.npy")},${join(dir, "y.npy")}`;
    const { loadDataset } = await import("../../src/data/loadDataset.js");
    const { train } = await import("../../src/models/train.js");
    const stop = new AbortController();
    const state = join(dir, "m.epoch-state.json");
    const options = { arch: "mlp:16-8-3", epochs: 3, epochState: state, signal: stop.signal, onEpoch: () => stop.abort() };
    await expect(train(await loadDataset(spec), options)).rejects.toMatchObject({ code: "aborted" });
    expect(existsSync(state)).toBe(true);
    // Another set as test data (the same as the training data would add a warning line).
    writeFileSync(join(dir, "xt.npy"), readFileSync(join(dir, "x.npy")));
    const test = `npy:${join(dir, "xt.npy")},${join(dir, "y.npy")}`;
    const args = ["train", "--arch", "mlp:16-8-3", "--data", spec, "--test", test, "--epochs", "3", "--epoch-state", "-o", join(dir, "m.onnx")];
    // The test set is part of the run: the state above was saved without one.
    const refused = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", env: { ...process.env, LESION_DEBUG: "" } });
    expect(refused.status).toBe(1);
    const lines = refused.stderr.trimEnd().split("\n");
    expect(lines).toHaveLength(1);
    expect(lines[0].startsWith(`lesion: ${state} belongs to a different training run (test none there, ${test} (`)).toBe(true);
    expect(lines[0]).toMatch(/ \([0-9a-f]{12}…\) now\); remove it or choose another path \(--overwrite starts over\)$/);
    const replaced = spawnSync(process.execPath, [BIN, ...args, "--overwrite"], { encoding: "utf8", env: { ...process.env, LESION_DEBUG: "" } });
    expect(replaced.status).toBe(0);
    expect(replaced.stderr).toMatch(new RegExp(`^lesion: --overwrite: removed ${state.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}, which does not resume this run; training from the start\n`));
    expect(replaced.stderr).toMatch(/epoch 3: /);
    expect(existsSync(state)).toBe(false);
    expect(existsSync(join(dir, "m.onnx"))).toBe(true);
  }, 60_000);
});

describe("lesion recover resume", () => {
  it("lesion recover --control, killed after an epoch and run again, resumes and writes the same files as an uninterrupted run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "lesion-recover-resume-"));
    writeFileSync(join(dir, "m.onnx"), randomMlp([16, 12, 3], 3, [1, 4, 4]));
    const rand = random(4);
    // Sized so that an epoch (750 steps of 4 images) takes long enough to kill the run between two of its four.
    const n = 3000;
    writeFileSync(join(dir, "x.npy"), encodeNpy(Float32Array.from({ length: n * 16 }, () => rand()), [n, 1, 4, 4]));
    writeFileSync(join(dir, "y.npy"), encodeNpy(Int32Array.from({ length: n }, (_, i) => i % 3), [n]));
    writeFileSync(join(dir, "xt.npy"), encodeNpy(Float32Array.from({ length: 300 * 16 }, () => rand()), [300, 1, 4, 4]));
    writeFileSync(join(dir, "yt.npy"), encodeNpy(Int32Array.from({ length: 300 }, (_, i) => i % 3), [300]));
    const args = [BIN, "recover", "m.onnx", "--data", "npy:x.npy,y.npy", "--test", "npy:xt.npy,yt.npy", "--site", "fc1", "--units", "1,2", "--epochs", "2", "--control", "--batch-size", "4"];
    const whole = spawnSync(process.execPath, [...args, "-o", "whole"], { cwd: dir, encoding: "utf8" });
    expect(whole.status).toBe(0);
    // One line per epoch as it ends, the recovery's, then the control's.
    expect(whole.stderr.split("\n").filter(Boolean).map((l) => l.replace(/: train loss .*/, ""))).toEqual(["recovery epoch 1/2", "recovery epoch 2/2", "control epoch 1/2", "control epoch 2/2"]);

    const child = spawn(process.execPath, [...args, "-o", "killed"], { cwd: dir, stdio: "ignore" });
    const state = join(dir, "killed", "resume-state.json");
    const started = Date.now();
    while (Date.now() - started < 60_000 && !existsSync(state)) await sleep(2);
    child.kill("SIGKILL");
    await new Promise((resolve) => child.on("exit", resolve));
    expect(existsSync(join(dir, "killed", "summary.json"))).toBe(false);
    const saved = JSON.parse(readFileSync(state, "utf8")) as { recovery: { epoch: number } | null; control: { epoch: number } | null };
    const done = (saved.recovery?.epoch ?? 0) + (saved.control?.epoch ?? 0);
    expect(done).toBeGreaterThanOrEqual(1);
    expect(done).toBeLessThan(4);
    const resumed = spawnSync(process.execPath, [...args, "-o", "killed"], { cwd: dir, encoding: "utf8" });
    expect(resumed.status).toBe(0);
    expect(resumed.stderr.split("\n")[0]).toBe(`lesion: resuming from ${join("killed", "resume-state.json")}: ${done} of 4 epochs done`);
    expect(existsSync(state)).toBe(false);
    // Everything but each epoch's seconds in summary.json.
    const files = (d: string) => {
      const all = resultFiles(join(dir, d));
      const summary = JSON.parse(all["summary.json"]);
      for (const e of [...summary.epochs, ...summary.control]) delete e.seconds;
      return { ...all, "summary.json": JSON.stringify(summary) };
    };
    expect(files("killed")).toEqual(files("whole"));
    // The default step given by hand is the same run (a trial's `--lr 0.01` rerun had been refused as another).
    const same = spawnSync(process.execPath, [...args, "--lr", "0.01", "-o", "killed"], { cwd: dir, encoding: "utf8" });
    expect([same.status, same.stdout]).toEqual([0, "killed already holds this run's results (same model, data and options): nothing computed; --overwrite computes them again\n"]);
  }, 120_000);
});
