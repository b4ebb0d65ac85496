/**
 * A real Alertmanager drives the alert webhook: alerts are posted to
 * Alertmanager's own API, and it notifies our /alerts (bearer token through
 * its http_config, from a credentials_file) with its own grouping, repeats
 * and resolved notifications. The switches run on the real stack (MySQL 9.7
 * on loopback, DM with two dm-workers and two sources, TiDB, the Temporal dev
 * server, the real worker). The shipped deploy/ files are checked with
 * amtool and promtool.
 */
import { Client } from '@temporalio/client';
import type { FastifyInstance } from 'fastify';
import { execa } from 'execa';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createWebhook } from '../../client/webhook.js';
import { parsePolicy } from '../../client/policy.js';
import { switchWorkflowId } from '../../common/switch/ids.js';
import { rejectSignal, statusQuery } from '../../common/switch/messages.js';
import { startAlertmanager, type Alertmanager } from '../sandbox/alertmanager.js';
import type { DbInstance } from '../sandbox/db.js';
import type { DmCluster } from '../sandbox/dm.js';
import { createSource } from '../sandbox/dm-setup.js';
import { startStack, type Stack } from '../sandbox/stack.js';
import { sourceReads, startInProcessWorker, taskState, waitForStatus } from '../sandbox/switch-harness.js';
import { waitCaughtUp, writeRows } from '../sandbox/topology.js';

const QUEUE = 'e2e-alertmanager';
const OTHER = 'mysql-replica-02';
const TOKEN = 'am-token-0123456789abcdef';
const deploy = join(import.meta.dirname, '../../deploy');
let stack: Stack;
let SOURCE: string;
let TASK: string;
let primary: DbInstance;
let a: DbInstance;
let b: DbInstance;
let dm: DmCluster;
let client: Client;
let stopWorker: (() => Promise<void>) | undefined;
let webhook: FastifyInstance;
let am: Alertmanager;
/** What reached the webhook from Alertmanager: each notification's status, alert instances and our answer. */
const deliveries: Array<{ status: string; instances: string[]; code?: number; authorized: boolean }> = [];

beforeAll(async () => {
  stack = await startStack({ temporal: true, mysql: { replicas: 2 }, dm: true, dmWorkers: 2 });
  [primary, a, b] = stack.topology!.all() as [DbInstance, DbInstance, DbInstance];
  dm = stack.dm!;
  SOURCE = stack.sourceId!;
  TASK = stack.taskName!;
  await writeRows(primary, 5);
  await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
  // a second source, on replica B (the first reads replica A): its own alert, its own switch
  await createSource(dm, OTHER, b);
  ({ client, stop: stopWorker } = await startInProcessWorker(stack.temporal!.address, stack.workerConfigYaml(QUEUE)));

  const ref = (db: DbInstance) => ({ host: db.host, port: db.port, credentials: 'sandbox-root' });
  const policy = {
    taskQueue: QUEUE,
    auth: { bearerTokenEnv: 'UNUSED_IN_THIS_TEST' },
    limits: { repeatWindowSeconds: 1 },
    rules: [
      // the instance DM reads dies: switch away from it, after a person approves
      { name: 'replica-a-down', match: { alertname: 'MySQLInstanceDown', instance: `${a.host}:${a.port}` }, kind: 'address', gates: ['before-freeze'], switch: { sourceId: SOURCE, newInstance: ref(b), oldInstance: ref(a), taskCredentials: 'sandbox-root' } },
      // the other source's instance: a dry run, which changes nothing
      { name: 'replica-b-down', match: { alertname: 'MySQLInstanceDown', instance: `${b.host}:${b.port}` }, kind: 'address', switch: { sourceId: OTHER, newInstance: ref(primary), oldInstance: ref(b), taskCredentials: 'sandbox-root', options: { dryRun: true } } },
    ],
  };
  webhook = createWebhook({ client, policy: parsePolicy(stringify(policy)), secrets: { bearerToken: TOKEN } });
  webhook.addHook('preHandler', async (req) => {
    const body = JSON.parse(String(req.body)) as { status: string; alerts: Array<{ labels: Record<string, string> }> };
    (req as unknown as { delivery: (typeof deliveries)[number] }).delivery = { status: body.status, instances: body.alerts.map((x) => x.labels.instance ?? ''), authorized: req.headers.authorization === `Bearer ${TOKEN}` };
  });
  webhook.addHook('onResponse', async (req, reply) => {
    const d = (req as unknown as { delivery?: (typeof deliveries)[number] }).delivery;
    if (d) deliveries.push({ ...d, code: reply.statusCode });
  });
  const hookUrl = `${await webhook.listen({ host: '127.0.0.1', port: 0 })}/alerts`;

  // the shipped route, made fast enough for a test and pointed at this webhook
  const shipped = (await readFile(join(deploy, 'alertmanager.yml'), 'utf8'))
    .replace('group_wait: 30s', 'group_wait: 1s')
    .replace('group_interval: 1m', 'group_interval: 1s')
    .replace('repeat_interval: 1h', 'repeat_interval: 2s')
    .replace('https://dm-switch-webhook.internal:9095/alerts', hookUrl);
  am = await startAlertmanager(async (dir) => {
    await writeFile(join(dir, 'token'), TOKEN, { mode: 0o600 });
    return shipped.replace('/etc/alertmanager/dm-switch-webhook-token', join(dir, 'token'));
  });
}, 300_000);

