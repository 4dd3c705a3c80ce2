// Secret redaction for everything the process prints: the secrets it was given (tokens, passwords, connection
// strings, HMAC secrets, AWS keys, credentials inside URIs) are found in the environment once, and every log line,
// error message and admin answer is scrubbed of them, whatever level or library produced it.

/** Environment variable names whose values are secrets, whatever the connector. */
const SECRET_NAME = /(?:TOKEN|PASSWORD|PASSWD|SECRET|CONNECTION_STRING|ACCESS_KEY|API_KEY|PRIVATE_KEY|SAS_KEY|CREDENTIAL_VALUE)/i;
/** Names that look secret but hold a file path or a switch. */
const NOT_SECRET_NAME = /(?:_FILE|_PATH|_CERT|_CA|_ENABLED|_TTL|_TIMEOUT)$/i;
/** Query parameters whose values are secrets (also used by redactUri). */
export const SECRET_PARAM =
  /(?:^|[_-])(?:token|secret|password|passwd|pass|sig|signature|apikey|api_key|accesskey|access_key|sharedaccesskey|credentials?)$/i;
/** `name=value` parts of a connection string that are secrets (Service Bus, storage accounts). */
const SECRET_PART = /(?:^|;)\s*(SharedAccessKey|SharedAccessSignature|AccountKey|Password|Pwd)\s*=\s*([^;]+)/gi;
/** Secrets shorter than this are not searched for in free text (they would garble every line). */
export const MIN_SECRET_LENGTH = 4;

const SCHEME_CHAR = /[a-zA-Z0-9+.-]/;
const URI_END = /[\s"'<>`,]/;

function add(into: Set<string>, value: string | undefined): void {
  if (value === undefined) return;
  const trimmed = value.trim();
  if (trimmed.length >= MIN_SECRET_LENGTH) into.add(trimmed);
}

/**
 * Credentials inside one URI, to scrub them from free text too: the password of `user:pass@`, a user name that is a
 * token (`nats://token@`, `http://TOKEN@`, `http://sk_live:@`), secret-looking query values, and, in webhook URLs,
 * token-like query values and path segments.
 */
function uriSecrets(text: string, into: Set<string>): void {
  const parts = splitUri(text);
  if (parts === undefined) return;
  if (parts.userinfo !== undefined) {
    const colon = parts.userinfo.indexOf(':');
    const user = colon === -1 ? parts.userinfo : parts.userinfo.slice(0, colon);
    const password = colon === -1 ? '' : parts.userinfo.slice(colon + 1);
    if (password !== '') add(into, safeDecode(password));
    // a user name with no password is the credential (a token), unless the scheme logs in with user names; beside a
    // password it is a login, and scrubbing a word like "admin" from every line would garble the logs
    else if (!LOGIN_SCHEMES.has(parts.scheme) || USER_IS_TOKEN_SCHEMES.has(parts.scheme)) add(into, safeDecode(user));
  }
  const thirdParty = THIRD_PARTY_SCHEMES.has(parts.scheme);
  if (parts.query !== undefined) {
    for (const pair of parts.query.split('&')) {
      const equals = pair.indexOf('=');
      if (equals <= 0) continue;
      const value = safeDecode(pair.slice(equals + 1));
      if (SECRET_PARAM.test(safeDecode(pair.slice(0, equals))) || (thirdParty && tokenLike(value))) add(into, value);
    }
  }
  if (thirdParty) {
    const masked = maskWebhookPath(parts.path);
    if (masked !== parts.path) {
      const hidden = parts.path.slice(masked.length - 3).split('/');
      for (const segment of hidden) if (tokenLike(safeDecode(segment))) add(into, safeDecode(segment));
    }
  }
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/**
 * The secrets in `env`: values of variables named like secrets (`*_TOKEN`, `*_PASSWORD`, `*_SECRET*`,
 * `*CONNECTION_STRING`, `AWS_*ACCESS_KEY*`, ...) and of `extraNames`, the secret parts of connection strings, and
 * credentials inside any URI-valued variable (`redis://:pw@…`, `nats://token@…`, `…?token=…`).
 */
export function secretsFromEnv(env: NodeJS.ProcessEnv, extraNames: Iterable<string> = []): string[] {
  const secrets = new Set<string>();
  const named = new Set(extraNames);
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined || value === '') continue;
    if (named.has(name) || (SECRET_NAME.test(name) && !NOT_SECRET_NAME.test(name))) {
      add(secrets, value);
      for (const part of value.matchAll(SECRET_PART)) add(secrets, part[2]);
    }
    if (value.includes('://') || value.includes('@')) {
      // a list of URIs (SINK_URI, NATS_SERVER_URL) or a scheme-less NATS address with a token
      for (const item of value.split(/[\s,]+/)) {
        if (item === '') continue;
        uriSecrets(item.includes('://') ? item : `nats://${item}`, secrets);
      }
    }
  }
  return [...secrets];
}

