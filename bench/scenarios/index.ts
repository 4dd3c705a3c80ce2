// Every benchmark scenario, in the order `npm run bench` runs them. Add new scenarios here.
import type { Scenario } from '../harness';
import { p0 } from './p0-settlement';
import { sb1 } from './sb1-azuresb-relay';

export const scenarios: Scenario[] = [p0, sb1];
