// What a connector hands the conformance suite: how to get fresh endpoints, and what its service can and cannot do.
// A capability the service lacks is declared here, and the suite then proves the declared behaviour instead (a
// nacked message that must not come back, messages that need not keep their order): no check is skipped.
import type { MessageInit } from '../message';
import type { SourceOptions } from '../source';
import type { SinkOptions } from '../sink';

/** One fresh place to write to and read from. */
export interface ConformanceEndpoints {
  /** Reads what `sinkUri` writes. */
  sourceUri: string;
  sinkUri: string;
  /** Deletes what the test created (queues, streams, files). */
  cleanup?(): Promise<void>;
}

/** A queue or topic that does not exist: the source must fail at start, the sink at start or at its first write. */
export interface MissingEndpoint {
  /** The name that the ConnectorError must contain. */
  name: string;
  /**
   * A source URI reading from it; leave it out when the source creates what it reads from. A function when the URI
   * is known only once beforeAll has run (an emulator on a free port).
   */
  sourceUri?: string | (() => string);
  /** A sink URI writing to it; leave it out when the sink creates what it writes to (a file, a Kafka topic...). */
  sinkUri?: string | (() => string);
}

/** How the kill -9 test runs the bin on this target. */
export interface CrashOptions {
  /** Messages relayed across the crash. Default 2000. */
  messages?: number;
  /**
   * Endpoints for the crash test, when they need settings of their own: a short visibility timeout, ack wait or
   * lock, so that what the killed process held comes back within seconds. Default: endpoints().
   */
  endpoints?(): Promise<ConformanceEndpoints>;
  /** Variables for the bin on top of `env` (MAX_IN_FLIGHT, a broker's settings...). */
  env?: Record<string, string>;
  /**
   * Arguments for node before the bin's path: a connector outside this package registers its schemes with
   * `['--require', '/path/to/register.js']`.
   */
  nodeArgs?: string[];
  /** How long every message may take to arrive after the restart. Default 90 s. */
  timeoutMs?: number;
}

export interface ConformanceTarget {
  /** Names the describe block: the scheme, and the shape of the test when there are several. */
  name: string;
  /** Fresh, unique endpoints for one test. */
  endpoints(): Promise<ConformanceEndpoints>;
  /** Whether a nacked message comes back (false for core NATS, which is at most once). */
  redelivery: boolean;
  /** Whether the source must be subscribed before the sink writes (true for HTTP and core NATS). */
  subscribeFirst: boolean;
  /** Whether the message key survives the round trip. */
  keys?: boolean;
  /**
   * The variables the connector reads (NATS_SERVER_URL, KAFKA_BROKERS...), for every source and sink of the suite and
   * for the bin of the crash test. Read when each test runs, so `beforeAll` may fill the object in.
   */
  env?: NodeJS.ProcessEnv;
  /** Extra options for every source and sink of this target (timeouts, an env of their own). */
  sourceOptions?: SourceOptions;
  sinkOptions?: SinkOptions;
  /** How long to wait for deliveries (slow emulators). Default 10 s. */
  timeoutMs?: number;
  /** How long "nothing more arrives" is watched. Default 400 ms. */
  quietMs?: number;
  beforeAll?(): Promise<void>;
  afterAll?(): Promise<void>;

  /**
   * A queue or topic that does not exist, to prove that using it fails with a ConnectorError naming it; or, for a
   * service where every name exists (created by its first use: mem://, core NATS subjects; or no names at all), why.
   */
  missing?: MissingEndpoint | { alwaysExists: string };
  /**
   * A message the service refuses for good (too large, a key or header it cannot carry), to prove that a permanent
   * failure is written once, not retried, and goes to the dead letter; or, for a service that takes any message,
   * why (the suite then proves that a 1 MiB body makes the round trip).
   */
  refused?: MessageInit | { refusesNothing: string };
  /**
   * Whether the source counts deliveries (a service's own count, or one the driver keeps), so that the runtime sends
   * a message delivered more than maxDeliveries times to the dead letter. Default true. With false (HTTP: every
   * retry of the sender is a new request) the suite proves that such a message is not dead-lettered by the source.
   */
  countsDeliveries?: boolean;
  /**
   * Whether an ack is kept by the service, so that a new reader does not get the message again. Default true. False
   * for a source that reads its input from the start each time (file://).
   */
  durableAcks?: boolean;
  /**
   * Whether messages of one key written one after another, in batches, are read back in that order. Default true.
   * False only for a service that does not keep order (SQS standard queues); the suite then checks that all arrive.
   */
  ordered?: boolean;
  /**
   * The kill -9 test of the bin: options, or why it cannot run (a service inside the process, which dies with it).
   * It runs for every target with `redelivery: true` unless declared unsupported.
   */
  crash?: CrashOptions | { unsupported: string };
}
