// Every benchmark scenario, in the order `npm run bench` runs them. Add new scenarios here.
import type { Scenario } from '../harness';
import { p0 } from './p0-settlement';
import { p1 } from './p1-wasm';
import { p1b } from './p1b-budget';
import { p6 } from './p6-instances';
import { p7b, p7c } from './p7-cache-lookup';
import { kafkaRelay } from './kafka-relay';
import { ps1 } from './ps1-pubsub-relay';
import { sqs1, sqs2 } from './sqs-relay';

export const scenarios: Scenario[] = [p0, p1, p1b, p6, p7b, p7c, kafkaRelay, ps1, sqs1, sqs2];
