// The count at the end of a crash or restart test: which ids never arrived. The kill -9 test itself is the
// conformance suite's (lib/conformance/crash.ts), run for every connector whose service redelivers.
export { missingIds } from '../../lib/conformance/crash';
