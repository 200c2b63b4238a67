/** Pieces every command shares: opening inputs, number parsing, progress rendering, printing. */
import type { SingleBar } from "cli-progress";
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join, resolve, sep } from "node:path";
import { dataIdentity } from "../data/dataIdentity.js";
import { loadDataset, type LoadDatasetOptions } from "../data/loadDataset.js";
import { imageFolderClassNames, matchClassNames, sameNames } from "../data/matchClassNames.js";
import { parseDataSpec } from "../data/parseDataSpec.js";
import type { Dataset } from "../data/types.js";
import type { LesionModel } from "../engine/model.js";
import { fail } from "../errors.js";
import type { Progress } from "../progress.js";
import { LESION_VERSION, openResultDir, SUMMARY_FILE, type ResultDir } from "../runs/resultDir.js";
import { optionOf } from "./flagMessage.js";

/** Flag tables are typed over a verb's options: every option has a flag, or null with the reason it has none. */
export type FlagTable<Options> = { [K in keyof Required<Options>]: string | null };

export function parseInteger(value: string, flag: string, min = 1): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < min) fail("bad-option", `${flag} takes a whole number ≥ ${min}, got '${value}'`, { options: [optionOf(flag)], value });
  return number;
}

/** parseInteger of a flag without a default: undefined where it was not given (the library's default then applies). */
export function parseOptionalInteger(value: string | undefined, flag: string, min = 1): number | undefined {
  return value === undefined ? undefined : parseInteger(value, flag, min);
}

/**
 * One class named on the command line (`--class`, `--exclude-classes`): an index, or one of `names` (the class names
 * of `owner`, "the recipient"). Anything that looks like a number is an index ("-1" and "3.5" are refused as such, not
 * looked up as names). Throws `bad-option` (empty, not a whole number ≥ 0, or a name `owner` does not have).
 */
export function parseClass(item: string, names: readonly string[] | null, flag: string, owner: string): number {
  const text = item.trim();
  if (text === "") fail("bad-option", `${flag} takes a class index or one of ${owner}'s class names, got ''`, { options: [optionOf(flag)], value: item });
  if (/^[-+]?(\d+\.?\d*|\.\d+)$/.test(text)) return parseInteger(text, flag, 0);
  const index = names ? names.indexOf(text) : -1;
  if (index < 0) fail("bad-option", `${flag} ${text}: ${owner} has no class of that name (${names && names.length > 0 ? `its classes: ${names.join(", ")}` : "it names no classes: give an index"})`, { options: [optionOf(flag)], value: text });
  return index;
}

export function parseNumberList(value: string, flag: string): number[] {
  const numbers = value.split(",").map((v) => Number(v.trim()));
  if (numbers.length === 0 || numbers.some((n) => !Number.isFinite(n))) fail("bad-option", `${flag} takes comma-separated numbers, got '${value}'`, { options: [optionOf(flag)], value });
  return numbers;
}

export function parseShape(value: string, flag: string): [number, number, number] {
  const parts = value.split(/[x,]/).map(Number);
  if (parts.length !== 3 || parts.some((p) => !Number.isInteger(p) || p < 1)) fail("bad-option", `${flag} takes CxHxW, e.g. 1x28x28; got '${value}'`, { options: [optionOf(flag)], value });
  return parts as [number, number, number];
}

/**
 * The model's own data options for `loadDataset`: its class names (an image folder is matched to them by name, or
 * by ImageFolder's numbering of its K classes), its channels (a folder's images are converted to them), and the resize
 * and crop `lesion import` stored for image folders.
 */
function modelData(model: LesionModel): LoadDatasetOptions {
  const channels = model.preprocessing.imageShape?.[0];
  return {
    classNames: model.classNames,
    numClasses: model.numClasses,
    channels: channels === 1 || channels === 3 ? channels : null,
    resize: model.preprocessing.resize,
    crop: model.preprocessing.crop,
  };
}

