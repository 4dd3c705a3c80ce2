// The rabbit:// parameters are one described table in code (lib/connectors/rabbit/index.ts): each has a description, and
// docs/connectors/rabbit.md names each in its parameter tables with the same default.
import { testParamsDocumented } from '../helpers/paramsTable';

testParamsDocumented('rabbit');
