// Every benchmark scenario, in the order `npm run bench` runs them. Add new scenarios here.
import type { Scenario } from '../harness';
import { p0 } from './p0-settlement';
import { p2 } from './p2-core-nats';
import { p3 } from './p3-jetstream';
import { p4 } from './p4-http-to-nats';
import { p5 } from './p5-slow-http-sink';

export const scenarios: Scenario[] = [p0, p2, p3, p4, p5];
