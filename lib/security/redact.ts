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

/** Credentials inside one URI: the password of `user:pass@`, a `token@` for NATS, secret-looking query parameters. */
function uriSecrets(text: string, into: Set<string>): void {
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#@]*)@/.exec(text);
  if (match !== null) {
    const scheme = match[1].toLowerCase();
    const userinfo = match[2];
    const colon = userinfo.indexOf(':');
    if (colon !== -1) add(into, safeDecode(userinfo.slice(colon + 1)));
    // nats://s3cr3t@host: a user name alone is a token for NATS
    else if (scheme === 'nats' || scheme === 'tls') add(into, safeDecode(userinfo));
  }
  const query = text.indexOf('?');
  if (query !== -1) {
    for (const part of text.slice(query + 1).split(/[&#]/)) {
      const equals = part.indexOf('=');
      if (equals > 0 && SECRET_PARAM.test(safeDecode(part.slice(0, equals)))) add(into, safeDecode(part.slice(equals + 1)));
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
    if (start < at && /[a-zA-Z]/.test(text[start])) {
      result += text.slice(copied, start) + maskUriCredentials(text.slice(start, end));
      copied = end;
    }
    at = text.indexOf('://', Math.max(end, at + 3));
  }
  return result + text.slice(copied);
}

/** Masks the password (or NATS token) and secret-looking query values of one URI. */
export function maskUriCredentials(uri: string): string {
  let masked = uri.replace(/^([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^/?#@\s]*)@/, (whole, prefix: string, userinfo: string) => {
    const colon = userinfo.indexOf(':');
    if (colon !== -1) return `${prefix}${userinfo.slice(0, colon)}:***@`;
    return /^(?:nats|tls):\/\//i.test(prefix) ? `${prefix}***@` : whole;
  });
  if (masked.includes('?')) {
    masked = masked.replace(/([?&])([^=&#\s]*)=([^&#\s]*)/g, (whole, separator: string, name: string) =>
      SECRET_PARAM.test(safeDecode(name)) ? `${separator}${name}=***` : whole,
    );
  }
  return masked;
}
