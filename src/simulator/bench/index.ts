// The bench's public surface for the CLI: run it, then summarize and format the result.
export { runBench, type BenchOptions, type BenchRun } from './run-bench.ts';
export { summarize, formatTable, type BenchSummary } from './report.ts';
export { DEFAULT_MIX, parseMix, type MixWeights } from './message-mix.ts';
