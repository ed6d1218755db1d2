// A webhook receiver for tests: one HTTP server on 127.0.0.1 that records every request (path, headers,
// exact body bytes) in arrival order and answers as the test says, per path. A shared `tick` counter lets
// tests assert the order of things (a request arrived, an answer was sent, a push was acknowledged)
// without ever measuring time.
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export interface Received {
  /** arrival order over the whole receiver */
  n: number;
  /** tick when the request (with its body) had arrived */
  arrivedAt: number;
  /** tick when the answer was written; undefined while it is pending */
  answeredAt?: number;
  path: string;
  method: string;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
  /** the status answered (undefined while pending, or when the sender had gone) */
  status?: number;
  /** the sender closed the connection before the answer was written */
  dropped?: boolean;
}

/** What to answer: a status, or a status after a delay (the receiver is slow). */
export type Answer = number | { status: number; delayMs?: number; body?: string };
/** Decides the answer to one request; `index` counts this path's requests from 0. */
export type Behaviour = (r: Received, index: number) => Answer;

let ticks = 0;
/** A process-wide logical clock: every call returns a larger number. */
export const tick = (): number => ++ticks;

export class Receiver {
  readonly received: Received[] = [];
  private readonly behaviours = new Map<string, Behaviour>();
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private server?: http.Server;
  port = 0;

  /** Starts listening on 127.0.0.1 (a given port, or a free one). */
  async start(port = 0): Promise<this> {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.on('connection', (s) => { this.sockets.add(s); s.on('close', () => this.sockets.delete(s)); });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => { server.off('error', reject); resolve(); });
    });
    this.server = server;
    this.port = (server.address() as AddressInfo).port;
    return this;
  }

  /** Stops listening and drops every open connection (pending answers are never sent). */
  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    const closed = new Promise<void>((resolve) => s.close(() => resolve()));
    for (const socket of this.sockets) socket.destroy();
    await closed;
  }

  url(path: string): string {
    return `http://127.0.0.1:${this.port}${path}`;
  }

  /** How requests to `path` are answered from now on (default: 200). */
  on(path: string, behaviour: Behaviour | Answer): this {
    this.behaviours.set(path, typeof behaviour === 'function' ? behaviour : () => behaviour);
    return this;
  }

  /** Requests to `path` in arrival order (answered or not). */
  at(path: string): Received[] {
    return this.received.filter((r) => r.path === path);
  }

  /** Requests to `path` answered with a 2xx: what the sender counts as delivered. */
  accepted(path: string): Received[] {
    return this.at(path).filter((r) => r.status !== undefined && r.status >= 200 && r.status < 300);
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', () => undefined);
    res.on('error', () => undefined); // the sender gave up (timeout): nothing to answer to
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0]!;
      const r: Received = { n: this.received.length, arrivedAt: tick(), path, method: req.method ?? '', headers: req.headers, body: Buffer.concat(chunks) };
      const index = this.at(path).length;
      this.received.push(r);
      const answer = (this.behaviours.get(path) ?? (() => 200))(r, index);
      const { status, delayMs = 0, body = 'ok' } = typeof answer === 'number' ? { status: answer } : answer;
      const send = () => {
        r.answeredAt = tick();
        // The sender gave up (its timeout) before the answer: nothing was delivered.
        if (res.destroyed || req.socket.destroyed) { r.dropped = true; return; }
        r.status = status;
        res.writeHead(status, { 'content-type': 'text/plain' }).end(body);
      };
      if (delayMs > 0) {
        const t = setTimeout(() => { this.timers.delete(t); send(); }, delayMs);
        this.timers.add(t);
      } else {
        send();
      }
    });
  }
}

/** Polls until `check` returns a truthy value (returned), or fails naming `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | Promise<T>, timeoutMs = 20_000, everyMs = 25): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** One event of a delivery, whatever the format, reduced to what tests compare. */
export interface SeenEvent {
  id: string;
  /** Distribution action (push, pull, delete, login.failed, ...) or the CloudEvents type */
  kind: string;
  repository?: string;
  tag?: string;
  digest?: string;
  raw: any;
}

/** The events a delivery carries: Distribution envelopes hold a list, CloudEvents one. */
export function eventsOf(r: Received): SeenEvent[] {
  const doc = JSON.parse(r.body.toString('utf8'));
  if (Array.isArray(doc.events)) {
    return doc.events.map((e: any) => ({ id: e.id, kind: e.action, repository: e.target?.repository, tag: e.target?.tag, digest: e.target?.digest, raw: e }));
  }
  const t = doc.data?.target;
  return [{ id: doc.id, kind: doc.type, repository: t?.repository, tag: t?.tag, digest: t?.digest, raw: doc }];
}
