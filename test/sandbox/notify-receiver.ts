/**
 * A webhook receiver for the notifier (activities/notify.ts): node:http on
 * 127.0.0.1, a free port, keeping every request it got. It answers 200, or
 * what `answer` says (a status and body, or a delay before answering).
 */
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

export interface NotifyReceiver {
  url: string;
  received: Received[];
  /** How the next requests are answered (default 200 "ok"). */
  answer: { status: number; body: string; delayMs?: number };
  /** Resolves with the requests `ok` selects once there are `n` of them (default 1). */
  waitFor(ok: (r: Received) => boolean, n?: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

export async function startNotifyReceiver(path = '/hooks/dm-switch'): Promise<NotifyReceiver> {
  const received: Received[] = [];
  const r: NotifyReceiver = {
    url: '',
    received,
    answer: { status: 200, body: 'ok' },
    async waitFor(ok, n = 1, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const got = received.filter(ok);
        if (got.length >= n) return got;
        if (Date.now() > deadline)
          throw new Error(
            `the receiver got ${got.length} of ${n} matching notification(s) within ${timeoutMs / 1000} s (${received.length} in all)`,
          );
        await new Promise((res) => setTimeout(res, 100));
      }
    },
    close: () =>
      new Promise<void>((res) => {
        server.close(() => res());
        server.closeAllConnections();
      }),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // kept as text
      }
      received.push({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body });
      const { status, body: answer, delayMs } = r.answer;
      const reply = () => {
        if (res.destroyed) return;
        res.writeHead(status, { 'content-type': 'text/plain' }).end(answer);
      };
      if (delayMs) setTimeout(reply, delayMs).unref();
      else reply();
    });
  });
  await new Promise<void>((res) => server.listen(0, '127.0.0.1', () => res()));
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${path}`;
  return r;
}
