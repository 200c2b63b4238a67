/**
 * User-facing errors. Every fault a user can cause throws a LesionError with a code from one closed union;
 * `formatError` is the one place a message is built, so the CLI prints one line and tests assert code and text.
 */

export type LesionErrorCode =
  | "missing-file"
  | "bad-model"
  | "bad-checkpoint"
  | "unsafe-pickle"
  | "bad-arch"
  | "unknown-site"
  | "unit-out-of-range"
  | "bad-units"
  | "bad-groups"
  | "bad-fraction"
  | "shape-mismatch"
  | "bad-data-spec"
  | "bad-data"
  | "label-out-of-range"
  | "checksum-mismatch"
  | "download-failed"
  | "bad-option"
  | "resume-mismatch"
  | "unwritable-path"
  | "dir-locked"
  | "engine-disagreement"
  | "unsupported-op"
  | "aborted";

export class LesionError extends Error {
  readonly code: LesionErrorCode;
  readonly details: Record<string, unknown>;

  constructor(code: LesionErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(message);
    this.name = "LesionError";
    this.code = code;
    this.details = details;
  }
}

/** Throws a LesionError; a shorthand so checks read as one line. */
export function fail(code: LesionErrorCode, message: string, details: Record<string, unknown> = {}): never {
  throw new LesionError(code, message, details);
}

export function isLesionError(error: unknown): error is LesionError {
  return error instanceof LesionError;
}

/** The one-line message for any error: a LesionError's own text, else "internal error: …". */
export function formatError(error: unknown): string {
  if (isLesionError(error)) return error.message.replace(/\s*\n\s*/g, " ");
  const message = error instanceof Error ? error.message : String(error);
  return `internal error: ${message.replace(/\s*\n\s*/g, " ")}`;
}

/** Names the closest candidates to a misspelled name, for "did you mean" hints. */
export function closest(name: string, candidates: readonly string[], count = 3): string[] {
  const scored = candidates.map((candidate) => ({ candidate, distance: editDistance(name, candidate) }));
  scored.sort((a, b) => a.distance - b.distance || a.candidate.localeCompare(b.candidate));
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
