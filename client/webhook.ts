/**
 * The alert webhook: Alertmanager's webhook (payload version 4) posts here,
 * and a firing alert that a policy rule matches starts that rule's switch.
 *
 * - Authentication first: a bearer token, or an HMAC-SHA256 signature over
 *   a timestamp, a nonce and the body (X-Dm-Switch-Timestamp, -Nonce,
 *   -Signature). A signature outside the policy's window, or a nonce seen
 *   within it, is refused: a captured request cannot be replayed. Anything
 *   else gets 401 and starts nothing.
 * - Bounded: at most `limits.maxConcurrent` requests at once (more get 503
 *   and Retry-After, which Alertmanager retries), and an alert repeated
 *   within `limits.repeatWindowSeconds` makes no Temporal call.
 * - An alert that starts nothing because of our side (the rule's switch is
 *   refused) makes the answer 422, never 200: Alertmanager records the
 *   notification as failed, where someone sees it.
 * - A rule's switch request may take values from the alert's labels and
 *   annotations (templates, policy-template.ts): rendered once per alert,
 *   then validated with the workflow's schema. A missing label or an invalid
 *   result refuses that alert (422) with the reason and starts nothing; the
 *   other alerts of the payload go on. The workflow ID comes from the
 *   rendered request.
 * - A malformed payload gets 400 with the reason.
 * - Resolved alerts are ignored.
 * - De-duplication: the switch's workflow ID is the source's
 *   (dm-switch/<cluster>/<source>), started with conflict policy FAIL, and
 *   the alert's identity (fingerprint and startsAt) is kept in the memo. So
 *   an alert repeated while its switch runs joins it, and one re-delivered
 *   after the switch ended is recognised and starts nothing.
 */
import { printable } from '../common/text.js';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { applyLimits, DEFAULT_SERVER_LIMITS, limitOptions, type ServerLimits } from './server-limits.js';
import Fastify, { type FastifyInstance } from 'fastify';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { switchWorkflowId } from '../common/switch/ids.js';
import { matchRule, ruleRequest, type Policy } from './policy.js';
import { startSwitch, SwitchRequestError } from './switches.js';
import { startHost } from './drain.js';
import { drainWorkflowId } from '../common/switch/drain.js';

const AlertSchema = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: z.record(z.string(), z.string()),
  annotations: z.record(z.string(), z.string()).default({}),
  startsAt: z.string().min(1),
  fingerprint: z.string().min(1),
});
const PayloadSchema = z.object({
  version: z.literal('4', { message: 'only Alertmanager webhook payload version "4" is understood' }),
  status: z.enum(['firing', 'resolved']),
  alerts: z.array(AlertSchema),
});

export type AlertResult =
  | { fingerprint: string; action: 'started' | 'already-running' | 'duplicate'; workflowId: string; rule: string }
  | { fingerprint: string; action: 'ignored'; reason: string }
  | { fingerprint: string; action: 'refused'; reason: string; rule: string }
  | { fingerprint: string; action: 'rate-limited'; reason: string; rule: string; workflowId: string };

export interface WebhookSecrets {
  bearerToken?: string;
  hmacSecret?: string;
  /** PEM certificate and key, when the policy asks for TLS. */
  tls?: { cert: string; key: string };
}

