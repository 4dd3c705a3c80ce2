// An HTTP proxy in front of fauxqs that holds back the answers of SQS long polls that took messages, until the test
// lets them go: it makes "the poll answers after the pipeline stopped" happen on cue instead of by timing.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { closeServer } from '../helpers/servers';

interface HeldAnswer {
  /** The message bodies the answer carries. */
  readonly bodies: string[];
  /** Sends the answer on to the client; false when the client had already gone (it aborted the request). */
  release(): boolean;
}

export class HoldingProxy {
  /** Long polls (ReceiveMessage with a wait) that reached the proxy, answered or not. */
  longPolls = 0;
  readonly held: HeldAnswer[] = [];

  private constructor(
    private readonly server: http.Server,
    readonly endpoint: string,
  ) {}

  /** Starts a proxy on 127.0.0.1 and a free port that forwards everything to `upstream` (http://host:port). */
  static async start(upstream: string): Promise<HoldingProxy> {
    const target = new URL(upstream);
    let proxy: HoldingProxy | undefined;
    const server = http.createServer((request, response) => {
      // closed before the answer was written: the client aborted the request
      let clientGone = false;
      response.on('close', () => {
        if (!response.writableFinished) clientGone = true;
      });
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const body = Buffer.concat(chunks);
        const longPoll =
          request.headers['x-amz-target'] === 'AmazonSQS.ReceiveMessage' &&
          Number((JSON.parse(body.toString('utf8')) as { WaitTimeSeconds?: number }).WaitTimeSeconds ?? 0) > 0;
        if (longPoll && proxy !== undefined) proxy.longPolls++;
        const forwarded = http.request(
          { host: target.hostname, port: target.port, method: request.method, path: request.url, headers: request.headers },
          (answer) => {
            const answerChunks: Buffer[] = [];
            answer.on('data', (chunk: Buffer) => answerChunks.push(chunk));
            answer.on('end', () => {
              const answerBody = Buffer.concat(answerChunks);
              const send = (): boolean => {
                if (clientGone) return false;
                response.writeHead(answer.statusCode ?? 502, answer.headers);
                response.end(answerBody);
                return true;
              };
              const messages = longPoll
                ? ((JSON.parse(answerBody.toString('utf8') || '{}') as { Messages?: { Body?: string }[] }).Messages ?? [])
                : [];
              if (messages.length > 0 && proxy !== undefined)
                proxy.held.push({ bodies: messages.map((message) => message.Body ?? ''), release: send });
              else send();
            });
          },
        );
        forwarded.on('error', () => response.destroy());
        forwarded.end(body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new HoldingProxy(server, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    return proxy;
  }

  async stop(): Promise<void> {
    await closeServer(this.server);
  }
}
