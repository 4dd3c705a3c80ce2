// Every benchmark scenario, in the order `npm run bench` runs them. Add new scenarios here.
import type { Scenario } from '../harness';
import { p0 } from './p0-settlement';
import { p7b, p7c } from './p7-cache-lookup';
import { ops1 } from './ops-metrics';

export const scenarios: Scenario[] = [p0, p7b, p7c, ops1];
