/**
 * The codec endpoint for the Temporal UI (and `temporal --codec-endpoint`):
 * POST /encode and /decode with {"payloads": [...]} in Temporal's JSON form.
 * It decodes for nobody unauthenticated: it listens on loopback by default,
 * and refuses to listen on any other address without a bearer token
 * (DM_SWITCH_CODEC_TOKEN); CORS answers only the origins listed (the UI's
 * address).
 *
 *   DM_SWITCH_CODEC_KEY=… DM_SWITCH_CODEC_CORS=http://localhost:8233 DM_SWITCH_CODEC_LISTEN=127.0.0.1:8888 \
 *     npm run codec-server
 * Then the UI: `temporal server start-dev --ui-codec-endpoint http://127.0.0.1:8888`
 * (or the UI's TEMPORAL_CODEC_ENDPOINT), or per browser in the UI's settings.
 */
import type { Payload, PayloadCodec } from '@temporalio/common';
import Fastify, { type FastifyInstance } from 'fastify';
import { timingSafeEqual } from 'node:crypto';
import { applyLimits, DEFAULT_SERVER_LIMITS, limitOptions, type ServerLimits } from './server-limits.js';

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const fromJson = (p: JsonPayload): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')])),
  data: Buffer.from(p.data ?? '', 'base64'),
});
const toJson = (p: Payload): JsonPayload => ({
  metadata: Object.fromEntries(
    Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')]),
  ),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

/** True for an address only this host reaches (127.0.0.0/8, ::1, localhost). */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h) || h === '::ffff:127.0.0.1';
}

export class CodecListenError extends Error {
  override readonly name = 'CodecListenError';
}

/**
 * Where the codec endpoint may listen: any address with a token; without
 * one, loopback only (whoever reaches it could read every switch's payloads).
 */
export function checkCodecListen(host: string, token: string | undefined): void {
  if (token) {
    if (token.length < 16)
      throw new CodecListenError(
        'DM_SWITCH_CODEC_TOKEN is shorter than 16 characters; make one with: openssl rand -hex 24',
      );
    return;
  }
  if (!isLoopback(host)) {
    throw new CodecListenError(
      `refusing to listen on ${host} without a token: anyone who reaches it could ` +
        `decrypt every switch's payloads. Set DM_SWITCH_CODEC_TOKEN (the UI then sends ` +
        `it as a bearer token), or listen on 127.0.0.1 (DM_SWITCH_CODEC_LISTEN) behind a ` +
        `proxy that authenticates`,
    );
  }
}

/**
 * The Host headers the codec endpoint answers: the address it listens on and,
 * on loopback, the loopback names for its port. A page that rebinds its own
 * name to 127.0.0.1 (DNS rebinding) sends its own name as Host, and is refused.
 */
export function codecHosts(host: string, port: number, extra: string[] = []): string[] {
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  const own = bare.includes(':') ? `[${bare}]:${port}` : `${bare}:${port}`;
  const loop = isLoopback(bare) ? [`localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`] : [];
  return [...new Set([own, ...loop, ...extra].map((h) => h.toLowerCase()))];
}

export function createCodecServer(opts: {
  codec: PayloadCodec;
  token?: string;
  corsOrigins?: string[];
  /** Host headers answered (codecHosts); every other one gets 421. Unset: set at listen from the address bound. */
  allowedHosts?: string[];
  limits?: ServerLimits;
}): FastifyInstance {
  const limits = opts.limits ?? DEFAULT_SERVER_LIMITS;
  const app = Fastify({ bodyLimit: 8 << 20, ...limitOptions(limits) });
  applyLimits(app, limits);
  const origins = new Set(opts.corsOrigins ?? []);
  let hosts: Set<string> | null = opts.allowedHosts ? new Set(opts.allowedHosts.map((h) => h.toLowerCase())) : null;
  app.addHook('onListen', async () => {
    if (hosts) return;
    const a = app.server.address();
    if (a && typeof a === 'object') hosts = new Set(codecHosts(a.address, a.port));
  });
  app.addHook('onRequest', async (req, reply) => {
    const host = (req.headers.host ?? '').toLowerCase();
    if (!hosts || !hosts.has(host)) {
      return reply.code(421).send({
        error:
          `this codec endpoint does not answer for host ${JSON.stringify(host)}; use the ` +
          `address it listens on (DM_SWITCH_CODEC_HOSTS adds names)`,
      });
    }
    const origin = req.headers.origin;
    if (origin && origins.has(origin)) {
      reply
        .header('access-control-allow-origin', origin)
        .header('access-control-allow-credentials', 'true')
        .header('vary', 'origin');
      reply
        .header('access-control-allow-methods', 'POST, OPTIONS')
        .header('access-control-allow-headers', 'content-type, x-namespace, authorization');
    }
    if (req.method === 'OPTIONS') return reply.code(204).send();
    if (opts.token) {
      const auth = req.headers.authorization ?? '';
      const want = Buffer.from(`Bearer ${opts.token}`);
      const got = Buffer.from(auth);
      if (got.length !== want.length || !timingSafeEqual(got, want))
        return reply.code(401).send({ error: 'unauthenticated: send Authorization: Bearer <token>' });
    }
  });
  for (const op of ['encode', 'decode'] as const) {
    app.post(`/${op}`, async (req, reply) => {
      const body = req.body as { payloads?: JsonPayload[] } | undefined;
      if (!body || !Array.isArray(body.payloads)) return reply.code(400).send({ error: 'send {"payloads": [...]}' });
      try {
        return { payloads: (await opts.codec[op](body.payloads.map(fromJson))).map(toJson) };
      } catch (e) {
        return reply.code(400).send({ error: `cannot ${op}: ${(e as Error).message}` });
      }
    });
  }
  return app;
}
