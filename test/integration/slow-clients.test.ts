/**
 * The alert webhook and the codec endpoint against clients that send slowly
 * or never finish (real sockets on loopback): half-sent requests are closed
 * at their deadline, connections past the cap are closed at once, and the
 * codec endpoint answers only for its own host names (DNS rebinding).
 */
import type { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { codecFromEnv } from '../../client/codec.js';
import { createCodecServer } from '../../client/codec-server.js';
import { parsePolicy } from '../../client/policy.js';
import type { ServerLimits } from '../../client/server-limits.js';
import { createWebhook } from '../../client/webhook.js';

const codec = codecFromEnv({ DM_SWITCH_CODEC_KEY: randomBytes(32).toString('base64'), DM_SWITCH_CODEC_KEY_ID: 'k1' })!;
const LIMITS: ServerLimits = {
  headersTimeoutMs: 400,
  requestTimeoutMs: 400,
  idleTimeoutMs: 2_000,
  keepAliveTimeoutMs: 500,
  maxConnections: 5,
  checkIntervalMs: 100,
};
const POLICY = `auth: { bearerTokenEnv: T }
rules:
  - name: r
    match: { alertname: X }
    kind: vip
    gates: [before-freeze]
    switch: { sourceId: s, newInstance: { host: db-b, credentials: c }, vip: { address: 10.0.0.9 } }
`;
const servers: FastifyInstance[] = [];
const sockets: Socket[] = [];
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) await s.close();
});

/** Opens `n` connections that send half a request each; resolves with when each closed (ms after opening, or null). */
async function halfSent(port: number, n: number, waitMs: number): Promise<Array<number | null>> {
  const t0 = Date.now();
  const closed: Array<number | null> = Array(n).fill(null);
  await Promise.all(
    Array.from(
      { length: n },
      (_, i) =>
        new Promise<void>((resolve) => {
          const s = connect(port, '127.0.0.1', () => {
            s.write(`POST /alerts HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Length: 100\r\n`);
            resolve();
          });
          s.resume(); // read what the server sends, so its close is seen
          s.on('error', () => resolve());
          s.on('close', () => (closed[i] = Date.now() - t0));
          sockets.push(s);
        }),
    ),
  );
  await new Promise((r) => setTimeout(r, waitMs));
  return closed;
}

async function listen(app: FastifyInstance): Promise<number> {
  servers.push(app);
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return Number(new URL(url).port);
}

describe('servers that do not wait for slow clients', () => {
  it.each([
    [
      'the alert webhook',
      () =>
        createWebhook({
          client: {} as Client,
          policy: parsePolicy(POLICY),
          secrets: { bearerToken: 'x'.repeat(32) },
          limits: LIMITS,
        }),
    ],
    ['the codec endpoint', () => createCodecServer({ codec, token: 'y'.repeat(32), limits: LIMITS })],
  ])(
    'given 40 half-sent requests, %s should close those past the cap at once and the rest at their deadline',
    async (_, make) => {
      const port = await listen(make());
      const early = await halfSent(port, 40, 150);
      // past the cap of 5: closed as they opened
      expect(early.filter((x) => x !== null).length).toBeGreaterThanOrEqual(35);
      const later = await halfSent(port, 0, 1_500);
      expect(later).toEqual([]);
      // the 5 it kept: closed once their headers deadline passed (checked every 100 ms), none left open
      expect(sockets.filter((s) => !s.destroyed).map((s) => s.readyState)).toEqual([]);
      // and it still serves a whole request afterwards
      const r = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(r.status).toBeLessThan(500);
    },
  );

  it('given a request whose Host is not the codec endpoint own name (DNS rebinding), should refuse it without decoding', async () => {
    const port = await listen(createCodecServer({ codec }));
    const payloads = await codec.encode([
      { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"secret"') },
    ]);
    const body = JSON.stringify({
      payloads: payloads.map((p) => ({
        metadata: Object.fromEntries(
          Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v!).toString('base64')]),
        ),
        data: Buffer.from(p.data!).toString('base64'),
      })),
    });
    const post = (host: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const s = connect(port, '127.0.0.1', () => {
          s.write(
            `POST /decode HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
          );
        });
        let got = '';
        s.on('data', (d) => (got += d.toString()));
        s.on('end', () => resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(got)?.[1]), body: got }));
        s.on('error', reject);
      });
    const evil = await post(`rebound.example:${port}`);
    expect(evil.status).toBe(421);
    expect(evil.body).not.toContain(Buffer.from('"secret"').toString('base64'));
    expect(evil.body).toMatch(/does not answer for host \\"rebound\.example:\d+\\"/);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`]) {
      const ok = await post(host);
      expect(ok.status).toBe(200);
      expect(ok.body).toContain(Buffer.from('"secret"').toString('base64'));
    }
  });
});
