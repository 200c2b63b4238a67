/**
 * The one sentence that says near ties were left unsettled (ablate's `warnings`, the summaries a study reads back),
 * written and read here only.
 */

/**
 * The warning for `count` near ties no float64 path settled, naming why: `missing`, the graph's ops lesion's float64
 * interpreter has no kernel for (float64MissingOps); null where that is not known (a summary of an earlier version,
 * which counted its ties without naming them: studyWarnings).
 */
export function unresolvedTiesWarning(count: number, missing: readonly string[] | null): string {
  const why =
    missing === null
      ? ""
      : missing.length > 0
        ? ` (lesion's float64 interpreter has no ${missing.join(", ")}, and onnxruntime no float64 kernel for some op of the graph)`
        : " (the graph has an input or attribute lesion's float64 interpreter does not cover, and onnxruntime no float64 kernel for some of its ops)";
  return `${count} near tie(s) could not be settled in float64${why}: they keep their float32 prediction`;
}

/** A warning unresolvedTiesWarning wrote (any version's): its count and the rest of the sentence; else null. */
export function readTiesWarning(warning: string): { count: number; rest: string } | null {
  const found = /^(\d+) (near tie\(s\) could not be settled.*)$/.exec(warning);
  return found ? { count: Number(found[1]), rest: found[2] } : null;
}
