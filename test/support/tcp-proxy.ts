import net from 'node:net';

/**
 * A TCP proxy between the API and a server (Temporal, PostgreSQL) that can hold
 * the server's replies: requests still reach the server and take effect, but
 * their answers wait, so the caller's deadline expires on a call that did
 * happen. That is the ambiguous outcome a slow or partitioned server produces.
 * cut() is the server going away: every connection drops, held replies unsent,
 * and new ones are refused.
 */
export class ReplyHoldingProxy {
  private readonly server: net.Server;
  private holding = false;
  private readonly held: Array<() => void> = [];
  private readonly sockets = new Set<net.Socket>();

  private constructor(target: { host: string; port: number }) {
    this.server = net.createServer((client) => {
      const upstream = net.connect(target.port, target.host);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => this.sockets.delete(s));
      }
      client.on('data', (chunk) => upstream.write(chunk));
      upstream.on('data', (chunk) => {
        if (this.holding) this.held.push(() => client.write(chunk));
        else client.write(chunk);
      });
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
  }

  static async start(targetAddress: string): Promise<ReplyHoldingProxy & { address: string }> {
    const [host, port] = targetAddress.split(':');
    const proxy = new ReplyHoldingProxy({ host: host!, port: Number(port) });
    await new Promise<void>((resolve) => proxy.server.listen(0, '127.0.0.1', resolve));
    const { port: own } = proxy.server.address() as net.AddressInfo;
    return Object.assign(proxy, { address: `127.0.0.1:${own}` });
  }

  holdReplies(): void {
    this.holding = true;
  }

  releaseReplies(): void {
    this.holding = false;
    for (const send of this.held.splice(0)) send();
  }

  async cut(): Promise<void> {
    this.held.length = 0;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  async stop(): Promise<void> {
    if (!this.server.listening) return;
    this.releaseReplies();
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
