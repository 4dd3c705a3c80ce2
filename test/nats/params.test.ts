// The nats:// parameters are one described table in code (lib/connectors/nats/index.ts): each has a description, and
// docs/connectors/nats.md names each in its parameter tables with the same default.
import { testParamsDocumented } from '../helpers/paramsTable';

testParamsDocumented('nats');
