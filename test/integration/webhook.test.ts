/**
 * The alert webhook with real HTTP requests against the running receiver and
 * a real Temporal dev server. No worker polls the policy's task queue, so a
 * started switch stays running: that is what de-duplication must respect.
 */
import { Client, Connection } from '@temporalio/client';
import { createHmac } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePolicy, PolicyError } from '../../client/policy.js';
import { createWebhook } from '../../client/webhook.js';
import type { VipSwitchRequest } from '../../common/switch/input.js';
import { startTemporal, type TemporalDevServer } from '../sandbox/temporal.js';

const POLICY = `
taskQueue: nobody-polls-webhook
auth: { bearerTokenEnv: WH_TOKEN, hmacSecretEnv: WH_SECRET }
rules:
  - name: replica-01-down
    match: { alertname: MySQLReplicaDown, dm_source: wh-source }
    kind: vip
    gates: [before-switch, before-resume]
    switch:
      sourceId: wh-source
      newInstance: { host: 198.51.100.12, credentials: upstream }
      oldInstance: { host: 198.51.100.11, credentials: upstream }
      vip: { address: 198.51.100.14 }
`;
const TOKEN = 'test-token-0123456789';
const SECRET = 'test-hmac-secret';

let temporal: TemporalDevServer;
let client: Client;
let app: FastifyInstance;
let url: string;

beforeAll(async () => {
  temporal = await startTemporal();
  client = new Client({ connection: await Connection.connect({ address: temporal.address }) });
  app = createWebhook({ client, policy: parsePolicy(POLICY), secrets: { bearerToken: TOKEN, hmacSecret: SECRET } });
  url = `${await app.listen({ host: '127.0.0.1', port: 0 })}/alerts`;
}, 120_000);
afterAll(async () => {
  await app?.close();
  await client?.connection.close();
  await temporal?.destroy();
});

const alert = (over: Record<string, unknown> = {}) => ({
  status: 'firing',
  labels: { alertname: 'MySQLReplicaDown', dm_source: 'wh-source', severity: 'critical' },
  annotations: { summary: 'replica 01 is down' },
  startsAt: '2026-11-22T10:00:00Z',
  endsAt: '0001-01-01T00:00:00Z',
  generatorURL: 'http://alertmanager.invalid/graph',
  fingerprint: 'f00dfeed01',
  ...over,
});
const payload = (alerts: unknown[]) => ({ version: '4', groupKey: '{}:{alertname="MySQLReplicaDown"}', truncatedAlerts: 0, status: 'firing', receiver: 'dm-switch', groupLabels: {}, commonLabels: {}, commonAnnotations: {}, externalURL: 'http://alertmanager.invalid', alerts });
const post = (body: string, headers: Record<string, string> = {}) => fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
const bearer = { authorization: `Bearer ${TOKEN}` };
const results = async (r: Response) => ((await r.json()) as { results: Array<{ action: string; workflowId?: string; reason?: string }> }).results;
const WID = 'dm-switch/default/wh-source';
const exists = async () => client.workflow.getHandle(WID).describe().then(() => true, () => false);

