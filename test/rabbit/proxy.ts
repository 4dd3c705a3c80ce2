// A TCP proxy on 127.0.0.1 in front of a real server, whose connections a test can cut: the server "goes away" for
// the clients behind it without anyone touching the shared broker.
import net from 'node:net';

export class CuttableProxy {
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();
  /** The server's side of each connection, to stop what it sends from reaching the client (freeze). */
  private readonly upstreams = new Map<net.Socket, net.Socket>();
  port = 0;
  refusing = false;

  constructor(
    private readonly targetPort: number,
    private readonly targetHost = '127.0.0.1',
  ) {}

  async start(): Promise<void> {
    this.server = net.createServer((client) => {
      if (this.refusing) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.targetPort, this.targetHost);
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
        socket.on('error', () => undefined);
      }
      client.pipe(upstream);
      upstream.pipe(client);
      this.upstreams.set(upstream, client);
      upstream.on('close', () => this.upstreams.delete(upstream));
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as net.AddressInfo).port;
  }

  /** Drops every open connection; with `refuse`, new ones are dropped too until restore(). */
  cut(refuse = false): void {
    this.refusing = refuse;
    for (const socket of this.sockets) socket.destroy();
  }

  /**
   * Keeps the connections open but stops what the server sends from reaching the clients: a broker that takes
   * publishes and never confirms them, as one under a memory alarm does, without touching the shared one.
   */
  freeze(): void {
    for (const [upstream, client] of this.upstreams) {
      upstream.unpipe(client);
      upstream.pause();
    }
  }

  restore(): void {
    this.refusing = false;
  }

  async stop(): Promise<void> {
    this.cut(true);
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}
