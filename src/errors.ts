/**
 * User-facing errors. Every fault a user can cause throws a LesionError with a code from one closed union;
 * `formatError` is the one place a message is built, so the CLI prints one line and tests assert code and text.
 */

/**
 * The details each code carries, as data beside the message (JSON-ready; a caller reads them instead of parsing
 * text). A field named `options` lists the option names (library spelling, camelCase) that the message names in
 * backticks, so that a front end can put its own spelling in their place (the CLI writes `--batch-size`).
 */
export interface LesionErrorDetails {
  /** A file, folder or package that is not there (or not a file); `path` as given. */
  "missing-file": { path: string };
  /**
   * A model file lesion cannot use; `name` as given to openModel. `checkpoint`: the bytes are a PyTorch file.
   * `classes` and `outputs`: where the model's class names (`classes` of them) do not match its `outputs`.
   */
  "bad-model": { name: string; checkpoint?: "zip" | "torchscript" | "legacy" | "safetensors" | "pickle"; tensor?: string; site?: string; location?: string; options?: string[]; classes?: number; outputs?: number };
  /** A PyTorch file lesion cannot read; `name` as given. */
  "bad-checkpoint": { name: string; tensor?: string };
  /** A pickle that asks to build something other than tensors, numpy data and plain containers. */
  "unsafe-pickle": { source: string; global?: string; opcode?: number };
  /** An architecture that cannot be read or does not fit the weights or data; `arch` the text, `layer` the culprit. */
  "bad-arch": { arch?: string; token?: string; layer?: string; tensor?: string; /** The options whose backticked names the message uses (`arch`), which the CLI writes as its flags. */ options?: string[] };
  /** A site name that is not a site of the model (or no site of the kind needed); `closest` the likeliest names. */
  "unknown-site": { model: string; site: string | null; closest: string[] };
  /** A unit index outside 0..units−1 of its site. */
  "unit-out-of-range": { site: string; unit: number; units: number };
  /** A unit list that is empty or cannot be read; `units` the text or list given. */
  "bad-units": { site?: string; units?: string | number[] };
  /** Groups of units that are empty or cannot be read; `path` the groups file, `group` the culprit. */
  "bad-groups": { site?: string; path?: string; group?: string };
  /** A fraction of a site's units outside (0, 1]. */
  "bad-fraction": { fraction: number };
  /** Two shapes (or sizes) that must agree and do not: `expected` what the receiver takes, `actual` what it got. */
  "shape-mismatch": { expected: number[]; actual: number[] };
  /** A data spec that cannot be read. */
  "bad-data-spec": { spec: string; split?: string };
  /** Data (a file, folder or data set) that cannot be used; `path` or `source` names it. */
  "bad-data": { path?: string; source?: string; sample?: number; classNames?: string[]; options?: string[] };
  /** A label outside 0..numClasses−1: the first one, at `sample`, in `source`. */
  "label-out-of-range": { label: number; sample: number; numClasses: number; source: string };
  /** A download whose SHA-256 is not the expected one (the file was discarded). */
  "checksum-mismatch": { url: string; path: string; expected: string; actual: string };
  /** A download that failed. */
  "download-failed": { url: string; path: string; reason: string };
  /** An option whose value is not allowed; `options` the options at fault (named in backticks in the message). */
  "bad-option": { options: string[]; value?: unknown };
  /** A resume log or result directory that belongs to another run; `options` as for bad-option (overwrite). */
  "resume-mismatch": { path: string; options?: string[] };
  /** A path lesion cannot write; `errno` the system's code (EACCES, ENOSPC, …). */
  "unwritable-path": { path: string; errno: string };
  /** A result directory in use by another run (`pid` when known). */
  "dir-locked": { dir: string; pid?: number };
  /** The engine's intact predictions differ from a plain forward pass: a bug in lesion, never a user fault. */
  "engine-disagreement": { samples: number; first: number; engine: number; plain: number };
  /** A graph, layer or tensor type outside what lesion computes; `op` the operator, `site` or `tensor` where. */
  "unsupported-op": { op?: string; site?: string; tensor?: string };
  /**
   * The run's AbortSignal fired; what was finished stays in the run's resume log (`ablate`: `kept` of its `of`
   * conditions, `helpers` of them the singles that pairs' redundancy needs beside those asked for).
   */
  aborted: { kept?: number; of?: number; helpers?: number };
}

