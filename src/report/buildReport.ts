/** Writes DIR/report.html from the result files of a study directory, or of a `lesion transplant` directory. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { fail, isLesionError } from "../errors.js";
import { join } from "node:path";
import { writeFileAtomic } from "../files.js";
import { REPORT_FILE, SUMMARY_FILE } from "../runs/resultDir.js";
import { STUDY_FILE } from "../runs/study.js";
import { reportData } from "./reportData.js";
import { renderReport } from "./renderReport.js";
import { renderTransplantReport } from "./renderTransplantReport.js";
import { isTransplantSummary, readTransplantReportData } from "./transplantReportData.js";

export { REPORT_FILE };

/**
 * Writes DIR/report.html (atomically) and returns its path. A directory without study.json whose summary.json is a
 * transplant's gets the transplant report (src/report/renderTransplantReport.ts); any other the study report (the
 * figures of Meyes et al. 2019 and 2020 from the result files only; fractions shown as percentages, changes in pp).
 * @throws LesionError `missing-file` (DIR holds neither a study nor a transplant run, or a study without its eval,
 * singles or characterize step); `bad-data` (a transplant summary that is not JSON or lacks fields); `unwritable-path`.
 */
export function buildReport(dir: string): string {
  const path = join(dir, REPORT_FILE);
  writeFileAtomic(path, isTransplantDir(dir) ? renderTransplantReport(readTransplantReportData(dir)) : renderReport(readable(dir, () => reportData(dir))));
  return path;
}

/**
 * The study's data, or one line when its files are damaged (a truncated study.json, a step's summary that is no JSON
 * or not lesion's): `bad-data` naming the file where JSON failed, else the directory, instead of an internal error.
 */
function readable<T>(dir: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (isLesionError(error)) throw error;
    const message = (error as Error).message ?? String(error);
    const file = error instanceof SyntaxError ? damagedJson(dir) : null;
    fail("bad-data", file ? `${file} is not valid JSON (${message}): the study's files are damaged; rerun \`lesion study\` into a new directory` : `${dir} holds study files lesion cannot read (${message}): damaged, or not written by this version of lesion; rerun \`lesion study\` into a new directory`, { path: file ?? dir });
  }
}

/** The first JSON file of a study directory (study.json, then each step's summary.json) that does not parse. */
function damagedJson(dir: string): string | null {
  const files = [join(dir, STUDY_FILE), ...readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(dir, e.name, SUMMARY_FILE))];
  for (const file of files) {
    if (!existsSync(file)) continue;
    try {
      JSON.parse(readFileSync(file, "utf8"));
    } catch {
      return file;
    }
  }
  return null;
}

function isTransplantDir(dir: string): boolean {
  if (existsSync(join(dir, STUDY_FILE)) || !existsSync(join(dir, SUMMARY_FILE))) return false;
  try {
    return isTransplantSummary(JSON.parse(readFileSync(join(dir, SUMMARY_FILE), "utf8")));
  } catch {
    return false;
  }
}
