/**
 * The notify activity (activities/notify.ts) against a real HTTP receiver on
 * loopback (test/sandbox/notify-receiver.ts), configured as the worker
 * configures it (worker/notifier.ts): the body in both formats, the bearer
 * header, and every way a POST fails, each a retryable failure that says why
 * and never shows the URL's (secret) path.
 */
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createNotifyActivities } from '../../activities/notify.js';
import type { NotifyEvent } from '../../common/switch/types.js';
import { parseWorkerConfig } from '../../worker/config.js';
import { notifierFromConfig } from '../../worker/notifier.js';
import { startNotifyReceiver, type NotifyReceiver } from '../sandbox/notify-receiver.js';

const about = {
  workflowId: 'dm-switch/default/mysql-replica-01',
  runId: '0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b',
  sourceId: 'mysql-replica-01',
  dmCluster: 'default',
  kind: 'vip-switch' as const,
  at: '2026-12-03T10:00:00.000Z',
};
const gate: NotifyEvent = {
  ...about,
  event: 'awaiting-approval',
  gate: 'before-switch',
  summary: 'move the VIP db-vip from db-a to db-b & check <GTIDs>.',
  decideBy: '2026-12-03T11:00:00.000Z',
};
const stuck: NotifyEvent = {
  ...about,
  kind: 'address-switch',
  event: 'needs-operator',
  outcome: 'needs-operator',
  message: 'switch failed (dmctl start-task failed) and could not be undone (keep source: failed)',
  operatorActions: [
    'decide where source mysql-replica-01 should read from',
    'dmctl --master-addr=<dm-master> start-task app.yaml',
  ],
};

let receiver: NotifyReceiver;
let dir: string;
beforeAll(async () => {
  receiver = await startNotifyReceiver();
  dir = await mkdtemp(join(tmpdir(), 'dm-switch-notify-'));
  await writeFile(join(dir, 'token'), 'tok-3f9a\n');
});
afterAll(async () => {
  await receiver?.close();
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  receiver.received.length = 0;
  receiver.answer = { status: 200, body: 'ok' };
});

const base = `dm:\n  clusters:\n    default: { masterAddr: "127.0.0.1:8261", dmctl: /usr/local/bin/dmctl }\n`;
/** The activity as a worker with this `notify:` (YAML flow mapping) builds it. */
const activity = (notify: string, env: NodeJS.ProcessEnv = {}) =>
  createNotifyActivities(notifierFromConfig(parseWorkerConfig(`${base}notify: ${notify}\n`).notify, env)).notifySend;
const send = (fn: ReturnType<typeof activity>, e: NotifyEvent) => new MockActivityEnvironment().run(fn, e);
async function failure(p: Promise<unknown>): Promise<ApplicationFailure> {
  const e = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(ApplicationFailure);
  return e as ApplicationFailure;
}