/** The ways a secret can show up in a line: as is, JSON-escaped, URL-encoded. */
function variants(secret: string): string[] {
  const found = new Set([secret, JSON.stringify(secret).slice(1, -1), encodeURIComponent(secret)]);
  return [...found].filter((variant) => variant.length >= MIN_SECRET_LENGTH);
}

/** Scrubs known secrets and URI credentials out of text. */
export class Redactor {
  private patterns: string[] = [];

  constructor(secrets: Iterable<string> = []) {
    this.add(secrets);
  }

  /** Adds secrets to look for (values shorter than MIN_SECRET_LENGTH are ignored). */
  add(secrets: Iterable<string>): void {
    const all = new Set(this.patterns);
    for (const secret of secrets) {
      if (typeof secret !== 'string' || secret.length < MIN_SECRET_LENGTH) continue;
      for (const variant of variants(secret)) all.add(variant);
    }
    // longest first, so that a secret containing another is replaced whole
    this.patterns = [...all].sort((a, b) => b.length - a.length);
  }

  get size(): number {
    return this.patterns.length;
  }

  /** `text` with every known secret replaced by `***`, and credentials in URIs masked. */
  redact(text: string): string {
    let result = text;
    for (const pattern of this.patterns) {
      if (result.includes(pattern)) result = result.split(pattern).join('***');
    }
    if (result.includes('://')) result = maskUrisInText(result);
    return result;
  }
}

/**
 * Masks the credentials of every URI in `text`. Walks from each `://` (a regular expression that looks for schemes
 * would go back over every long word, which costs the square of its length on a line with a big token in it).
 */
function maskUrisInText(text: string): string {
  let result = '';
  let copied = 0;
  let at = text.indexOf('://');
  while (at !== -1) {
    let start = at;
    while (start > copied && SCHEME_CHAR.test(text[start - 1])) start--;
    // a scheme starts with a letter: `9ab://` is `ab://` after a digit
    while (start < at && !/[a-zA-Z]/.test(text[start])) start++;
    let end = at + 3;
    while (end < text.length && !URI_END.test(text[end])) end++;
    // punctuation that ends a sentence is not part of the URI: `.../final.wasm: it would`
    while (end > at + 3 && /[.:;)!?]/.test(text[end - 1])) end--;
    if (start < at && /[a-zA-Z]/.test(text[start])) {
      result += text.slice(copied, start) + maskUriCredentials(text.slice(start, end));
      copied = end;
    }
    at = text.indexOf('://', Math.max(end, at + 3));
  }
  return result + text.slice(copied);
}

/**
 * Schemes whose path, query and fragment go to a third party (a webhook), where any part may be the credential:
 * Azure Functions' `?code=`, Google Chat's `?key=`, Slack's `/services/T…/B…/<token>`, Discord's
 * `/api/webhooks/<id>/<token>`.
 */
const THIRD_PARTY_SCHEMES = new Set(['http', 'https', 'ws', 'wss']);
/** Schemes with a user name and a separate password: the user name is an identity, kept when a password follows. */
const LOGIN_SCHEMES = new Set([
  'amqp',
  'amqps',
  'rabbit',
  'redis',
  'rediss',
  'nats',
  'tls',
  'nats-kv',
  'kafka',
  'mqtt',
  'mqtts',
  'postgres',
  'postgresql',
  'mysql',
  'mariadb',
  'mongodb',
  'mongodb+srv',
]);
/** Login schemes where a user name alone is a token. */
const USER_IS_TOKEN_SCHEMES = new Set(['nats', 'tls', 'nats-kv']);
/**
 * The schemes whose query parameters configure this toolkit's own connectors (never sent anywhere), so that their
 * structural parameters below may stay readable; every other scheme (HTTP and unknown ones) has every value masked.
 */
const OWN_PARAMETER_SCHEMES = new Set([
  'nats',
  'kafka',
  'rabbit',
  'awssqs',
  'awssns',
  'gcppubsub',
  'azuresb',
  'mem',
  'stdin',
  'stdout',
  'file',
  'memory',
  'redis',
  'rediss',
  'nats-kv',
]);
/**
 * Query parameters of our connectors whose values say how, not who: kept readable. Anything else (including
 * `endpoint`, which may carry a URL with credentials) is masked.
 */
const STRUCTURAL_PARAMS = new Set([
  'queue',
  'pipe',
  'stream',
  'consumer',
  'durable',
  'jetstream',
  'deliver',
  'topic',
  'offset',
  'group',
  'key_name',
  'routing_key',
  'exchange',
  'persistent',
  'timeout',
  'prefetch_count',
  'subscription',
  'subqueue',
  'max_lock_renewal',
  'key_as',
  'format',
  'fsync',
  'redelivery_delay',
  'max_backlog',
  'region',
  'waittime',
  'visibility',
  'raw',
  'pollers',
  'nack_delay',
  'nack_delay_max',
  'max_message_size',
  'nacklazy',
  'streams',
  'prefix',
  'ttl',
  'max',
  'replicas',
  'history',
  'db',
]);
/**
 * A path segment of a webhook URL that reads as a word (`events`, `hooks`, `api`, `v2`): kept. From the first one
 * that does not (digits, capitals, long or encoded: an id or a token), the rest of the path is masked.
 */
