/**
 * The alert webhook: Alertmanager's webhook (payload version 4) posts here,
 * and a firing alert that a policy rule matches starts that rule's switch.
 *
 * - Authentication first: a bearer token or an HMAC-SHA256 signature of the
 *   body; anything else gets 401 and starts nothing.
 * - A malformed payload gets 400 with the reason.
 * - Resolved alerts are ignored.
 * - De-duplication: the switch's workflow ID is the source's
 *   (dm-switch/<cluster>/<source>), started with conflict policy FAIL, and
 *   the alert's identity (fingerprint and startsAt) is kept in the memo. So
 *   an alert repeated while its switch runs joins it, and one re-delivered
 *   after the switch ended is recognised and starts nothing.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import Fastify, { type FastifyInstance } from 'fastify';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { switchWorkflowId } from '../common/switch/ids.js';
import { matchRule, type Policy } from './policy.js';
import { startSwitch, SwitchRequestError } from './switches.js';

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
  | { fingerprint: string; action: 'refused'; reason: string; rule: string };

export interface WebhookSecrets {
  bearerToken?: string;
  hmacSecret?: string;
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
  return { bearerToken: await read(policy.auth.bearerTokenEnv, policy.auth.bearerTokenFile), hmacSecret: await read(policy.auth.hmacSecretEnv, policy.auth.hmacSecretFile) };
}

function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function authenticated(secrets: WebhookSecrets, headers: Record<string, string | string[] | undefined>, body: Buffer): boolean {
  const auth = headers.authorization;
  if (secrets.bearerToken && typeof auth === 'string' && auth.startsWith('Bearer ') && sameSecret(auth.slice(7), secrets.bearerToken)) return true;
  const sig = headers['x-dm-switch-signature'];
  if (secrets.hmacSecret && typeof sig === 'string') {
    const want = `sha256=${createHmac('sha256', secrets.hmacSecret).update(body).digest('hex')}`;
    if (sameSecret(sig, want)) return true;
  }
  return false;
}

export function createWebhook(opts: { client: Client; policy: Policy; secrets: WebhookSecrets; logger?: boolean }): FastifyInstance {
  const app = Fastify({ logger: opts.logger ?? false, bodyLimit: 1 << 20 });
  // the raw body is needed for the HMAC; JSON is parsed after authentication
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.get('/healthz', async () => ({ ok: true }));

  app.post('/alerts', async (req, reply) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (!authenticated(opts.secrets, req.headers, body)) {
      return reply
        .code(401)
        .header('www-authenticate', 'Bearer realm="dm-switch"')
        .send({ error: 'unauthenticated: send Authorization: Bearer <token> or X-Dm-Switch-Signature: sha256=<HMAC of the body>; nothing was started' });
    }
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch (e) {
      return reply.code(400).send({ error: `the body is not JSON: ${(e as Error).message}` });
    }
    const p = PayloadSchema.safeParse(json);
    if (!p.success) {
      return reply.code(400).send({ error: `not an Alertmanager webhook payload: ${p.error.issues.map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`).join('; ')}` });
    }
    const results: AlertResult[] = [];
    for (const alert of p.data.alerts) results.push(await handle(opts, alert));
    return reply.code(200).send({ results });
  });
  return app;
}

async function handle(opts: { client: Client; policy: Policy }, alert: z.infer<typeof AlertSchema>): Promise<AlertResult> {
  const { fingerprint } = alert;
  if (alert.status === 'resolved') return { fingerprint, action: 'ignored', reason: 'resolved alerts start nothing' };
  const rule = matchRule(opts.policy, alert.labels);
  if (!rule) return { fingerprint, action: 'ignored', reason: 'no policy rule matches its labels' };
  const request = {
    ...rule.switch,
    approvals: { ...((rule.switch.approvals as object | undefined) ?? {}), gates: rule.gates },
    requestedBy: `alertmanager: ${alert.labels.alertname ?? 'alert'} (${fingerprint})`,
    reason: alert.annotations.summary ?? alert.annotations.description ?? `alert ${alert.labels.alertname ?? fingerprint} fired at ${alert.startsAt}`,
  } as Record<string, unknown>;
  const workflowId = switchWorkflowId(String(request.dmCluster ?? 'default'), String(request.sourceId));
  const identity = `${fingerprint}@${alert.startsAt}`;
  const handle = opts.client.workflow.getHandle(workflowId);
  try {
    const d = await handle.describe();
    if (d.status.name === 'RUNNING') return { fingerprint, action: 'already-running', workflowId, rule: rule.name };
    if ((await d.memo)?.alert === identity) return { fingerprint, action: 'duplicate', workflowId, rule: rule.name };
  } catch (e) {
    if (!(e instanceof WorkflowNotFoundError)) throw e;
  }
  try {
    await startSwitch(opts.client, rule.kind, request, { taskQueue: opts.policy.taskQueue, memo: { alert: identity, alertname: alert.labels.alertname ?? '', rule: rule.name } });
    return { fingerprint, action: 'started', workflowId, rule: rule.name };
  } catch (e) {
    if (e instanceof SwitchRequestError && e.code === 'already-running') return { fingerprint, action: 'already-running', workflowId, rule: rule.name };
    if (e instanceof SwitchRequestError) return { fingerprint, action: 'refused', reason: e.message, rule: rule.name };
    throw e;
  }
}
