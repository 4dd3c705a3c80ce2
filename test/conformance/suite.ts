// The conformance suite lives in lib/conformance/, shipped as `wasm-pipes/driver/conformance` so that connectors
// outside this repository run it too; the targets here use it under the name they always had.
export { conformance as conformanceSuite } from '../../lib/conformance';
export type { ConformanceTarget, ConformanceEndpoints } from '../../lib/conformance';