/**
 * loadDataset for `model` (its class names, classes, channels, resize and crop). Where the data is an image folder
 * and the model names no classes, says on stderr which class each sub-folder becomes unless the folder is exactly
 * 0..K−1 read as those classes: a trial's 4-class folder scored 1.90 % without a word, folders 0..11 of a 12-class
 * model are ImageFolder's classes ("10" is class 2), and a folder with some of 1..10 is numbered on a guess.
 */
export async function loadModelData(spec: string, model: LesionModel): Promise<Dataset> {
  const data = await loadDataset(spec, modelData(model));
  const folders = data.folderClasses;
  if (folders && !model.classNames) {
    const classOf = (name: string) => data.classNames.indexOf(name);
    const exact = folders.length === model.numClasses && folders.every((name) => String(classOf(name)) === name);
    if (!exact) {
      const shown = folders.slice(0, 12).map((name) => `${name}/ → ${classOf(name)}`).join(", ") + (folders.length > 12 ? ", …" : "");
      const first = [0, 1].find((f) => sameNames(data.classNames, imageFolderClassNames(data.numClasses, f)));
      const how = first === undefined ? "as torchvision's ImageFolder numbers its classes" : `as torchvision's ImageFolder numbers folders ${first}..${first + data.numClasses - 1}, taken to be those the model was trained on`;
      console.error(`lesion: note: ${model.name} names no classes, so the sub-folders of ${spec} are numbered ${how} (folder → class: ${shown}); \`lesion import --class-names\` names the model's classes`);
    }
  }
  return data;
}

/**
 * Training and test data for `model` (recover, transplant): each as loadModelData reads it, and where the model names
 * no classes and both are image folders, the test folder matched to the training folder's classes by name (a test
 * folder without one of them would number the others differently).
 */
export async function loadTrainingData(specs: { train: string; test: string }, model: LesionModel): Promise<{ data: Dataset; test: Dataset }> {
  const data = await loadModelData(specs.train, model);
  return { data, test: numberedAs(await loadModelData(specs.test, model), data, model) };
}

/**
 * `other` (a test or recovery folder) numbered as `data` numbers its classes, where `model` names none and both are
 * image folders; else as it is (with class names, loadModelData matched both to them already).
 */
export function numberedAs(other: Dataset, data: Dataset, model: LesionModel): Dataset {
  return !model.classNames && data.folderClasses && other.folderClasses ? matchClassNames(other, data.classNames) : other;
}

/** Seconds between progress lines where stderr is no terminal (a pipe, a log, CI); a run shorter than this prints none. */
const LINE_SECONDS = 30;

/** A progress bar with ETA on a TTY; elsewhere a line every `lineSeconds` (progressLines). */
export function progressReporter(enabled = process.stderr.isTTY === true, lineSeconds = LINE_SECONDS): { onProgress: (event: Progress) => void; stop: () => void } {
  const shown = enabled ? progressBar() : progressLines(lineSeconds);
  return {
    onProgress(event) {
      // A resumed run says so, with or without a terminal (a trial's rerun without one looked like a fresh run).
      if (event.phase === "resume") process.stderr.write(`lesion: resuming: ${event.done} of ${event.total} conditions done before, from ${event.detail}\n`);
      else shown.onProgress(event);
    },
    stop: shown.stop,
  };
}

/** A progress bar on a terminal (stderr). */
function progressBar(): { onProgress: (event: Progress) => void; stop: () => void } {
  // Loaded only for a TTY: pipes and CI never pay its start-up.
  const cliProgress = createRequire(import.meta.url)("cli-progress") as typeof import("cli-progress");
  const bar: SingleBar = new cliProgress.SingleBar(
    { stream: process.stderr, format: "{phase} [{bar}] {percentage}% | {value}/{total} | ETA {eta_formatted}", hideCursor: true, clearOnComplete: true },
    cliProgress.Presets.shades_classic,
  );
  let phase = "";
  return {
    onProgress(event) {
      // A phase with total 0 (the stimulus map) has no measure of progress: say it is working rather than draw NaN %.
      const label = `${event.detail ? `${event.phase} ${event.detail}` : event.phase}${event.total <= 0 ? " (working…)" : ""}`;
      if (label !== phase) {
        if (phase) bar.stop();
        bar.start(Math.max(1, event.total), event.done, { phase: label });
        phase = label;
      } else bar.update(event.done);
    },
    stop() {
      if (phase) bar.stop();
    },
  };
}

