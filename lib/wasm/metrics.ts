// The WebAssembly families of /metrics: traps, budget stops and call time, by stage. The core's stage counters are in
// lib/metrics.ts; these are the wasm stage's own.
import { counterFamily, histogramFamily } from '../metrics';

/**
 * For the wasm operators (lib/wasm, operators/wasmTransform.ts, wasmFilter.ts), three things make them show up like
 * the other stages:
 * 1. in the operator's subscribe function, `const stats = openStage('operator', name)`; count `stats.received++` per
 *    input, `stats.emitted += outputs`, `stats.dropped++` for a filtered or zero-output message, `stats.nacked++` and
 *    `stats.error('trap' | 'budget' | 'status')` for a failed one; `closeStage(stats)` in the teardown;
 * 2. `wasmMetrics.traps` / `budgetStops` below, labelled with the same stage name;
 * 3. `wasmMetrics.callSeconds` per call, timed on a sample: keep a `new Sampler()` per operator and read the clock only
 *    when `sampler.sample()` is true.
 *
 * The WebAssembly metrics, labelled by stage (the operator's name), for the wasm operators to feed:
 * `traps.labels({ stage }).inc()` when a module traps, `budgetStops.labels({ stage }).inc()` when the budget stops a
 * runaway call, and `callSeconds.labels({ stage }).observe(seconds)` per call (time a sample: see Sampler).
 */
export const wasmMetrics = {
  traps: counterFamily('wasm_pipes_wasm_traps_total', 'WebAssembly traps (the message is nacked or dead-lettered), by stage'),
  budgetStops: counterFamily(
    'wasm_pipes_wasm_budget_stops_total',
    'WebAssembly calls stopped by the per-message budget (WASM_BUDGET), by stage',
  ),
  callSeconds: histogramFamily('wasm_pipes_wasm_call_seconds', 'Duration of one call into a WebAssembly module, by stage (sampled)'),
};