/** Reads the secrets the policy names, from the environment or files. */
export async function loadSecrets(policy: Policy, env: NodeJS.ProcessEnv = process.env): Promise<WebhookSecrets> {
  const read = async (envName?: string, file?: string) => {
    if (envName) {
      const v = env[envName];
      if (!v) throw new Error(`the webhook policy names ${envName}, but it is not set`);
      return v;
    }
    if (file) return (await readFile(file, 'utf8')).replace(/\r?\n$/, '');
    return undefined;
  };
  const tls = policy.tls
    ? { cert: await readFile(policy.tls.certFile, 'utf8'), key: await readFile(policy.tls.keyFile, 'utf8') }
    : undefined;
  return {
    bearerToken: await read(policy.auth.bearerTokenEnv, policy.auth.bearerTokenFile),
    hmacSecret: await read(policy.auth.hmacSecretEnv, policy.auth.hmacSecretFile),
    ...(tls ? { tls } : {}),
  };
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The HMAC a signed request carries: over `<timestamp>.<nonce>.<body>`. */
export function signRequest(secret: string, timestamp: string, nonce: string, body: Buffer | string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${nonce}.`).update(body).digest('hex')}`;
}

/** Nonces of signed requests seen within the window (bounded: the oldest go first). */
class NonceMemory {
  private readonly seen = new Map<string, number>();
  constructor(
    private readonly windowMs: number,
    private readonly max = 100_000,
  ) {}
  /** True the first time within the window; false for a replay. */
  claim(nonce: string, now: number): boolean {
    for (const [n, until] of this.seen) {
      if (until > now && this.seen.size <= this.max) break;
      this.seen.delete(n);
    }
    if (this.seen.has(nonce)) return false;
    this.seen.set(nonce, now + 2 * this.windowMs);
    return true;
  }
}

function authenticated(
  secrets: WebhookSecrets,
  headers: Record<string, string | string[] | undefined>,
  body: Buffer,
  nonces: NonceMemory,
  windowMs: number,
): boolean {
  const auth = headers.authorization;
  if (
    secrets.bearerToken &&
    typeof auth === 'string' &&
    auth.startsWith('Bearer ') &&
    sameSecret(auth.slice(7), secrets.bearerToken)
  )
    return true;
  const sig = headers['x-dm-switch-signature'];
  const ts = headers['x-dm-switch-timestamp'];
  const nonce = headers['x-dm-switch-nonce'];
  if (!secrets.hmacSecret || typeof sig !== 'string' || typeof ts !== 'string' || typeof nonce !== 'string')
    return false;
  if (!/^\d{1,12}$/.test(ts) || nonce.length < 16 || nonce.length > 128) return false;
  const now = Date.now();
  if (Math.abs(now - Number(ts) * 1000) > windowMs) return false;
  if (!sameSecret(sig, signRequest(secrets.hmacSecret, ts, nonce, body))) return false;
  // only a correctly signed request uses up its nonce
  return nonces.claim(nonce, now);
}

/** An alert's text as a switch records it: printable, one line, within `max`. */
const truncate = (raw: string, max: number) => {
  const s = printable(raw, true);
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
};

export function createWebhook(opts: {
  client: Client;
  policy: Policy;
  secrets: WebhookSecrets;
  logger?: boolean;
  limits?: ServerLimits;
}): FastifyInstance {
  const serverLimits = opts.limits ?? DEFAULT_SERVER_LIMITS;
  const base = { logger: opts.logger ?? false, bodyLimit: 1 << 20, ...limitOptions(serverLimits) };
  const app = (opts.secrets.tls
    ? Fastify({ ...base, https: opts.secrets.tls })
    : Fastify(base)) as unknown as FastifyInstance;
  applyLimits(app, serverLimits);
  // the raw body is needed for the HMAC; JSON is parsed after authentication
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  const limits = opts.policy.limits;
  const nonces = new NonceMemory(limits.signatureWindowSeconds * 1000);
  const recent = new Map<string, number>();
  const starts = new StartBudget(limits.startsPerRulePerHour, 3_600_000);
  let inFlight = 0;

  app.get('/healthz', async () => ({ ok: true }));

  app.post('/alerts', async (req, reply) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!authenticated(opts.secrets, req.headers, body, nonces, limits.signatureWindowSeconds * 1000)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="dm-switch"')
        .send({
          error:
            `unauthenticated: send Authorization: Bearer <token>, or X-Dm-Switch-Timestamp ` +
            `(unix seconds, within ${limits.signatureWindowSeconds} s), X-Dm-Switch-Nonce ` +
            `(16–128 characters, never reused) and X-Dm-Switch-Signature: sha256=<HMAC of ` +
            `"<timestamp>.<nonce>.<body>">; nothing was started`,
        });
    }
    if (inFlight >= limits.maxConcurrent) {
      return reply
        .code(503)
        .header('retry-after', '5')
        .send({
          error:
            `busy: ${inFlight} requests are being handled (limits.maxConcurrent); nothing ` +
            `was started, retry later`,
        });
    }
    inFlight++;
    try {
      let json: unknown;
      try {
        json = JSON.parse(body.toString('utf8'));
      } catch (e) {
        return reply.code(400).send({ error: `the body is not JSON: ${(e as Error).message}` });
      }
      const p = PayloadSchema.safeParse(json);
      if (!p.success) {
        return reply.code(400).send({
          error:
            `not an Alertmanager webhook payload: ` +
            `${p.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; ')}`,
        });
      }
      if (p.data.alerts.length > limits.maxAlertsPerPayload) {
        return reply.code(413).send({
          error:
            `the payload carries ${p.data.alerts.length} alerts, more than ` +
            `limits.maxAlertsPerPayload (${limits.maxAlertsPerPayload}); nothing was started`,
        });
      }
      const results: AlertResult[] = [];
      for (const alert of p.data.alerts)
        results.push(await handle(opts, alert, recent, limits.repeatWindowSeconds * 1000, starts));
      // an alert that started nothing because of us is not a success for Alertmanager
      if (results.some((r) => r.action === 'refused')) return reply.code(422).send({ results });
      if (results.some((r) => r.action === 'rate-limited'))
        return reply.code(429).header('retry-after', '300').send({ results });
      return reply.code(200).send({ results });
    } finally {
      inFlight--;
    }
  });
  return app;
}