afterAll(async () => {
  await am?.stop();
  await webhook?.close();
  await stopWorker?.();
  await stack?.stop();
});

const executions = async (workflowId: string) => {
  const runs: string[] = [];
  for await (const w of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(w.runId);
  return runs.length;
};
const down = (db: DbInstance, endsAt?: string) => ({
  labels: { alertname: 'MySQLInstanceDown', instance: `${db.host}:${db.port}`, severity: 'critical' },
  annotations: { summary: `MySQL ${db.host}:${db.port} does not answer` },
  ...(endsAt ? { endsAt } : {}),
});
const of = (db: DbInstance, status: string) => deliveries.filter((d) => d.status === status && d.instances.includes(`${db.host}:${db.port}`));
const until = async (what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs / 1000} s; deliveries: ${JSON.stringify(deliveries)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

describe('a real Alertmanager driving the webhook', { timeout: 300_000 }, () => {
  it('given the shipped route and rule files, should pass amtool and promtool, and a broken copy should not', async () => {
    const amCheck = await execa('amtool', ['check-config', join(deploy, 'alertmanager.yml')], { reject: false });
    expect(amCheck.exitCode, amCheck.stdout + amCheck.stderr).toBe(0);
    const rules = await execa('promtool', ['check', 'rules', join(deploy, 'mysql-alerts.yml')], { reject: false });
    expect(rules.exitCode, rules.stdout + rules.stderr).toBe(0);
    const broken = join(am.dir, 'broken.yml');
    await writeFile(broken, (await readFile(join(deploy, 'alertmanager.yml'), 'utf8')).replace('receiver: dm-switch', 'receiver: no-such-receiver'));
    const bad = await execa('amtool', ['check-config', broken], { reject: false });
    expect(bad.exitCode).not.toBe(0);
    expect(bad.stdout + bad.stderr).toMatch(/no-such-receiver/);
  });

  it('given MySQLInstanceDown for the instance DM reads, should start one switch that waits for approval, however often Alertmanager repeats or resolves it; another source gets its own', async () => {
    const wid = switchWorkflowId('default', SOURCE);
    await am.post([down(a)]);
    await until('the first notification', () => of(a, 'firing').length >= 1);
    expect(of(a, 'firing')[0]).toMatchObject({ code: 200, authorized: true });
    // the rule's gate: the switch waits before it freezes DM, nothing changed yet
    const handle = client.workflow.getHandle(wid);
    const waiting = await waitForStatus(handle, (s) => s.phase === 'awaiting-approval');
    expect(waiting.approvals.find((x) => x.state === 'pending')?.gate).toBe('before-freeze');
    expect(waiting.steps).toEqual([]);

    // Alertmanager repeats the notification (repeat_interval 2 s in the test): each is answered, none starts a switch
    await until('three repeats', () => of(a, 'firing').length >= 4, 60_000);
    expect(of(a, 'firing').every((d) => d.code === 200 && d.authorized)).toBe(true);
    expect(await executions(wid)).toBe(1);

    // the other source's instance: its own switch (a dry run), once
    const other = switchWorkflowId('default', OTHER);
    await am.post([down(b)]);
    await until('the other source switch', async () => (await executions(other)) === 1);
    const otherStatus = await client.workflow.getHandle(other).result().then(() => client.workflow.getHandle(other).query(statusQuery));
    expect(otherStatus.outcome).toBe('dry-run');
    const sentB = of(b, 'firing').length;
    await until('repeats of the other alert', () => of(b, 'firing').length >= sentB + 2, 60_000);
    expect(await executions(other)).toBe(1);

    // both resolved: the resolved notifications arrive (send_resolved) and start nothing
    const past = new Date(Date.now() - 1000).toISOString();
    await am.post([down(a, past), down(b, past)]);
    await until('the resolved notifications', () => of(a, 'resolved').length >= 1 && of(b, 'resolved').length >= 1);
    expect([...of(a, 'resolved'), ...of(b, 'resolved')].every((d) => d.code === 200)).toBe(true);
    expect(await executions(wid)).toBe(1);
    expect(await executions(other)).toBe(1);
    expect((await handle.query(statusQuery)).phase).toBe('awaiting-approval');
    // Alertmanager saw every notification delivered
    expect(await am.counter('alertmanager_notifications_failed_total', 'integration="webhook"')).toBe(0);
    expect(await am.counter('alertmanager_notifications_total', 'integration="webhook"')).toBeGreaterThanOrEqual(deliveries.length);

    // a person rejects the gate: the switch ends before any change, DM still reads A
    await handle.signal(rejectSignal, { gate: 'before-freeze', by: 'alertmanager-test', comment: 'the instance is fine' });
    await expect(handle.result()).rejects.toThrow();
    expect((await handle.query(statusQuery)).outcome).toBe('refused');
    expect((await sourceReads(dm, SOURCE))?.port).toBe(a.port);
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  });
});
