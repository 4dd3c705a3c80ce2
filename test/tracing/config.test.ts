// The OTEL_* variables: when they turn tracing on, what they may hold, and the bin's exit 2 naming a bad one.
import { tracingSettingsFromEnv } from '../../lib/tracing/config';
import { sampleDecision } from '../../lib/tracing/hooks';
import { ConfigError } from '../../lib/errors';
import { logRecords, runBinToEnd } from '../helpers/bin';

describe('OTEL_* variables', () => {
  test('off unless asked: no variable, OTEL_TRACES_EXPORTER=none, OTEL_SDK_DISABLED=true, empty values', () => {
    expect(tracingSettingsFromEnv({})).toBeUndefined();
    expect(tracingSettingsFromEnv({ OTEL_SERVICE_NAME: 'relay', OTEL_TRACES_SAMPLER: 'always_on' })).toBeUndefined();
    expect(tracingSettingsFromEnv({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBeUndefined();
    expect(tracingSettingsFromEnv({ OTEL_SDK_DISABLED: 'true', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBeUndefined();
    expect(tracingSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_TRACES_EXPORTER: ' ' })).toBeUndefined();
  });

  test('on with an endpoint or OTEL_TRACES_EXPORTER=otlp: the traces URL, the sampler and the service name', () => {
    expect(tracingSettingsFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/' })).toEqual({
      endpoint: 'http://collector:4318/v1/traces',
      sampler: 'parentbased_always_on',
      ratio: 1,
      serviceName: 'wasm-pipes',
    });
    expect(tracingSettingsFromEnv({ OTEL_TRACES_EXPORTER: 'otlp' })?.endpoint).toBe('http://localhost:4318/v1/traces');
    expect(
      tracingSettingsFromEnv({
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://tempo.example/otlp/traces',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.01',
        OTEL_SERVICE_NAME: 'orders-relay',
      }),
    ).toEqual({
      endpoint: 'https://tempo.example/otlp/traces',
      sampler: 'parentbased_traceidratio',
      ratio: 0.01,
      serviceName: 'orders-relay',
    });
  });

  test.each([
    [{ OTEL_TRACES_EXPORTER: 'jaeger' }, 'OTEL_TRACES_EXPORTER', 'use otlp'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'collector:4318' }, 'OTEL_EXPORTER_OTLP_ENDPOINT', 'http(s)://'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' }, 'OTEL_EXPORTER_OTLP_PROTOCOL', 'http/json'],
    [{ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_SAMPLER: 'sometimes' }, 'OTEL_TRACES_SAMPLER', 'parentbased_traceidratio'],
    [
      { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318', OTEL_TRACES_SAMPLER: 'traceidratio', OTEL_TRACES_SAMPLER_ARG: '5%' },
      'OTEL_TRACES_SAMPLER_ARG',
      'between 0 and 1',
    ],
    [{ OTEL_SDK_DISABLED: 'yes' }, 'OTEL_SDK_DISABLED', 'true or false'],
  ])('%j is refused with a ConfigError naming %s', (env, variable, fix) => {
    let error: unknown;
    try {
      tracingSettingsFromEnv(env);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).variable).toBe(variable);
    expect((error as Error).message).toContain(fix);
  });

  test('the samplers decide on the incoming traceparent: parent-based ones follow its flag, ratios keep about their share', () => {
    const sampled = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const notSampled = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';
    expect(sampleDecision('parentbased_always_on', 1)(notSampled)).toBe(false);
    expect(sampleDecision('parentbased_always_on', 1)(sampled)).toBe(true);
    expect(sampleDecision('parentbased_always_on', 1)(undefined)).toBe(true);
    expect(sampleDecision('parentbased_always_off', 1)(undefined)).toBe(false);
    expect(sampleDecision('parentbased_always_off', 1)(sampled)).toBe(true);
    expect(sampleDecision('always_off', 1)(sampled)).toBe(false);
    expect(sampleDecision('always_on', 1)(notSampled)).toBe(true);
    // a malformed traceparent is no parent
    expect(sampleDecision('parentbased_always_off', 1)('garbage')).toBe(false);
    const ratio = sampleDecision('parentbased_traceidratio', 0.1);
    let kept = 0;
    for (let i = 0; i < 20_000; i++) if (ratio(undefined)) kept++;
    expect(kept).toBeGreaterThan(1_500);
    expect(kept).toBeLessThan(2_500);
    // by trace id: the same trace decides the same way in every process
    const byId = sampleDecision('traceidratio', 0.5);
    expect(byId('00-0af7651916cd43dd8448eb2100000001-b7ad6b7169203331-00')).toBe(true);
    expect(byId('00-0af7651916cd43dd8448eb21ffffffff-b7ad6b7169203331-01')).toBe(false);
  });

  test('a collector out of reach costs spans, not messages: delivered, exit 0, and a warning saying so', async () => {
    const run = await runBinToEnd(
      {
        SOURCE_URI: 'stdin://',
        SINK_URI: 'stdout://',
        LOG_FORMAT: 'json',
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1',
        OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
      },
      '{"body":"still delivered"}\n',
    );
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('still delivered');
    const warnings = logRecords(run.stderr).filter((line) => line.level === 40 && line.msg.startsWith('tracing: '));
    expect(warnings.map((line) => line.msg)).toEqual([
      expect.stringMatching(/^tracing: the last spans could not be exported \(.*ECONNREFUSED.*\); the messages are not affected$/),
    ]);
  });

  test('the bin exits 2 with one line naming a bad OTEL_* value and the fix', async () => {
    const run = await runBinToEnd({
      SOURCE_URI: 'stdin://',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318',
      OTEL_TRACES_SAMPLER: 'half',
    });
    expect(run.status).toBe(2);
    expect(run.stderr.trim()).toBe(
      "wasm-pipes: OTEL_TRACES_SAMPLER: 'half' is not a sampler; use one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio",
    );
  });
});
