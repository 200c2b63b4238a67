/** Writes DIR/report.html from the study's result files. */
import { join } from "node:path";
import { writeFileAtomic } from "../files.js";
import { reportData } from "./reportData.js";
import { renderReport } from "./renderReport.js";

export const REPORT_FILE = "report.html";

export function buildReport(dir: string): string {
  const path = join(dir, REPORT_FILE);
  writeFileAtomic(path, renderReport(reportData(dir)));
  return path;
}