describe('notify activity', () => {
  it('given no notifier, should send nothing and say so', async () => {
    await expect(send(createNotifyActivities(null).notifySend, gate)).resolves.toEqual({
      sent: false,
      reason: 'no notifier configured',
    });
    expect(receiver.received).toEqual([]);
  });

  it('given a gate (format slack, the default), should POST the text Slack shows and the fields as its message metadata, with the bearer token', async () => {
    const fn = activity(`{ urlEnv: HOOK_URL, bearerTokenFile: ${JSON.stringify(join(dir, 'token'))} }`, {
      HOOK_URL: receiver.url,
    });
    await expect(send(fn, gate)).resolves.toEqual({ sent: true, status: 200 });
    expect(receiver.received).toHaveLength(1);
    const [r] = receiver.received;
    expect(r!.method).toBe('POST');
    expect(r!.path).toBe('/hooks/dm-switch');
    expect(r!.headers.authorization).toBe('Bearer tok-3f9a');
    expect(r!.headers['content-type']).toBe('application/json');
    const body = r!.body as { text: string; metadata: { event_type: string; event_payload: Record<string, string> } };
    expect(Object.keys(body).sort()).toEqual(['metadata', 'text']);
    // one paragraph: what, where, what to do, by when; Slack's markup characters escaped
    expect(body.text).toBe(
      'dm-switch: the VIP switch of source mysql-replica-01 (DM cluster default) waits for approval at gate before-switch, before: move the VIP db-vip from db-a to db-b &amp; check &lt;GTIDs&gt;. ' +
        'Replication of this source is frozen while it waits. Approve with `dm-switch approve dm-switch/default/mysql-replica-01 --gate before-switch`, ' +
        'or reject with `dm-switch reject dm-switch/default/mysql-replica-01 --gate before-switch --comment "&lt;why&gt;"`; a gate nobody decides by 2026-12-03T11:00:00.000Z rejects. ' +
        'Workflow dm-switch/default/mysql-replica-01 (run 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b); details: `dm-switch status dm-switch/default/mysql-replica-01`.',
    );
    expect(body.text).not.toContain('\n');
    expect(body.metadata).toEqual({
      event_type: 'dm_switch_awaiting_approval',
      event_payload: {
        ...about,
        event: 'awaiting-approval',
        gate: 'before-switch',
        summary: gate.event === 'awaiting-approval' ? gate.summary : '',
        decideBy: '2026-12-03T11:00:00.000Z',
        approveCommand: 'dm-switch approve dm-switch/default/mysql-replica-01 --gate before-switch',
        rejectCommand: 'dm-switch reject dm-switch/default/mysql-replica-01 --gate before-switch --comment "<why>"',
        statusCommand: 'dm-switch status dm-switch/default/mysql-replica-01',
      },
    });
  });

  it("given a drain's plan waiting (format json), should say which host, that nothing moved yet, and how to decide the plan", async () => {
    const fn = activity(`{ url: ${JSON.stringify(receiver.url)}, format: json }`);
    const plan: NotifyEvent = {
      workflowId: 'dm-switch-drain/db-a:3306',
      runId: about.runId,
      kind: 'drain',
      host: 'db-a:3306',
      at: about.at,
      event: 'awaiting-approval',
      gate: 'plan',
      summary: 'switch src1 to db-b:3306; switch src2 to db-c:3306.',
      decideBy: '2026-12-03T11:00:00.000Z',
    };
    await expect(send(fn, plan)).resolves.toEqual({ sent: true, status: 200 });
    const body = receiver.received[0]!.body as Record<string, unknown>;
    expect(body).toEqual({
      text: expect.any(String),
      ...plan,
      approveCommand: 'dm-switch approve dm-switch-drain/db-a:3306 --gate plan',
      rejectCommand: 'dm-switch reject dm-switch-drain/db-a:3306 --gate plan --comment "<why>"',
      statusCommand: 'dm-switch status dm-switch-drain/db-a:3306',
    });
    expect(body.text).toBe(
      'dm-switch: the drain of host db-a:3306 waits for approval of its plan: switch src1 to db-b:3306; switch src2 to db-c:3306. ' +
        'No source has been moved yet. Approve with `dm-switch approve dm-switch-drain/db-a:3306 --gate plan`, ' +
        'or reject with `dm-switch reject dm-switch-drain/db-a:3306 --gate plan --comment "<why>"`; a plan nobody decides by 2026-12-03T11:00:00.000Z is refused, and nothing changes. ' +
        'Workflow dm-switch-drain/db-a:3306 (run 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b); details: `dm-switch status dm-switch-drain/db-a:3306`.',
    );
  });

  it('given needs-operator (format json), should POST every field at the top level, operatorActions as a list, and no Authorization without a token', async () => {
    const fn = activity(`{ url: ${JSON.stringify(receiver.url)}, format: json }`);
    await expect(send(fn, stuck)).resolves.toEqual({ sent: true, status: 200 });
    const [r] = receiver.received;
    expect(r!.headers.authorization).toBeUndefined();
    const body = r!.body as Record<string, unknown>;
    expect(body).toEqual({
      text: expect.any(String),
      ...about,
      kind: 'address-switch',
      event: 'needs-operator',
      outcome: 'needs-operator',
      message: 'switch failed (dmctl start-task failed) and could not be undone (keep source: failed)',
      operatorActions: [
        'decide where source mysql-replica-01 should read from',
        'dmctl --master-addr=<dm-master> start-task app.yaml',
      ],
      statusCommand: 'dm-switch status dm-switch/default/mysql-replica-01',
    });
    expect(body.text).toBe(
      'dm-switch: the address switch of source mysql-replica-01 (DM cluster default) needs an operator: switch failed (dmctl start-task failed) and could not be undone (keep source: failed). ' +
        'Run by hand: (1) decide where source mysql-replica-01 should read from; (2) dmctl --master-addr=<dm-master> start-task app.yaml. ' +
        'Workflow dm-switch/default/mysql-replica-01 (run 0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b); details: `dm-switch status dm-switch/default/mysql-replica-01`.',
    );
  });

  it('given an answer other than 2xx, should fail retryably with the status and the first bytes of the answer, not the secret path', async () => {
    const fn = activity(`{ url: ${JSON.stringify(`${receiver.url}/T0/B0/s3cr3tpath`)} }`);
    receiver.answer = { status: 400, body: `invalid_payload ${'x'.repeat(20_000)}` };
    const e = await failure(send(fn, gate));
    expect(e.nonRetryable).toBe(false);
    expect(e.type).toBe('NotifyFailed');
    expect(e.message).toMatch(
      new RegExp(`^notifier http://127\\.0\\.0\\.1:\\d+/… answered HTTP 400 Bad Request: invalid_payload x+$`),
    );
    expect(e.message.length).toBeLessThan(700);
    expect(e.message).not.toContain('s3cr3tpath');
    receiver.answer = { status: 503, body: '' };
    expect((await failure(send(fn, gate))).message).toMatch(/answered HTTP 503 Service Unavailable: \(no body\)$/);
    receiver.answer = { status: 302, body: 'moved' };
    expect((await failure(send(fn, gate))).message).toMatch(
      /answered HTTP 302 Found \(redirects are not followed: give the URL it redirects to\): moved$/,
    );
  });

  it('given a receiver that does not answer in time, should give up after timeoutSeconds, retryably', async () => {
    const fn = activity(`{ url: ${JSON.stringify(receiver.url)}, timeoutSeconds: 1 }`);
    receiver.answer = { status: 200, body: 'late', delayMs: 5_000 };
    const started = Date.now();
    const e = await failure(send(fn, gate));
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(e.nonRetryable).toBe(false);
    expect(e.message).toMatch(/^notifier http:\/\/127\.0\.0\.1:\d+\/…: no answer within 1 s$/);
    expect(receiver.received).toHaveLength(1); // it got there; the answer did not come back
  });

  it('given nobody listening, should fail retryably saying why', async () => {
    const closed = await startNotifyReceiver();
    await closed.close();
    const e = await failure(send(activity(`{ url: ${JSON.stringify(closed.url)} }`), gate));
    expect(e.nonRetryable).toBe(false);
    expect(e.message).toMatch(/^notifier http:\/\/127\.0\.0\.1:\d+\/…: fetch failed \(connect ECONNREFUSED/);
  });

  it('given a token file that went away after start, should fail without retrying, naming the key and the file', async () => {
    await writeFile(join(dir, 'gone'), 'tok\n');
    const fn = activity(
      `{ url: ${JSON.stringify(receiver.url)}, bearerTokenFile: ${JSON.stringify(join(dir, 'gone'))} }`,
    );
    await rm(join(dir, 'gone'));
    const e = await failure(send(fn, gate));
    expect(e.nonRetryable).toBe(true);
    expect(e.message).toMatch(/^notify\.bearerTokenFile: cannot read .*gone: ENOENT/);
    expect(receiver.received).toEqual([]);
  });
});