/**
 * Progress where stderr is no terminal: every `lineSeconds`, one line `lesion: PHASE DONE/TOTAL (P %), S s`, so that a
 * long run in a log (a transplant over a full data set, a CNN study) shows that it moves; phases without a measure
 * (total 0) print none.
 */
function progressLines(lineSeconds: number): { onProgress: (event: Progress) => void; stop: () => void } {
  const started = performance.now();
  let next = started + lineSeconds * 1000;
  let last: Progress | null = null;
  const write = (event: Progress, now: number) => {
    next = now + lineSeconds * 1000;
    const label = event.detail ? `${event.phase} ${event.detail}` : event.phase;
    const amount = event.total > 0 ? `${event.done}/${event.total} (${Math.floor((100 * event.done) / event.total)} %)` : "(working…)";
    process.stderr.write(`lesion: ${label} ${amount}, ${Math.round((now - started) / 1000)} s\n`);
  };
  // Work between events (a wide layer's pair losses in worker threads: a trial's log was silent for 407 s) still gets
  // its line every lineSeconds, with the last count, whenever this thread is free to write it.
  const heartbeat = setInterval(() => {
    const now = performance.now();
    if (last && now >= next) write(last, now);
  }, 1000);
  heartbeat.unref();
  return {
    onProgress(event) {
      last = event;
      const now = performance.now();
      if (now < next || !(event.total > 0)) return;
      write(event, now);
    },
    stop() {
      clearInterval(heartbeat);
    },
  };
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

export function percent(fraction: number | null): string {
  return fraction === null ? "  n/a" : `${(fraction * 100).toFixed(2)}%`;
}

/** A change of accuracy (a fraction) in signed percentage points, as the explorer and the report write it: "−4.21 pp". */
export function points(change: number): string {
  return `${change >= 0 ? "+" : "−"}${Math.abs(100 * change).toFixed(2)} pp`;
}

export function parseList(value: string, flag?: string): string[] {
  const items = value.split(",").map((s) => s.trim()).filter((s) => s.length > 0);
  // `--sites ,` named nothing and recorded "0 sites" with success.
  if (flag && items.length === 0) fail("bad-option", `${flag} lists no name: '${value}'`, { options: [optionOf(flag)], value });
  return items;
}

/** `--optimizer`: sgd (with momentum) or adam; anything else is `bad-option`. */
export function parseOptimizer(value: string): "sgd" | "adam" {
  if (value !== "sgd" && value !== "adam") fail("bad-option", `--optimizer must be sgd or adam, got '${value}'`, { options: ["optimizer"], value });
  return value;
}

export function parseNumber(value: string, flag: string): number {
  const number = Number(value);
  if (value.trim() === "" || !Number.isFinite(number)) fail("bad-option", `${flag} takes a number, got '${value}'`, { options: [optionOf(flag)], value });
  return number;
}

/** How long after a Ctrl-C another one counts as a second (quit at once) rather than the same one delivered twice. */
const SECOND_INTERRUPT_MS = 500;

/**
 * The first Ctrl-C (or SIGTERM, SIGHUP) aborts the run cleanly (resume logs stay); a second one (SECOND_INTERRUPT_MS
 * later), or one after `dispose`, exits at once with 130.
 */
export function abortOnInterrupt(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  let first = 0;
  let disposed = false;
  // One Ctrl-C can arrive twice within milliseconds (`timeout -s INT` signals the command and its process group):
  // only a second one a moment later quits at once, without the lock's release or the resume log's last line. After
  // an abort the process stays (listening) until that moment has passed: a late copy arriving while Node shuts down
  // would kill it by the signal before the lock is released.
  const onSignal = () => {
    if (controller.signal.aborted) {
      if (performance.now() - first > SECOND_INTERRUPT_MS) process.exit(130);
      return;
    }
    if (disposed) process.exit(130);
    first = performance.now();
    controller.abort();
  };
  // SIGTERM (kill, a job scheduler, `timeout`) and SIGHUP (a closed terminal) stop a run as Ctrl-C does: a trial's
  // SIGTERM had exited at once, silently, leaving the lock behind.
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const name of signals) process.on(name, onSignal);
  const off = () => {
    for (const name of signals) process.off(name, onSignal);
  };
  const dispose = () => {
    if (disposed) return;
    disposed = true;
    const wait = controller.signal.aborted ? SECOND_INTERRUPT_MS - (performance.now() - first) : 0;
    if (wait > 0) setTimeout(off, wait);
    else off();
  };
  return { signal: controller.signal, dispose };
}

