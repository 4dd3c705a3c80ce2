// Local servers that tests start (HTTP hooks, proxies, receivers).
import type { Server } from 'node:http';

/** Closes `server` at once: its keep-alive connections too (close() alone waits for them), resolving once closed. */
export function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
