import { once } from 'node:events';
import { chmod } from 'node:fs/promises';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * What the host's sandbox-facing proxies (egress, git) share: an HTTP server on a unix socket (or a
 * loopback port) that knows every socket it has open, its clients' and any the proxy adds (its
 * upstream connections), so closing it cuts them all at once.
 */
export class TrackedServer {
  private readonly sockets = new Set<Socket>();
  private closing: Promise<void> | undefined;

  constructor(readonly server: Server) {
    server.on('connection', (socket: Socket) => this.track(socket));
  }

  /**
   * Listen on a unix socket (created with mode 0o666 so a sandbox uid can connect; fails if the path
   * exists) or on a TCP port (host default 127.0.0.1; port 0 picks one, see `port`). A failure
   * closes the server and rejects.
   */
  async listen(listen: { socketPath: string } | { port: number; host?: string }): Promise<void> {
    if ('socketPath' in listen) {
      await once(this.server.listen(listen.socketPath), 'listening'); // rejects on 'error' (EADDRINUSE: the path exists)
      try {
        await chmod(listen.socketPath, 0o666);
      } catch (error) {
        await this.close();
        throw error;
      }
    } else {
      await once(this.server.listen(listen.port, listen.host ?? '127.0.0.1'), 'listening');
    }
    this.server.on('error', () => {}); // after listening, errors belong to single connections
  }

  /** The TCP port listened on, when listening on one; undefined once closed. */
  get port(): number | undefined {
    const address = this.server.address();
    return typeof address === 'object' && address !== null ? (address as AddressInfo).port : undefined;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  /** Count `socket` among those close() destroys (destroyed at once if closing); its errors are its user's to handle, never unhandled. */
  track(socket: Socket) {
    socket.on('error', () => {});
    if (this.closing) return void socket.destroy();
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  /** Stop listening (a socket file goes with it) and destroy every tracked socket. Idempotent. */
  close(): Promise<void> {
    this.closing ??= new Promise((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
    return this.closing;
  }
}