/**
 * The train and test specs of a training command: a named set without a split (`mnist`) trains on its train split
 * and tests on its test split; any other spec is used as given, tested on `test` when given.
 */
export function trainingSpecs(data: string, test: string | undefined): { train: string; test: string | undefined } {
  const named = namedSet(data);
  return { train: named && !data.includes(":") ? `${named}:train` : data, test: test ?? (named ? `${named}:test` : undefined) };
}

/** The built-in data set a spec names (`mnist:test` → `mnist`), or null for files and folders. */
export function namedSet(data: string): "mnist" | "fashion-mnist" | "cifar10" | null {
  const spec = parseDataSpec(data);
  return spec.kind === "mnist" || spec.kind === "fashion-mnist" || spec.kind === "cifar10" ? spec.kind : null;
}

/** The flag of every command with a result directory that lets a run replace another run's results there. */
export const OVERWRITE_FLAG = "--overwrite";
export const OVERWRITE_HELP = "replace the results in the output directory: another run's (other model, data or options), or compute this run's finished ones again";

/**
 * Claims a command's output directory before any work (see openResultDir): refuses a directory holding another run
 * unless `overwrite`, one in use by a live process, and one that cannot be written.
 */
export function claimOutput(dir: string, command: string, model: LesionModel, data: Dataset, options: Record<string, unknown>, overwrite: boolean | undefined): ResultDir {
  checkOutsideData(dir, data);
  return openResultDir(dir, { command, model: model.sha256, data: dataIdentity(data), options }, { overwrite: overwrite ?? false });
}

/**
 * Refuses an output directory inside the image folder given as data: its directory would become a class of that folder
 * on the next run (a trial's `--data ./ab -o ab/out` made `out` class 2 of ./ab).
 */
export function checkOutsideData(dir: string, data: Dataset): void {
  if (!data.folderClasses) return;
  const spec = parseDataSpec(data.spec);
  if (spec.kind !== "folder") return;
  const root = resolve(spec.path);
  const out = resolve(dir);
  if (out === root || out.startsWith(root + sep)) fail("bad-option", `-o ${dir} is inside the data folder ${data.spec}: its directory would become a class of it; write the results elsewhere`, { options: ["output"], value: dir });
}

/**
 * A rerun of a finished run (same model, data and options; every file there; written by this version of lesion)
 * computes nothing unless `overwrite`: says so, or with `json` prints the stored summary.json. Returns whether the
 * caller is done.
 */
export function reuseFinished(output: ResultDir, flags: { overwrite?: boolean; json?: boolean }): boolean {
  if (!output.finished || flags.overwrite) return false;
  const text = readFileSync(join(output.dir, SUMMARY_FILE), "utf8");
  // Another version may compute other numbers (a fixed engine): its results are computed again.
  if ((JSON.parse(text) as { provenance?: { lesion?: string } }).provenance?.lesion !== LESION_VERSION) return false;
  if (flags.json) process.stdout.write(text.trimEnd() + "\n");
  else console.log(`${output.dir} already holds this run's results (same model, data and options): nothing computed; --overwrite computes them again`);
  return true;
}
