// Every benchmark scenario, in the order `npm run bench` runs them. Add new scenarios here.
import type { Scenario } from '../harness';
import { p0 } from './p0-settlement';
import { sqs1, sqs2 } from './sqs-relay';

export const scenarios: Scenario[] = [p0, sqs1, sqs2];
