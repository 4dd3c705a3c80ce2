// Tracing with OpenTelemetry: a pipeline traces when run()/start() is given a tracer provider, or when the standard
// OTEL_* variables ask for it (the bin). The OpenTelemetry packages are optional peer dependencies, loaded here and
// only here, the first time a pipeline traces. See docs/tracing.md.
import type * as OtelApi from '@opentelemetry/api';
import type { TracerProvider } from '@opentelemetry/api';
import { requireClientPackages } from '../registry';
import { rootLogger } from '../logging/logger';
import { noteFailure } from '../deadLetter';
import { API_PACKAGES, tracingSettingsFromEnv, type TracingSettings } from './config';
import { PipelineTracer, sampleDecision, tracingState } from './hooks';

export { tracingSettingsFromEnv, API_PACKAGES, SDK_PACKAGES, DEFAULT_OTLP_ENDPOINT, DEFAULT_SERVICE_NAME, SAMPLERS } from './config';
export type { TracingSettings, SamplerName } from './config';
export { PipelineTracer, tracingState } from './hooks';

/** The instrumentation scope of our spans. */
const TRACER_NAME = 'wasm-pipes';

function tracerVersion(): string | undefined {
  try {
    return (require('wasm-pipes/package.json') as { version?: string }).version;
  } catch {
    return undefined;
  }
}

/** A traced pipeline's handle: its hooks, and close() to flush what it owns. */
export interface RunTracing {
  readonly source: PipelineTracer;
  /** Flushes and shuts down a provider made from OTEL_* (once every pipeline using it closed); a given one is left alone. */
  close(): Promise<void>;
}

/** The provider made from the OTEL_* variables, shared by the pipelines of the process. */
let envProvider:
  | { provider: { shutdown(): Promise<void>; getTracer(name: string, version?: string): OtelApi.Tracer }; users: number; key: string }
  | undefined;

function loadApi(variable: string | undefined): { api: typeof OtelApi; propagator: OtelApi.TextMapPropagator } {
  requireClientPackages(API_PACKAGES, 'tracing', variable);

  const api = require('@opentelemetry/api') as typeof OtelApi;
  const core = require('@opentelemetry/core') as typeof import('@opentelemetry/core');

  return { api, propagator: new core.W3CTraceContextPropagator() };
}

/** A tracer provider exporting to the OTLP/HTTP endpoint of `settings`; sampling is decided per message (hooks.ts). */
function providerFor(settings: TracingSettings): NonNullable<typeof envProvider>['provider'] {
  const sdk = require('@opentelemetry/sdk-trace-base') as typeof import('@opentelemetry/sdk-trace-base');
  const resources = require('@opentelemetry/resources') as typeof import('@opentelemetry/resources');
  const { OTLPTraceExporter } =
    require('@opentelemetry/exporter-trace-otlp-http') as typeof import('@opentelemetry/exporter-trace-otlp-http');

  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win over our default name (the environment detector reads them)
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ 'service.name': settings.serviceName }))
    .merge(resources.detectResources({ detectors: [resources.envDetector] }));
  return new sdk.BasicTracerProvider({
    resource,
    // the sampler of OTEL_TRACES_SAMPLER runs before a span is made (sampleDecision): what reaches the SDK is sampled
    sampler: new sdk.AlwaysOnSampler(),
    // batches, delays and queue sizes come from OTEL_BSP_*, the exporter's headers and timeout from OTEL_EXPORTER_OTLP_*
    spanProcessors: [new sdk.BatchSpanProcessor(new OTLPTraceExporter({ url: settings.endpoint }))],
  });
}

/**
 * The tracing of one pipeline: `provider` when given, none for `null`, else what the OTEL_* variables of `env` ask for
 * (undefined when they ask for none). Throws a ConfigError for a bad OTEL_* value or a missing package.
 */
export function openTracing(provider: TracerProvider | null | undefined, env: NodeJS.ProcessEnv = process.env): RunTracing | undefined {
  if (provider === null) return undefined;
  if (provider !== undefined) {
    const { api, propagator } = loadApi(undefined);
    const source = new PipelineTracer(api, provider.getTracer(TRACER_NAME, tracerVersion()), propagator, undefined);
    return track(source, async () => undefined);
  }
  const settings = tracingSettingsFromEnv(env);
  if (settings === undefined) return undefined;
  const { api, propagator } = loadApi('OTEL_TRACES_EXPORTER');
  reportExportFailures(api);
  const key = JSON.stringify(settings);
  if (envProvider === undefined || envProvider.key !== key) envProvider = { provider: providerFor(settings), users: 0, key };
  const shared = envProvider;
  shared.users++;
  const source = new PipelineTracer(
    api,
    shared.provider.getTracer(TRACER_NAME, tracerVersion()),
    propagator,
    sampleDecision(settings.sampler, settings.ratio),
  );
  return track(source, async () => {
    if (--shared.users > 0) return;
    if (envProvider === shared) envProvider = undefined;
    // flushes the spans still batched: the last messages' traces are not lost at a stop
    await shared.provider.shutdown().catch((error: unknown) => {
      rootLogger().warn(
        { err: error },
        `tracing: the last spans could not be exported (${(error as Error).message}); the messages are not affected`,
      );
    });
  });
}

/** Counts the pipeline as traced (the hooks wake up) until it closes. */
function track(source: PipelineTracer, shutdown: () => Promise<void>): RunTracing {
  tracingState.active++;
  let closing: Promise<void> | undefined;
  return {
    source,
    close() {
      closing ??= (async () => {
        tracingState.active--;
        await shutdown();
      })();
      return closing;
    },
  };
}

let reporting = false;

/**
 * The SDK tells of spans it could not export (a collector out of reach, a refused request) through OpenTelemetry's
 * diagnostic logger, silent by default: those go to our log at warn, rate-limited, so that missing traces have a cause
 * in the log. Once per process (the diagnostic logger is global).
 */
function reportExportFailures(api: typeof OtelApi): void {
  if (reporting) return;
  reporting = true;
  const logger = rootLogger().child({ component: 'tracing' });
  const warn = (message: string, ...args: unknown[]): void => {
    const detail = args.map((arg) => (arg instanceof Error ? arg.message : typeof arg === 'string' ? arg : JSON.stringify(arg))).join(' ');
    noteFailure(
      logger,
      'spans_not_exported',
      {},
      `tracing: ${message}${detail ? ` ${detail}` : ''} (the messages are not affected, only their spans)`,
    );
  };
  const quiet = (): void => undefined;
  api.diag.setLogger({ error: warn, warn, info: quiet, debug: quiet, verbose: quiet }, api.DiagLogLevel.WARN);
}
