// HTTP requests written byte for byte on a socket, for what fetch() and node:http refuse to send: header values in
// raw UTF-8 or with control characters, as some clients do send them.
import net from 'node:net';

/** Writes `request` (the request line, headers and body, as given) on a new connection; resolves with the status. */
export function rawHttpStatus(port: number, request: Buffer, host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, host);
    let answer = '';
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('latin1');
      const status = /^HTTP\/1\.1 (\d+) /.exec(answer);
      if (status !== null) {
        socket.destroy();
        resolve(Number(status[1]));
      }
    });
    socket.on('error', reject);
    socket.write(request);
  });
}
