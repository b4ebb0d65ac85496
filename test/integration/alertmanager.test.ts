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
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { createWebhook } from '../../client/webhook.js';
import { loadPolicy, matchRule, parsePolicy } from '../../client/policy.js';
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
/** What reached the webhook from Alertmanager: each notification's status, alert instances, and our answer (its code and one action per alert). */
const deliveries: Array<{
  status: string;
  instances: string[];
  code?: number;
  actions?: string[];
  authorized: boolean;
}> = [];

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
      {
        name: 'replica-a-down',
        match: { alertname: 'MySQLInstanceDown', instance: `${a.host}:${a.port}` },
        kind: 'address',
        gates: ['before-freeze'],
        switch: { sourceId: SOURCE, newInstance: ref(b), oldInstance: ref(a), taskCredentials: 'sandbox-root' },
      },
      // the other source's instance: a dry run, which changes nothing
      {
        name: 'replica-b-down',
        match: { alertname: 'MySQLInstanceDown', instance: `${b.host}:${b.port}` },
        kind: 'address',
        switch: {
          sourceId: OTHER,
          newInstance: ref(primary),
          oldInstance: ref(b),
          taskCredentials: 'sandbox-root',
          options: { dryRun: true },
        },
      },
    ],
  };
  webhook = createWebhook({ client, policy: parsePolicy(stringify(policy)), secrets: { bearerToken: TOKEN } });
  webhook.addHook('preHandler', async (req) => {
    const body = JSON.parse(String(req.body)) as { status: string; alerts: Array<{ labels: Record<string, string> }> };
    (req as unknown as { delivery: (typeof deliveries)[number] }).delivery = {
      status: body.status,
      instances: body.alerts.map((x) => x.labels.instance ?? ''),
      authorized: req.headers.authorization === `Bearer ${TOKEN}`,
    };
  });
  webhook.addHook('onSend', async (req, _reply, payload) => {
    const d = (req as unknown as { delivery?: (typeof deliveries)[number] }).delivery;
    if (d && typeof payload === 'string')
      d.actions = ((JSON.parse(payload) as { results?: Array<{ action: string }> }).results ?? []).map((r) => r.action);
    return payload;
  });
  webhook.addHook('onResponse', async (req, reply) => {
    const d = (req as unknown as { delivery?: (typeof deliveries)[number] }).delivery;
    if (d) deliveries.push({ ...d, code: reply.statusCode });
  });
  const hookUrl = `${await webhook.listen({ host: '127.0.0.1', port: 0 })}/alerts`;

  // the shipped route and receiver, made fast enough for a test and pointed at this webhook
  const shipped = parse(await readFile(join(deploy, 'alertmanager.yml'), 'utf8')) as {
    route: { routes: Array<Record<string, unknown>> };
    receivers: Array<{
      name: string;
      webhook_configs?: Array<{
        url: string;
        send_resolved?: boolean;
        http_config: { authorization: { credentials_file?: string } };
      }>;
    }>;
  };
  const route = shipped.route.routes.find((r) => r.receiver === 'dm-switch');
  const hook = shipped.receivers.find((r) => r.name === 'dm-switch')?.webhook_configs?.[0];
  if (!route || !hook?.http_config.authorization.credentials_file)
    throw new Error(
      'deploy/alertmanager.yml: no dm-switch route, or its receiver has no webhook with a credentials_file',
    );
  Object.assign(route, { group_wait: '1s', group_interval: '1s', repeat_interval: '2s' });
  hook.url = hookUrl;
  am = await startAlertmanager(async (dir) => {
    await writeFile(join(dir, 'token'), TOKEN, { mode: 0o600 });
    hook.http_config.authorization.credentials_file = join(dir, 'token');
    return stringify(shipped);
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
const of = (db: DbInstance, status: string) =>
  deliveries.filter((d) => d.status === status && d.instances.includes(`${db.host}:${db.port}`));
const until = async (what: string, ok: () => boolean | Promise<boolean>, timeoutMs = 60_000) => {
  const deadline = Date.now() + timeoutMs;
  while (!(await ok())) {
    if (Date.now() > deadline)
      throw new Error(`${what} within ${timeoutMs / 1000} s; deliveries: ${JSON.stringify(deliveries)}`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

describe('a real Alertmanager driving the webhook', { timeout: 300_000 }, () => {
  it('given the shipped route and rule files, should pass amtool and promtool, and broken copies should not', async () => {
    const amCheck = await execa('amtool', ['check-config', join(deploy, 'alertmanager.yml')], { reject: false });
    expect(amCheck.exitCode, amCheck.stdout + amCheck.stderr).toBe(0);
    const rules = await execa('promtool', ['check', 'rules', join(deploy, 'mysql-alerts.yml')], { reject: false });
    expect(rules.exitCode, rules.stdout + rules.stderr).toBe(0);
    const dir = await mkdtemp(join(tmpdir(), 'dsw-am-check-'));
    try {
      const brokenRoute = join(dir, 'alertmanager.yml');
      await writeFile(
        brokenRoute,
        (await readFile(join(deploy, 'alertmanager.yml'), 'utf8')).replace(
          'receiver: dm-switch',
          'receiver: no-such-receiver',
        ),
      );
      const bad = await execa('amtool', ['check-config', brokenRoute], { reject: false });
      expect(bad.exitCode).not.toBe(0);
      expect(bad.stdout + bad.stderr).toMatch(/no-such-receiver/);
      const brokenRule = join(dir, 'mysql-alerts.yml');
      await writeFile(
        brokenRule,
        (await readFile(join(deploy, 'mysql-alerts.yml'), 'utf8')).replace('mysql_up == 0', 'mysql_up == == 0'),
      );
      const badRule = await execa('promtool', ['check', 'rules', brokenRule], { reject: false });
      expect(badRule.exitCode).not.toBe(0);
      expect(badRule.stdout + badRule.stderr).toMatch(/MySQLInstanceDown|parse error/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('given mysqld_exporter reporting the instance deploy/webhook.yaml names down, should fire MySQLInstanceDown after 1 m, route it to dm-switch, and match the webhook rule', async () => {
    const instance = 'db-replica-01.example:3306';
    const labels = { alertname: 'MySQLInstanceDown', instance, job: 'mysql', severity: 'critical' };
    const dir = await mkdtemp(join(tmpdir(), 'dsw-am-rule-'));
    try {
      // promtool's unit test: down for 45 s is only pending, for 2 m it fires with these labels
      const unit = join(dir, 'mysql-alerts.test.yml');
      await writeFile(
        unit,
        stringify({
          rule_files: [join(deploy, 'mysql-alerts.yml')],
          evaluation_interval: '15s',
          tests: [
            {
              interval: '15s',
              input_series: [{ series: `mysql_up{instance="${instance}",job="mysql"}`, values: '1 0x8' }],
              alert_rule_test: [
                { eval_time: '45s', alertname: 'MySQLInstanceDown', exp_alerts: [] },
                {
                  eval_time: '2m',
                  alertname: 'MySQLInstanceDown',
                  exp_alerts: [
                    {
                      exp_labels: { instance, job: 'mysql', severity: 'critical' },
                      exp_annotations: {
                        summary: `MySQL ${instance} does not answer mysqld_exporter`,
                        description:
                          "If a DM source reads this instance, dm-switch's webhook may start its switch (deploy/webhook.yaml).",
                      },
                    },
                  ],
                },
              ],
            },
          ],
        }),
      );
      const unitRun = await execa('promtool', ['test', 'rules', unit], { reject: false });
      expect(unitRun.exitCode, unitRun.stdout + unitRun.stderr).toBe(0);
      // the alert with exactly these labels goes to the dm-switch receiver
      const routed = await execa(
        'amtool',
        [
          'config',
          'routes',
          'test',
          `--config.file=${join(deploy, 'alertmanager.yml')}`,
          ...Object.entries(labels).map(([k, v]) => `${k}=${v}`),
        ],
        { reject: false },
      );
      expect(routed.stdout.trim()).toBe('dm-switch');
      const other = await execa(
        'amtool',
        [
          'config',
          'routes',
          'test',
          `--config.file=${join(deploy, 'alertmanager.yml')}`,
          'alertname=DiskFull',
          `instance=${instance}`,
        ],
        { reject: false },
      );
      expect(other.stdout.trim()).toBe('default');
      // and the shipped webhook policy has a rule for it, which waits for a person
      const rule = matchRule(await loadPolicy(join(deploy, 'webhook.yaml')), labels);
      expect(rule?.name).toBe('replica-01-instance-down');
      expect(rule?.gates.length).toBeGreaterThan(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('given MySQLInstanceDown for the instance DM reads, should start one switch that waits for approval, however often Alertmanager repeats or resolves it; another source gets its own', async () => {
    const wid = switchWorkflowId('default', SOURCE);
    await am.post([down(a)]);
    await until('the first notification', () => of(a, 'firing').length >= 1);
    expect(of(a, 'firing')[0]).toMatchObject({ code: 200, authorized: true, actions: ['started'] });
    // the rule's gate: the switch waits before it freezes DM, nothing changed yet
    const handle = client.workflow.getHandle(wid);
    const waiting = await waitForStatus(handle, (s) => s.phase === 'awaiting-approval');
    expect(waiting.approvals.find((x) => x.state === 'pending')?.gate).toBe('before-freeze');
    expect(waiting.steps).toEqual([]);

    // Alertmanager repeats the notification (repeat_interval 2 s in the test): each joins the running switch, none starts one
    await until('three repeats', () => of(a, 'firing').length >= 4, 60_000);
    expect(of(a, 'firing').every((d) => d.code === 200 && d.authorized)).toBe(true);
    expect(
      of(a, 'firing')
        .slice(1)
        .map((d) => d.actions),
    ).toEqual(
      of(a, 'firing')
        .slice(1)
        .map(() => ['already-running']),
    );
    expect(await executions(wid)).toBe(1);

    // the other source's instance: its own switch (a dry run), once
    const other = switchWorkflowId('default', OTHER);
    await am.post([down(b)]);
    await until('the other source switch', async () => (await executions(other)) === 1);
    const otherStatus = await client.workflow
      .getHandle(other)
      .result()
      .then(() => client.workflow.getHandle(other).query(statusQuery));
    expect(otherStatus.outcome).toBe('dry-run');
    expect(of(b, 'firing')[0]).toMatchObject({ code: 200, authorized: true, actions: ['started'] });
    // its repeats after the dry run ended: recognised by the alert in the switch's memo, nothing new
    const sentB = of(b, 'firing').length;
    await until('repeats of the other alert', () => of(b, 'firing').length >= sentB + 2, 60_000);
    const repeatsB = of(b, 'firing')
      .slice(sentB)
      .map((d) => d.actions?.join());
    // (one answered while the dry run was still ending may say already-running; the later ones are after it)
    expect(
      repeatsB.every((x) => x === 'duplicate' || x === 'already-running'),
      String(repeatsB),
    ).toBe(true);
    expect(repeatsB.at(-1)).toBe('duplicate');
    expect(await executions(other)).toBe(1);

    // both resolved: the resolved notifications arrive (send_resolved) and start nothing
    const past = new Date(Date.now() - 1000).toISOString();
    await am.post([down(a, past), down(b, past)]);
    await until('the resolved notifications', () => of(a, 'resolved').length >= 1 && of(b, 'resolved').length >= 1);
    for (const d of [...of(a, 'resolved'), ...of(b, 'resolved')])
      expect(d).toMatchObject({ code: 200, authorized: true, actions: ['ignored'] });
    expect(await executions(wid)).toBe(1);
    expect(await executions(other)).toBe(1);
    expect((await handle.query(statusQuery)).phase).toBe('awaiting-approval');
    // Alertmanager saw every notification delivered
    expect(await am.counter('alertmanager_notifications_failed_total', 'integration="webhook"')).toBe(0);
    expect(await am.counter('alertmanager_notifications_total', 'integration="webhook"')).toBeGreaterThanOrEqual(
      deliveries.length,
    );

    // a person rejects the gate: the switch ends before any change, DM still reads A
    await handle.signal(rejectSignal, {
      gate: 'before-freeze',
      by: 'alertmanager-test',
      comment: 'the instance is fine',
    });
    await expect(handle.result()).rejects.toThrow();
    expect((await handle.query(statusQuery)).outcome).toBe('refused');
    expect((await sourceReads(dm, SOURCE))?.port).toBe(a.port);
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  });
});
