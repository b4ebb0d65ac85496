/**
 * Limits of the project's HTTP servers (the alert webhook and the codec
 * endpoint), so that a client that sends slowly, or never finishes, cannot
 * hold them: the headers within `headersTimeoutMs`, the whole request within
 * `requestTimeoutMs`, an idle connection closed after `idleTimeoutMs`, and at
 * most `maxConnections` at once (one more is closed as soon as it opens).
 * Node checks the request and header deadlines every `checkIntervalMs`.
 */
import type { FastifyInstance, FastifyServerOptions } from 'fastify';

export interface ServerLimits {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  idleTimeoutMs: number;
  keepAliveTimeoutMs: number;
  maxConnections: number;
  checkIntervalMs: number;
}

export const DEFAULT_SERVER_LIMITS: ServerLimits = {
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  idleTimeoutMs: 60_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 64,
  checkIntervalMs: 1_000,
};

/** Fastify's options for these limits (its own, and those it hands to Node's http server). */
export function limitOptions(l: ServerLimits): Pick<
  FastifyServerOptions,
  'connectionTimeout' | 'keepAliveTimeout' | 'requestTimeout'
> & {
  http: { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number };
} {
  // Node requires headersTimeout <= requestTimeout
  const headers = Math.min(l.headersTimeoutMs, l.requestTimeoutMs);
  return {
    connectionTimeout: l.idleTimeoutMs,
    keepAliveTimeout: l.keepAliveTimeoutMs,
    requestTimeout: l.requestTimeoutMs,
    http: {
      headersTimeout: headers,
      requestTimeout: l.requestTimeoutMs,
      connectionsCheckingInterval: l.checkIntervalMs,
    },
  };
}

/** The connection cap, and the deadlines on an https server too (Fastify hands it only its TLS options). */
export function applyLimits(app: FastifyInstance, l: ServerLimits): void {
  const server = app.server as FastifyInstance['server'] & { headersTimeout?: number; requestTimeout?: number };
  server.maxConnections = l.maxConnections;
  server.headersTimeout = Math.min(l.headersTimeoutMs, l.requestTimeoutMs);
  server.requestTimeout = l.requestTimeoutMs;
}
