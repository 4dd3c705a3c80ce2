// P8: every core. The bin relays JetStream -> wasmTransform(a CPU-heavy module, tens of µs a message) -> JetStream
// with WORKERS=2 against the same bin with WORKERS=1: on 2 cores the ratio says how much the second core adds when
// the module is the work. P8B: P2's core NATS relay (queue group, the uppercase module) with WORKERS=2 vs 1, where the
// broker and the bench's own producer and consumer compete for the same cores. Both through the built bin, as users
// run it; the rate is measured between 10 % and 90 % of the messages arriving, so that start-up (a second worker
// starts a little later than the first) and the tail are left out.
import { jetstreamManager } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import type { Scenario } from '../harness';
import { cpuHeavyModule, uppercaseModule } from './wasmFixtures';
import { BODY, coreRelayRound, jetstreamRound, NATS_URL, natsConnection, waitForCount } from './p2-p5-helpers';
import { loadNote, startBin } from './workers-helpers';
import { throughMem } from './common';
import { loadWasm } from '../../lib/wasm/load';
import { wasmTransform } from '../../operators';

let connection: NatsConnection;
let heavyModule = '';
const notes: string[] = [];
const failures: string[] = [];

async function stored(stream: string): Promise<number> {
  return (await (await jetstreamManager(connection)).streams.info(stream)).state.messages;
}

/**
 * One round of P8: the bin with `workers` relays `messages` through the heavy module; resolves to the milliseconds the
 * whole batch takes at the rate measured between 10 % and 90 % of it arriving.
 */
async function heavyRound(messages: number, workers: number): Promise<number> {
  const { input, output } = await jetstreamRound(connection, 'P8', messages, BODY);
  const bin = await startBin({
    WORKERS: String(workers),
    NATS_SERVER_URL: NATS_URL,
    SOURCE_URI: `nats://${input}.events?stream=${input}&consumer=relay`,
    SINK_URI: `nats://${output}.events?jetstream=true`,
    WASM_MODULE: heavyModule,
    MAX_IN_FLIGHT: '1024',
  });
  const low = Math.ceil(messages * 0.1);
  const high = Math.floor(messages * 0.9);
  let lowAt = 0;
  let highAt = 0;
  await waitForCount(
    async () => {
      const count = await stored(output);
      if (lowAt === 0 && count >= low) lowAt = performance.now();
      if (highAt === 0 && count >= high) highAt = performance.now();
      return count;
    },
    messages,
    `P8 with WORKERS=${workers}`,
  );
  const code = await bin.stop();
  if (code !== 0) failures.push(`WORKERS=${workers}: the bin exited ${code}`);
  // the sink stream keeps one message per id: all of them there means none was lost
  const count = await stored(output);
  if (count !== messages) failures.push(`WORKERS=${workers}: ${count} of ${messages} ids in the sink stream`);
  const manager = await jetstreamManager(connection);
  await manager.streams.delete(input).catch(() => undefined);
  await manager.streams.delete(output).catch(() => undefined);
  return ((highAt - lowAt) * messages) / (high - low);
}

/** The bin with WORKERS=1 as the baseline and WORKERS=2 as the candidate, each round run by `round`. */
function oneWorkerAgainstTwo(round: (messages: number, workers: number) => Promise<number>): Pick<Scenario, 'baseline' | 'candidate'> {
  return {
    baseline: { name: 'the bin, WORKERS=1', run: (messages) => round(messages, 1) },
    candidate: { name: 'the bin, WORKERS=2', run: (messages) => round(messages, 2) },
  };
}

export const p8: Scenario = {
  id: 'P8',
  title: 'JetStream -> wasmTransform(CPU-heavy, ~35 µs a message) -> JetStream through the bin: WORKERS=2 vs WORKERS=1',
  messages: 40_000,
  quickMessages: 8_000,
  target: 1.6,
  rounds: { quick: 1, full: 3 },
  async setup() {
    connection = await natsConnection();
    heavyModule = await cpuHeavyModule();
    // what the module costs a message, in process, for the notes
    const loaded = await loadWasm(heavyModule);
    const ms = await throughMem('p8-calibrate', 5000, wasmTransform(loaded), () => ({ body: BODY }));
    notes.push(`the module: ${((ms * 1000) / 5000).toFixed(1)} µs a message through mem:// -> wasmTransform -> mem:// in one process`);
  },
  async teardown() {
    await connection.close();
  },
  ...oneWorkerAgainstTwo(heavyRound),
  async verify() {
    const result = [...notes, loadNote(), 'the machine is shared: confirm on a quiet one'];
    if (failures.length === 0) result.push('every round: every id in the sink stream, the bin exited 0');
    return result.concat(failures.splice(0).map((failure) => `FAIL: ${failure}`));
  },
};

// ---- P8B ----

let uppercase = '';
const coreFailures: string[] = [];

/** P2's relay, through the bin with `workers` (queue group): the ms until `messages` came back. */
function coreRound(messages: number, workers: number): Promise<number> {
  return coreRelayRound(`P8B with WORKERS=${workers}`, messages, async (input, output) => {
    const bin = await startBin({
      WORKERS: String(workers),
      NATS_SERVER_URL: NATS_URL,
      SOURCE_URI: `nats://${input}?queue=relay`,
      SINK_URI: `nats://${output}`,
      WASM_MODULE: uppercase,
      MAX_IN_FLIGHT: '1024',
    });
    return async () => {
      const code = await bin.stop();
      if (code !== 0) coreFailures.push(`WORKERS=${workers}: the bin exited ${code}`);
    };
  });
}

export const p8b: Scenario = {
  id: 'P8B',
  title: "P2's core NATS relay (queue group, uppercase.wasm) through the bin: WORKERS=2 vs WORKERS=1 (reported)",
  messages: 300_000,
  quickMessages: 50_000,
  // reported, not a target: the relay is cheap per message, and the NATS server and the bench's own producer and
  // consumer need the same two cores
  target: 0,
  rounds: { quick: 1, full: 3 },
  async setup() {
    uppercase = await uppercaseModule();
  },
  ...oneWorkerAgainstTwo(coreRound),
  async verify() {
    return [loadNote(), 'the machine is shared: confirm on a quiet one', ...coreFailures.splice(0).map((failure) => `FAIL: ${failure}`)];
  },
};
