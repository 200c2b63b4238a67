/** Writes DIR/report.html from the result files of a study directory, or of a `lesion transplant` directory. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../files.js";
import { SUMMARY_FILE } from "../runs/resultDir.js";
import { STUDY_FILE } from "../runs/study.js";
import { reportData } from "./reportData.js";
import { renderReport } from "./renderReport.js";
import { renderTransplantReport } from "./renderTransplantReport.js";
import { isTransplantSummary, readTransplantReportData } from "./transplantReportData.js";

export const REPORT_FILE = "report.html";

/**
 * Writes DIR/report.html (atomically) and returns its path. A directory without study.json whose summary.json is a
 * transplant's gets the transplant report (src/report/renderTransplantReport.ts); any other the study report (the
 * figures of Meyes et al. 2019 and 2020 from the result files only; fractions shown as percentages, changes in pp).
 * @throws LesionError `missing-file` (DIR holds neither a study nor a transplant run, or a study without its eval,
 * singles or characterize step); `bad-data` (a transplant summary that is not JSON or lacks fields); `unwritable-path`.
 */
export function buildReport(dir: string): string {
  const path = join(dir, REPORT_FILE);
  writeFileAtomic(path, isTransplantDir(dir) ? renderTransplantReport(readTransplantReportData(dir)) : renderReport(reportData(dir)));
  return path;
}

function isTransplantDir(dir: string): boolean {
  if (existsSync(join(dir, STUDY_FILE)) || !existsSync(join(dir, SUMMARY_FILE))) return false;
  try {
    return isTransplantSummary(JSON.parse(readFileSync(join(dir, SUMMARY_FILE), "utf8")));
  } catch {
    return false;
  }
}