/** The closed set of error codes. */
export type LesionErrorCode = keyof LesionErrorDetails;

/** Every code, in the order of {@link LesionErrorDetails}: for front ends and for the test that each one is tested. */
export const LESION_ERROR_CODES = [
  "missing-file",
  "bad-model",
  "bad-checkpoint",
  "unsafe-pickle",
  "bad-arch",
  "unknown-site",
  "unit-out-of-range",
  "bad-units",
  "bad-groups",
  "bad-fraction",
  "shape-mismatch",
  "bad-data-spec",
  "bad-data",
  "label-out-of-range",
  "checksum-mismatch",
  "download-failed",
  "bad-option",
  "resume-mismatch",
  "unwritable-path",
  "dir-locked",
  "engine-disagreement",
  "unsupported-op",
  "aborted",
] as const satisfies readonly LesionErrorCode[];

/** A user fault: `code` from the closed set, `details` typed by the code, `message` one line in library terms. */
export class LesionError<C extends LesionErrorCode = LesionErrorCode> extends Error {
  readonly code: C;
  readonly details: LesionErrorDetails[C];

  constructor(code: C, message: string, details: LesionErrorDetails[C]) {
    super(message);
    this.name = "LesionError";
    this.code = code;
    this.details = details;
  }
}

/** A LesionError whose `details` narrow with its `code` (`if (e.code === "unknown-site") e.details.closest`). */
export type AnyLesionError = { [C in LesionErrorCode]: LesionError<C> }[LesionErrorCode];

/** The details argument of {@link fail}: optional only for a code whose details are all optional. */
type DetailsArgument<C extends LesionErrorCode> = {} extends LesionErrorDetails[C] ? [details?: LesionErrorDetails[C]] : [details: LesionErrorDetails[C]];

/** Throws a LesionError; a shorthand so checks read as one line. */
export function fail<C extends LesionErrorCode>(code: C, message: string, ...details: DetailsArgument<C>): never {
  throw new LesionError<C>(code, message, (details[0] ?? {}) as LesionErrorDetails[C]);
}

/** The same as {@link fail}("aborted") when `signal` has fired: the one abort check of every long run. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) fail("aborted", "run aborted");
}

/** When the event loop last had a turn from `yieldThenCheck`. */
let lastTurn = 0;

/**
 * `throwIfAborted`, after letting the event loop take a turn if it has not had one for 100 ms. An async loop whose
 * awaits all resolve as microtasks (plain-JS work such as lesion's float64 interpreter) never lets a Ctrl-C handler
 * (which aborts the signal) run: a trial's CNN sweep of many near ties went on 61 s past two Ctrl-Cs. For async loops.
 */
export async function yieldThenCheck(signal: AbortSignal | undefined): Promise<void> {
  const now = performance.now();
  if (now - lastTurn >= 100) {
    lastTurn = now;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throwIfAborted(signal);
}

/**
 * Whether `error` is a LesionError (a user fault with a `code` from {@link LESION_ERROR_CODES}), narrowed to
 * {@link AnyLesionError} so that `details` narrows with `code`. Anything else is what formatError calls an internal
 * error. Throws nothing.
 */
export function isLesionError(error: unknown): error is AnyLesionError {
  return error instanceof LesionError;
}

/** The one-line message for any error: a LesionError's own text, else "internal error: …" (line breaks become spaces). Throws nothing. */
export function formatError(error: unknown): string {
  if (isLesionError(error)) return error.message.replace(/\s*\n\s*/g, " ");
  const message = error instanceof Error ? error.message : String(error);
  return `internal error: ${message.replace(/\s*\n\s*/g, " ")}`;
}

/** Names the closest candidates to a misspelled name, for "did you mean" hints. */
export function closest(name: string, candidates: readonly string[], count = 3): string[] {
  // A candidate the name begins (a module path's children: `stage1` → `stage1.0.dwconv`) comes before any by edit
  // distance, which favours short unrelated names (`stem.0`).
  const scored = candidates.map((candidate) => ({ candidate, prefix: candidate.startsWith(name) ? 0 : 1, distance: editDistance(name, candidate) }));
  scored.sort((a, b) => a.prefix - b.prefix || a.distance - b.distance || a.candidate.localeCompare(b.candidate));
  return scored.slice(0, count).map((s) => s.candidate);
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length];
}
