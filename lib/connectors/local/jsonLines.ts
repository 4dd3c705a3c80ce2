// The JSON-lines envelope shared by stdout://, stdin:// and file://: one message per line, the body as text when it
// is valid UTF-8, else as base64, with id, key and metadata, so that a file sink read back by a file source gives
// the same messages.
import { isUtf8 } from 'node:buffer';
import type { Message, MessageInit } from '../../message';
import { ConfigError } from '../../errors';
import type { EndpointUri } from '../../registry';

export type LineFormat = 'envelope' | 'lines';

interface Envelope {
  id?: unknown;
  key?: unknown;
  metadata?: unknown;
  body?: unknown;
  body_base64?: unknown;
}

export function encodeEnvelope(message: Message): string {
  const envelope: Record<string, unknown> = { id: message.id };
  if (message.key !== undefined) envelope.key = message.key;
  envelope.metadata = message.metadata;
  if (isUtf8(message.body)) envelope.body = message.body.toString('utf8');
  else envelope.body_base64 = message.body.toString('base64');
  return JSON.stringify(envelope);
}

/**
 * A line as a message. With `envelope`, a line that is a JSON object with a string `body` or `body_base64` is read
 * as an envelope; any other line is the body itself. With `lines`, every line is the body.
 */
export function decodeLine(line: string, format: LineFormat): MessageInit {
  if (format === 'envelope' && line.startsWith('{')) {
    let parsed: Envelope | undefined;
    try {
      parsed = JSON.parse(line) as Envelope;
    } catch {
      parsed = undefined;
    }
    if (parsed !== undefined && (typeof parsed.body === 'string' || typeof parsed.body_base64 === 'string')) {
      const metadata: Record<string, string> = {};
      if (parsed.metadata !== null && typeof parsed.metadata === 'object') {
        for (const [name, value] of Object.entries(parsed.metadata)) metadata[name] = String(value);
      }
      return {
        id: typeof parsed.id === 'string' ? parsed.id : undefined,
        key: typeof parsed.key === 'string' ? parsed.key : undefined,
        metadata,
        body:
          typeof parsed.body_base64 === 'string' ? Buffer.from(parsed.body_base64, 'base64') : Buffer.from(parsed.body as string, 'utf8'),
      };
    }
  }
  return { body: Buffer.from(line, 'utf8') };
}

export function lineFormat(uri: EndpointUri, fallback: LineFormat): LineFormat {
  const format = uri.params.get('format') ?? fallback;
  if (format !== 'envelope' && format !== 'lines') {
    throw new ConfigError(`format must be 'envelope' or 'lines', not '${format}' (for example ${uri.scheme}://?format=lines)`, {
      variable: uri.variable,
    });
  }
  return format;
}

/** Splits a byte stream into lines (\n or \r\n), keeping the partial last line for the next chunk. */
export class LineSplitter {
  private rest = '';

  push(chunk: string, onLine: (line: string) => void): void {
    const text = this.rest + chunk;
    let start = 0;
    let end: number;
    while ((end = text.indexOf('\n', start)) !== -1) {
      const line = text.charCodeAt(end - 1) === 13 ? text.slice(start, end - 1) : text.slice(start, end);
      start = end + 1;
      if (line.length > 0) onLine(line);
    }
    this.rest = text.slice(start);
  }

  end(onLine: (line: string) => void): void {
    const line = this.rest.endsWith('\r') ? this.rest.slice(0, -1) : this.rest;
    this.rest = '';
    if (line.length > 0) onLine(line);
  }
}