const WORD_SEGMENT = /^(?:[a-z][a-z._~-]{0,31}|v\d{1,3}|)$/;
/** A value that looks like a credential rather than a word, for scrubbing it out of free text too. */
function tokenLike(value: string): boolean {
  return (
    value.length >= 8 &&
    !/\s/.test(value) &&
    (/\d/.test(value) || (/[A-Z]/.test(value) && /[a-z]/.test(value)) || /[^A-Za-z0-9]/.test(value))
  );
}

/** The parts of a URI, split without a URL parser (a redaction must not fail on a malformed URI). */
interface UriParts {
  scheme: string;
  prefix: string;
  userinfo: string | undefined;
  host: string;
  path: string;
  query: string | undefined;
  fragment: string | undefined;
}

function splitUri(uri: string): UriParts | undefined {
  const schemeMatch = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(uri);
  if (schemeMatch === null) return undefined;
  const prefix = schemeMatch[0];
  let rest = uri.slice(prefix.length);
  let fragment: string | undefined;
  const hash = rest.indexOf('#');
  if (hash !== -1) {
    fragment = rest.slice(hash + 1);
    rest = rest.slice(0, hash);
  }
  let query: string | undefined;
  const question = rest.indexOf('?');
  if (question !== -1) {
    query = rest.slice(question + 1);
    rest = rest.slice(0, question);
  }
  const slash = rest.indexOf('/');
  let authority = slash === -1 ? rest : rest.slice(0, slash);
  const path = slash === -1 ? '' : rest.slice(slash);
  // the last @ ends the user info, as URL parsers read it: a password with an unencoded @ stays whole
  const at = authority.lastIndexOf('@');
  let userinfo: string | undefined;
  if (at !== -1) {
    userinfo = authority.slice(0, at);
    authority = authority.slice(at + 1);
  }
  return { scheme: schemeMatch[1].toLowerCase(), prefix, userinfo, host: authority, path, query, fragment };
}

function maskUserinfo(scheme: string, userinfo: string): string {
  const colon = userinfo.indexOf(':');
  const user = colon === -1 ? userinfo : userinfo.slice(0, colon);
  const password = colon === -1 ? undefined : userinfo.slice(colon + 1);
  const mask = (part: string): string => (part === '' ? '' : '***');
  // amqp://app:pw@…: the user name is a login, the password the secret; http://TOKEN@…, http://sk_live:@… and
  // https://<token>:x-oauth-basic@…: the user name is the secret, and so is nats://<token>@…
  if (LOGIN_SCHEMES.has(scheme) && (password === undefined || password === '') && !USER_IS_TOKEN_SCHEMES.has(scheme)) return userinfo;
  if (LOGIN_SCHEMES.has(scheme) && password !== undefined && password !== '') return `${user}:***`;
  return password === undefined ? mask(user) : `${mask(user)}:${mask(password)}`;
}

function maskWebhookPath(path: string): string {
  const segments = path.split('/');
  for (let i = 1; i < segments.length; i++) {
    if (!WORD_SEGMENT.test(segments[i])) return `${segments.slice(0, i).join('/')}/***`;
  }
  return path;
}

function maskQuery(scheme: string, query: string): string {
  const keepStructural = OWN_PARAMETER_SCHEMES.has(scheme);
  return query
    .split('&')
    .map((pair) => {
      const equals = pair.indexOf('=');
      if (equals === -1 || equals === pair.length - 1) return pair;
      const name = pair.slice(0, equals);
      const decoded = safeDecode(name).toLowerCase();
      const keep = keepStructural && STRUCTURAL_PARAMS.has(decoded) && !SECRET_PARAM.test(decoded);
      return keep ? pair : `${name}=***`;
    })
    .join('&');
}

/**
 * Masks the credentials of one URI, for names, labels and logs. Every user-info part is masked, except the user
 * name of a login scheme (amqp, redis, postgres, ...) when a password follows. Every query value is masked, except
 * the structural parameters of this toolkit's own connectors (`?queue=`, `?stream=`, `?topic=`, ...). Webhook URLs
 * (http, https) also have their path masked from the first segment that is not a plain word, and their fragment.
 */
export function maskUriCredentials(uri: string): string {
  const parts = splitUri(uri);
  if (parts === undefined) return uri;
  const thirdParty = THIRD_PARTY_SCHEMES.has(parts.scheme);
  let masked = parts.prefix;
  if (parts.userinfo !== undefined) masked += `${maskUserinfo(parts.scheme, parts.userinfo)}@`;
  masked += parts.host;
  masked += thirdParty ? maskWebhookPath(parts.path) : parts.path;
  if (parts.query !== undefined) masked += `?${maskQuery(parts.scheme, parts.query)}`;
  if (parts.fragment !== undefined) masked += thirdParty && parts.fragment !== '' ? '#***' : `#${parts.fragment}`;
  return masked;
}
