// The standard OpenTelemetry variables that turn tracing on and shape it, checked with ConfigErrors that name the
// variable and a valid value. Nothing here loads an OpenTelemetry package: a pipeline that does not trace never does.
import { ConfigError } from '../errors';
import { requireClientPackages } from '../registry';

/** What a traced pipeline needs from the OpenTelemetry API: the API, and W3C Trace Context's propagator. */
export const API_PACKAGES = ['@opentelemetry/api', '@opentelemetry/core'];
/** What the OTEL_* variables need on top: the SDK, its resource, and the OTLP/HTTP exporter. */
export const SDK_PACKAGES = ['@opentelemetry/sdk-trace-base', '@opentelemetry/resources', '@opentelemetry/exporter-trace-otlp-http'];

/** The OTEL_TRACES_SAMPLER values of the specification. */
export const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
export type SamplerName = (typeof SAMPLERS)[number];

/** What the OTEL_* variables ask for, once checked. */
export interface TracingSettings {
  /** Where spans go: the OTLP/HTTP traces endpoint (`.../v1/traces`). */
  readonly endpoint: string;
  readonly sampler: SamplerName;
  /** The ratio of traceidratio samplers (OTEL_TRACES_SAMPLER_ARG), 0..1. */
  readonly ratio: number;
  readonly serviceName: string;
}

/** The OTLP/HTTP port and path of the specification: where a local collector listens. */
export const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4318';
export const DEFAULT_SERVICE_NAME = 'wasm-pipes';

/** An OTEL_* value: per the specification, an empty value is the same as none. */
function read(env: NodeJS.ProcessEnv, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function checkUrl(value: string, variable: string): URL {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`'${value}' is not a URL; for example ${variable}=http://127.0.0.1:4318`, { variable });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ConfigError(
      `'${value}' is not an http(s):// URL: spans go out over OTLP/HTTP, for example ${variable}=http://127.0.0.1:4318`,
      {
        variable,
      },
    );
  }
  return url;
}

/**
 * The tracing the environment asks for, or undefined when it asks for none. Tracing is on when OTEL_TRACES_EXPORTER is
 * `otlp`, or an OTLP endpoint variable is set (and OTEL_TRACES_EXPORTER is not `none`); OTEL_SDK_DISABLED=true turns
 * it off. Throws a ConfigError for a value that would not work.
 */
export function tracingSettingsFromEnv(env: NodeJS.ProcessEnv): TracingSettings | undefined {
  const disabled = read(env, 'OTEL_SDK_DISABLED');
  if (disabled !== undefined && disabled.toLowerCase() !== 'true' && disabled.toLowerCase() !== 'false') {
    throw new ConfigError(`'${disabled}' is not true or false`, { variable: 'OTEL_SDK_DISABLED' });
  }
  const exporter = read(env, 'OTEL_TRACES_EXPORTER')?.toLowerCase();
  if (exporter !== undefined && exporter !== 'otlp' && exporter !== 'none') {
    throw new ConfigError(
      `'${exporter}' is not an exporter wasm-pipes has; use otlp (OTLP over HTTP to OTEL_EXPORTER_OTLP_ENDPOINT, a collector, ` +
        'Jaeger or Tempo) or none',
      { variable: 'OTEL_TRACES_EXPORTER' },
    );
  }
  const tracesEndpoint = read(env, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT');
  const baseEndpoint = read(env, 'OTEL_EXPORTER_OTLP_ENDPOINT');
  const protocolVariable =
    read(env, 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL') !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const protocol = read(env, protocolVariable);
  const samplerText = read(env, 'OTEL_TRACES_SAMPLER')?.toLowerCase();
  const ratioText = read(env, 'OTEL_TRACES_SAMPLER_ARG');
  const wanted = exporter === 'otlp' || (exporter === undefined && (tracesEndpoint !== undefined || baseEndpoint !== undefined));
  if (!wanted || disabled?.toLowerCase() === 'true') return undefined;

  // the traces variable is used as it is; the base one gets the signal's path (the specification's rule)
  let endpoint: string;
  if (tracesEndpoint !== undefined) {
    endpoint = checkUrl(tracesEndpoint, 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT').href;
  } else {
    const base = checkUrl(baseEndpoint ?? DEFAULT_OTLP_ENDPOINT, 'OTEL_EXPORTER_OTLP_ENDPOINT').href;
    endpoint = `${base.replace(/\/+$/, '')}/v1/traces`;
  }
  if (protocol !== undefined && protocol !== 'http/json') {
    throw new ConfigError(
      `'${protocol}' is not supported: wasm-pipes sends OTLP over HTTP as JSON, which every OTLP/HTTP receiver (port 4318) ` +
        `accepts; set ${protocolVariable}=http/json or unset it`,
      { variable: protocolVariable },
    );
  }
  let sampler: SamplerName = 'parentbased_always_on';
  if (samplerText !== undefined) {
    if (!(SAMPLERS as readonly string[]).includes(samplerText)) {
      throw new ConfigError(`'${samplerText}' is not a sampler; use one of ${SAMPLERS.join(', ')}`, { variable: 'OTEL_TRACES_SAMPLER' });
    }
    sampler = samplerText as SamplerName;
  }
  let ratio = 1;
  if (ratioText !== undefined) {
    ratio = Number(ratioText);
    if (!/^\d*\.?\d+(?:e-?\d+)?$/i.test(ratioText) || !(ratio >= 0 && ratio <= 1)) {
      throw new ConfigError(
        `'${ratioText}' is not a ratio between 0 and 1; for example OTEL_TRACES_SAMPLER_ARG=0.01 traces 1% of the messages`,
        {
          variable: 'OTEL_TRACES_SAMPLER_ARG',
        },
      );
    }
  }
  // the packages are optional peers: a start that would need them says how to add them, with the other config errors
  requireClientPackages(
    [...API_PACKAGES, ...SDK_PACKAGES],
    'tracing (OTEL_TRACES_EXPORTER, OTEL_EXPORTER_OTLP_ENDPOINT)',
    exporter !== undefined ? 'OTEL_TRACES_EXPORTER' : 'OTEL_EXPORTER_OTLP_ENDPOINT',
  );
  return { endpoint, sampler, ratio, serviceName: read(env, 'OTEL_SERVICE_NAME') ?? DEFAULT_SERVICE_NAME };
}