/** Starts per rule within a sliding window: a forged or flapping alert cannot start switch after switch. */
export class StartBudget {
  private readonly at = new Map<string, number[]>();
  constructor(
    private readonly max: number,
    private readonly windowMs: number,
  ) {}
  /** Takes one start of `rule` now, or says how many it had within the window. */
  take(rule: string, now = Date.now()): { ok: true } | { ok: false; used: number } {
    const recent = (this.at.get(rule) ?? []).filter((t) => t > now - this.windowMs);
    if (recent.length >= this.max) {
      this.at.set(rule, recent);
      return { ok: false, used: recent.length };
    }
    recent.push(now);
    this.at.set(rule, recent);
    return { ok: true };
  }
  /** Gives back a start that started nothing. */
  giveBack(rule: string): void {
    this.at.get(rule)?.pop();
  }
}

async function handle(
  opts: { client: Client; policy: Policy },
  alert: z.infer<typeof AlertSchema>,
  recent: Map<string, number>,
  repeatMs: number,
  starts: StartBudget,
): Promise<AlertResult> {
  const { fingerprint } = alert;
  if (alert.status === 'resolved') return { fingerprint, action: 'ignored', reason: 'resolved alerts start nothing' };
  const rule = matchRule(opts.policy, alert.labels);
  if (!rule) return { fingerprint, action: 'ignored', reason: 'no policy rule matches its labels' };
  const built = ruleRequest(rule, alert, {
    requestedBy: truncate(`alertmanager: ${alert.labels.alertname ?? 'alert'} (${fingerprint})`, 200),
    reason: truncate(
      alert.annotations.summary ??
        alert.annotations.description ??
        `alert ${alert.labels.alertname ?? fingerprint} fired at ${alert.startsAt}`,
      2000,
    ),
  });
  // refused before any Temporal call and before the repeat memory: a corrected re-delivery is judged afresh
  if (!built.ok) return { fingerprint, action: 'refused', reason: built.reason, rule: rule.name };
  const { request } = built;
  // from the rendered, validated request: a templated rule's ID is the alert's source
  const workflowId =
    'sourceId' in built.input
      ? switchWorkflowId(built.input.dmCluster, built.input.sourceId)
      : drainWorkflowId('drain', built.input.host, built.input.port);
  const identity = `${fingerprint}@${alert.startsAt}`;
  // a flood of repeats of one alert: one Temporal round trip per window, not one per delivery
  const now = Date.now();
  for (const [k, until] of recent) if (until <= now || recent.size > 10_000) recent.delete(k);
  if (recent.has(identity)) return { fingerprint, action: 'duplicate', workflowId, rule: rule.name };
  if (repeatMs > 0) recent.set(identity, now + repeatMs);
  const handle = opts.client.workflow.getHandle(workflowId);
  const budget = starts.take(rule.name);
  if (!budget.ok) {
    recent.delete(identity);
    const max = opts.policy.limits.startsPerRulePerHour;
    return {
      fingerprint,
      action: 'rate-limited',
      workflowId,
      rule: rule.name,
      reason:
        `rule ${rule.name} started ${budget.used} switches within the last hour ` +
        `(limits.startsPerRulePerHour is ${max}); nothing was started: look at why it fires so often`,
    };
  }
  try {
    const r = await startFor(opts, alert, rule, request, workflowId, identity, handle);
    if (r.action !== 'started') starts.giveBack(rule.name);
    // refused by our side: a repeat is refused (422) again, not taken for a duplicate
    if (r.action === 'refused') recent.delete(identity);
    return r;
  } catch (e) {
    // nothing was decided (Temporal unreachable): the next delivery tries again
    starts.giveBack(rule.name);
    recent.delete(identity);
    throw e;
  }
}

async function startFor(
  opts: { client: Client; policy: Policy },
  alert: z.infer<typeof AlertSchema>,
  rule: NonNullable<ReturnType<typeof matchRule>>,
  request: Record<string, unknown>,
  workflowId: string,
  identity: string,
  handle: ReturnType<Client['workflow']['getHandle']>,
): Promise<AlertResult> {
  const { fingerprint } = alert;
  try {
    const d = await handle.describe();
    if (d.status.name === 'RUNNING') return { fingerprint, action: 'already-running', workflowId, rule: rule.name };
    if ((await d.memo)?.alert === identity) return { fingerprint, action: 'duplicate', workflowId, rule: rule.name };
  } catch (e) {
    if (!(e instanceof WorkflowNotFoundError)) throw e;
  }
  try {
    const start = {
      taskQueue: opts.policy.taskQueue,
      memo: { alert: identity, alertname: alert.labels.alertname ?? '', rule: rule.name },
    };
    if (rule.kind === 'drain') await startHost(opts.client, 'drain', request, start);
    else await startSwitch(opts.client, rule.kind, request, start);
    return { fingerprint, action: 'started', workflowId, rule: rule.name };
  } catch (e) {
    if (e instanceof SwitchRequestError && e.code === 'already-running')
      return { fingerprint, action: 'already-running', workflowId, rule: rule.name };
    if (e instanceof SwitchRequestError) return { fingerprint, action: 'refused', reason: e.message, rule: rule.name };
    throw e;
  }
}