describe('alert webhook', () => {
  it('given no or wrong credentials, should answer 401 and start nothing', async () => {
    const body = JSON.stringify(payload([alert()]));
    const attempts: Array<Record<string, string>> = [{}, { authorization: 'Bearer wrong' }, { 'x-dm-switch-signature': 'sha256=00' }, { authorization: `Basic ${TOKEN}` }];
    for (const headers of attempts) {
      const r = await post(body, headers);
      expect(r.status).toBe(401);
      expect(((await r.json()) as { error: string }).error).toMatch(/^unauthenticated: .*nothing was started/);
    }
    expect(await exists()).toBe(false);
  });

  it('given a malformed payload, should answer 400 with the reason', async () => {
    const notJson = await post('{"version": "4", ', bearer);
    expect(notJson.status).toBe(400);
    expect(((await notJson.json()) as { error: string }).error).toMatch(/^the body is not JSON/);
    const v3 = await post(JSON.stringify({ ...payload([alert()]), version: '3' }), bearer);
    expect(v3.status).toBe(400);
    expect(((await v3.json()) as { error: string }).error).toMatch(/version: only Alertmanager webhook payload version "4"/);
    const noFingerprint = await post(JSON.stringify(payload([{ ...alert(), fingerprint: undefined }])), bearer);
    expect(noFingerprint.status).toBe(400);
    expect(((await noFingerprint.json()) as { error: string }).error).toMatch(/alerts\.0\.fingerprint/);
    expect(await exists()).toBe(false);
  });

  it('given resolved or unmatched alerts, should start nothing', async () => {
    const r = await post(JSON.stringify(payload([alert({ status: 'resolved' }), alert({ labels: { alertname: 'DiskFull' } })])), bearer);
    expect(r.status).toBe(200);
    expect((await results(r)).map((x) => x.action)).toEqual(['ignored', 'ignored']);
    expect(await exists()).toBe(false);
  });

  it("given a firing alert, should start the policy's switch once, however often it is delivered", async () => {
    const body = JSON.stringify(payload([alert()]));
    // concurrent deliveries, bearer and HMAC-signed: exactly one starts the switch
    const signed = { 'x-dm-switch-signature': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}` };
    const all = await Promise.all([post(body, bearer), post(body, signed), post(body, bearer), post(body, signed)]);
    expect(all.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const actions = (await Promise.all(all.map(results))).flat().map((x) => x.action);
    expect(actions.filter((a) => a === 'started')).toHaveLength(1);
    expect(actions.filter((a) => a === 'already-running')).toHaveLength(3);

    const handle = client.workflow.getHandle(WID);
    const d = await handle.describe();
    expect(d.status.name).toBe('RUNNING');
    expect(d.taskQueue).toBe('nobody-polls-webhook');
    expect(await d.memo).toMatchObject({ alert: 'f00dfeed01@2026-11-22T10:00:00Z', rule: 'replica-01-down' });
    const { events } = await handle.fetchHistory();
    const input = client.options.loadedDataConverter.payloadConverter.fromPayload(events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!) as VipSwitchRequest;
    expect(input.approvals?.gates).toEqual(['before-switch', 'before-resume']);
    expect(input.requestedBy).toBe('alertmanager: MySQLReplicaDown (f00dfeed01)');
    expect(input.reason).toBe('replica 01 is down');

    // the switch ends; the same alert re-delivered later is recognised, a new firing starts a new switch
    await handle.terminate('test: the switch ended');
    const redelivered = await results(await post(body, bearer));
    expect(redelivered).toEqual([expect.objectContaining({ action: 'duplicate', workflowId: WID })]);
    const again = await results(await post(JSON.stringify(payload([alert({ startsAt: '2026-11-22T12:00:00Z' })])), bearer));
    expect(again).toEqual([expect.objectContaining({ action: 'started', workflowId: WID })]);
    await handle.terminate('test done');
  });
});

describe('webhook policy', () => {
  it('given a bad policy, should name every bad key', () => {
    expect(() => parsePolicy('rules: []\nauth: {}')).toThrow(PolicyError);
    expect(() => parsePolicy('rules: []\nauth: {}')).toThrow(/auth: set a bearer token or an HMAC secret[\s\S]*rules: give at least one rule/);
    const badSwitch = POLICY.replace('vip: { address: 198.51.100.14 }', 'vip: { adress: 198.51.100.14 }');
    expect(() => parsePolicy(badSwitch)).toThrow(/rules\.0\.switch\.vip: unknown field\(s\) "adress"/);
    expect(() => parsePolicy(POLICY.replace('credentials: upstream }\n      oldInstance', 'credentials: upstream, password: x }\n      oldInstance'))).toThrow(/password/);
  });
});
