// `wasm-pipes check` for http(s)://. A source: its address and port can be listened on (taken and given back at
// once). A sink: the server answers OPTIONS (or HEAD where OPTIONS is not allowed) at the URL with the URI's
// credentials; nothing is POSTed. 404 and refused credentials are problems; 405 still proves the endpoint is there.
import net from 'node:net';
import { request } from 'undici';
import type { EndpointUri } from '../../registry';
import { listenerConfig } from './config';

export async function probeSource(uri: EndpointUri, env: NodeJS.ProcessEnv): Promise<string> {
  const { host, port, path, tls } = listenerConfig(uri, env);
  await new Promise<void>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EADDRINUSE')
        reject(new Error(`port ${port} on ${host} is in use (another wasm-pipes?); stop what holds it, or choose another port in the URI`));
      else if (error.code === 'EACCES')
        reject(new Error(`this user may not listen on port ${port}; use a port above 1023, or run with the right to bind it`));
      else if (error.code === 'EADDRNOTAVAIL')
        reject(new Error(`${host} is not an address of this machine; use one it has, or http://:${port}${path} for all of them`));
      else reject(error);
    });
    server.listen(port, host, () => server.close(() => resolve()));
  });
  return `${host}:${port} can be listened on, ${tls ? 'TLS certificate and key read, ' : ''}requests to ${path}`;
}

function authorization(url: URL): string | undefined {
  if (url.username === '' && url.password === '') return undefined;
  return `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`, 'utf8').toString('base64')}`;
}

export async function probeSink(uri: EndpointUri): Promise<string> {
  const url = new URL(uri.url.href);
  const auth = authorization(url);
  url.username = '';
  url.password = '';
  const ask = async (method: 'OPTIONS' | 'HEAD'): Promise<number> => {
    try {
      const response = await request(url, {
        method,
        headers: auth === undefined ? {} : { authorization: auth },
        headersTimeout: 10_000,
        bodyTimeout: 10_000,
      });
      await response.body.dump();
      return response.statusCode;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code ?? ((error as Error).cause as NodeJS.ErrnoException | undefined)?.code;
      if (code === 'ECONNREFUSED')
        throw new Error(`nothing listens at ${url.host}; start the server, or fix the host and port`, { cause: error });
      if (code === 'ENOTFOUND' || code === 'EAI_AGAIN')
        throw new Error(`the host ${url.hostname} is not known to DNS; fix the host name`, { cause: error });
      throw new Error(`${url.host} could not be reached: ${(error as Error).message}`, { cause: error });
    }
  };
  let method: 'OPTIONS' | 'HEAD' = 'OPTIONS';
  let status = await ask(method);
  if (status === 405 || status === 501) {
    method = 'HEAD';
    status = await ask(method);
  }
  if (status === 401 || status === 403) {
    throw new Error(
      `the server refuses ${auth === undefined ? 'requests without credentials' : 'the credentials of the URI'} (${status}); give user:password@ in the URI, or ask for access`,
    );
  }
  if (status === 404 || status === 410) throw new Error(`the server has nothing at ${url.pathname} (${status}); fix the path`);
  if (status >= 500 && status !== 501) throw new Error(`the server answers ${status} to ${method}: it is up but failing; look at its logs`);
  return `the server answers ${method} with ${status}${status === 405 || status === 501 ? ' (the endpoint is there; POST is what the sink sends)' : ''}`;
}
