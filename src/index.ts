/** lesion's library: the same verbs and options as the CLI (`lesion record` is `record(model, data, options)`). */

// Errors: one class, one closed set of codes, one formatter.
export { LesionError, LESION_ERROR_CODES, formatError, isLesionError, type AnyLesionError, type LesionErrorCode, type LesionErrorDetails } from "./errors.js";

// Models: open an ONNX file (sessions stay open until closeModel), find sites.
export { openModel, closeModel, resolveSite, type LesionModel, type OpenModelOptions, type Site } from "./engine/model.js";
export { importModel, type ImportOptions, type ImportResult } from "./models/importModel.js";
export { readCheckpoint, readStateDict } from "./models/torch/readCheckpoint.js";
export { checkpointFormat, type CheckpointFormat } from "./onnx/checkpointFormat.js";
export type { StateDict, StateDictSource, StateTensor } from "./models/torch/types.js";
export { parseArch, type Activation, type ArchToken } from "./models/arch.js";
export type { Preprocessing } from "./onnx/metadata.js";
export type { Head, HeadKind } from "./onnx/head.js";

// The sweep engine's one door: every condition's exact outcome at a site, on the path that fits it.
export { sweep, sweepAhead, planSweep, type SweepInput, type SweepPath, type SweepPlan } from "./engine/sweep/sweep.js";
export type { SweepCondition, SweepOutcome, SweepResult } from "./engine/sweep/types.js";

// Data: specs, loading, the in-memory form.
export { loadDataset, type LoadDatasetOptions } from "./data/loadDataset.js";
export { imageFolderClassNames, matchClassNames } from "./data/matchClassNames.js";
export { parseDataSpec, formatDataSpec, type DataSpec } from "./data/parseDataSpec.js";
export type { Dataset } from "./data/types.js";

// Verbs.
export { info, type InfoResult, type SiteInfo } from "./models/info.js";
export { evaluate, type EvaluateOptions, type EvaluateResult } from "./engine/evaluate.js";
export { record, type RecordOptions, type RecordResult, type SiteRecording } from "./engine/record.js";
export { ablate, type AblateOptions, type AblateResult, type ConditionResult, type Redundancy } from "./study/ablate.js";
export { unitScores, selectivity, minActiveSamples, type UnitScoresOptions } from "./study/unitScores.js";
export { characterize, type CharacterizeOptions, type CharacterizeResult } from "./study/characterize.js";
export { indicators, INDICATOR_NAMES, type IndicatorName, type IndicatorsOptions, type IndicatorsResult, type SiteIndicators } from "./study/indicators.js";
export { correlations, type CorrelationEntry, type CorrelationTable } from "./study/correlations.js";
export { populations, type Grouping, type Population, type PopulationAblation, type PopulationsOptions, type SitePopulations } from "./study/populations.js";
export { stimulusMap, sampleOutcomes, OUTCOMES, type StimulusMap, type StimulusMapOptions } from "./study/stimulusMap.js";

export { train, initialParameters, trainingHistory, type TrainOptions, type TrainResult } from "./models/train.js";
export { recover, type ControlEpoch, type RecoverOptions, type RecoverResult, type RecoveryEpoch } from "./models/recover.js";
export { transplant, type TransplantOptions, type TransplantResult, type TransplantCondition, type Outcome } from "./transplant/transplant.js";
export type { Gains, Interval } from "./transplant/transplantStats.js";
export { TRANSPLANT_KEY, type TransplantProvenance } from "./transplant/transplantModel.js";
export { zooNetwork } from "./models/zoo.js";
export { defaultModel, DEFAULT_ARCH } from "./models/defaultModel.js";
export { study, type StudyOptions, type StudyResult } from "./runs/study.js";
export type { EpochResult, NetworkScore } from "./engine/train.js";
export type { Network, NetworkLayer } from "./onnx/network.js";

// The live explorer: one offline page that runs the network (onnxruntime-web) and ablates units on click.
export { explore, stratifiedSample, PAGE_BYTES, type ExploreOptions, type ExploreResult } from "./explore/explore.js";

// The report.
export { buildReport, REPORT_FILE } from "./report/buildReport.js";
export { reportData, type ReportData, type ReportSite, type Findings } from "./report/reportData.js";
export { readTransplantReportData, transplantReportData, type TransplantReportData, type TransplantReportOutcome } from "./report/transplantReportData.js";
export { renderTransplantReport } from "./report/renderTransplantReport.js";

// Statistics (SciPy's conventions).
export { pearson, spearman, rank, mannWhitney, adjustedRandIndex, normalizedMutualInformation, silhouette, correlationDistances, type Correlation, type MannWhitney } from "./study/stats.js";

// Conditions: what an ablation knocks out.
export { condition, singles, pairs, groups, fractions, range, type Condition, type AblationMode, type FractionOrder, type FractionsOptions, type CumulativeStep } from "./study/conditions.js";

// Result files.
export {
  writeResultDir,
  openResultDir,
  holdsRun,
  toJson,
  encodeCsv,
  SUMMARY_FILE,
  RUN_FILE,
  type ResultFile,
  type ResultDir,
  type RunIdentity,
  type OpenResultDirOptions,
} from "./runs/resultDir.js";
export { acquireLock, LOCK_FILE } from "./runs/lock.js";
// Provenance and the agreement check in every result.
export { provenance, type Provenance } from "./runs/provenance.js";
export { dataIdentity, type DataIdentity } from "./data/dataIdentity.js";
export { checkAgreement, type Agreement } from "./engine/agreement.js";
export { recordFiles, type RecordSummary } from "./runs/recordFiles.js";
export { ablateFiles, readAblateFiles, type AblateFilesRead, type AblateSummary, type AblateSummaryCondition } from "./runs/ablateFiles.js";
export { deltaIntervals, type DeltaIntervals, type DeltaIntervalsOptions } from "./study/deltaIntervals.js";
export { characterizeFiles, type CharacterizeSummary } from "./runs/characterizeFiles.js";
export { transplantFiles, type TransplantSummary } from "./runs/transplantFiles.js";
export { encodeNpy, writeNpy } from "./runs/npy.js";
export type { Matrix } from "./engine/metrics.js";
export type { Progress, StudyStep } from "./progress.js";
