/**
 * The study report: one self-contained HTML page (reportPage: Observable Plot and d3 inlined, the data as JSON, no
 * network) whose sections STUDY_CLIENT draws in the browser. Every figure has a caption saying what it shows and how
 * to read it.
 */
import type { ReportData } from "./reportData.js";
import { escapeHtml, reportPage } from "./reportPage.js";
import { STUDY_CLIENT } from "./studyClient.js";

/** The study rules besides the shared ones: sub-headings, pickers, weight tiles, the indicators' scatter grid. */
const STYLE = `  h3 { margin-bottom: .3rem; }
  .controls { margin: .5rem 0; } select { font: inherit; }
  .weights { display: grid; grid-template-columns: repeat(auto-fill, 64px); gap: 4px; }
  .weights canvas { width: 64px; height: 64px; image-rendering: pixelated; border: 1px solid #ddd; }
  .warning { background: #fff4e5; border-left: 3px solid #e8a33d; padding: .3rem .6rem; }
  .scatters { display: flex; flex-wrap: wrap; gap: 0 1.5rem; } .scatters figure { width: 300px; margin: .5rem 0; }
`;

/** The page for `data` (from `reportData`), as HTML text; throws nothing a user can cause. */
export function renderReport(data: ReportData): string {
  const explorer = data.explorer
    ? ` Ablate units yourself in the <a href="${escapeHtml(data.explorer)}">live explorer</a>.`
    : ` For a live explorer of this network, <code>${escapeHtml(data.explorerCommand)}</code>, then <code>lesion report DIR</code>.`;
  return reportPage({
    title: `lesion study: ${escapeHtml(data.model)} on ${escapeHtml(data.data)}`,
    style: STYLE,
    body: `<h1>Lesion study of <code>${escapeHtml(data.model)}</code></h1>
<p>Data: <code>${escapeHtml(data.data)}</code> (${data.n} samples). Made by lesion from the result files in this folder; rebuild it with <code>lesion report DIR</code>.${explorer}</p>
${data.warnings.map((w) => `<p class="warning"><strong>Warning:</strong> ${escapeHtml(w)}</p>`).join("\n")}
<div class="controls">Site: <select id="site"></select></div>
<main id="report"></main>`,
    data,
    client: STUDY_CLIENT,
  });
}
