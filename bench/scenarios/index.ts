// Every benchmark scenario, in the order `npm run bench` runs them. Add new scenarios here.
import type { Scenario } from '../harness';
import { p0 } from './p0-settlement';
import { p1 } from './p1-wasm';
import { p1b } from './p1b-budget';
import { p2 } from './p2-core-nats';
import { p3 } from './p3-jetstream';
import { p4 } from './p4-http-to-nats';
import { p5 } from './p5-slow-http-sink';
import { p5b } from './p5b-many-outputs';
import { p6 } from './p6-instances';
import { p7 } from './p7-wasm-cache';
import { p7b, p7c } from './p7-cache-lookup';
import { kafkaRelay } from './kafka-relay';
import { ps1 } from './ps1-pubsub-relay';
import { sqs1, sqs2 } from './sqs-relay';
import { ops1 } from './ops-metrics';
import { sb1 } from './sb1-azuresb-relay';
import { mq1 } from './mq1-mqtt-relay';
import { rs1 } from './rs1-redis-stream-relay';
import { rmq1 } from './rmq1-rabbit-relay';
import { pg1 } from './pg1-outbox';
import { s31 } from './s31-mem-to-s3';
import { route1, batch1 } from './c1-combinators';
import { rate1, rate2 } from './rate-limit';
import { w1 } from './w1-wasi';
import { tr1, tr100 } from './tr-tracing';
import { p8, p8b } from './p8-workers';
import { size, window } from './cost-growth';
import { p8t } from './p8t-threads';

// OPS1 runs early: a scrape's cost grows with the number of metric series, and every earlier scenario leaves the series
// of its uniquely named topics behind in this one process (a daemon's series are few and fixed)
export const scenarios: Scenario[] = [
  p0,
  ops1,
  p1,
  p1b,
  w1,
  p2,
  p3,
  p4,
  p5,
  p5b,
  p6,
  p7,
  p7b,
  p7c,
  kafkaRelay,
  ps1,
  sqs1,
  sqs2,
  sb1,
  mq1,
  rmq1,
  rs1,
  pg1,
  s31,
  route1,
  batch1,
  rate1,
  rate2,
  tr1,
  tr100,
];
// every core (WORKERS): through the bin, after the in-process scenarios
scenarios.push(p8, p8b);
// the wasm stage on worker threads, for a single ordered source: measured, to decide whether to build it
scenarios.push(p8t);
// cost as the work grows: bodies from 200 B to 1 MB, and the credit window
scenarios.push(size, window);
