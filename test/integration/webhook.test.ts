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
import { randomBytes } from 'node:crypto';
import { vi } from 'vitest';
import { createWebhook, loadSecrets, signRequest } from '../../client/webhook.js';
import { execa } from 'execa';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VipSwitchRequest } from '../../common/switch/input.js';
import { startTemporal, type TemporalDevServer } from '../sandbox/temporal.js';

const POLICY = `
taskQueue: nobody-polls-webhook
auth: { bearerTokenEnv: WH_TOKEN, hmacSecretEnv: WH_SECRET }
rules:
  - name: replica-01-down
    match: { alertname: MySQLReplicaDown, dm_source: wh-source }
    kind: vip
    gates: [before-freeze, before-switch, before-resume]
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
const payload = (alerts: unknown[]) => ({
  version: '4',
  groupKey: '{}:{alertname="MySQLReplicaDown"}',
  truncatedAlerts: 0,
  status: 'firing',
  receiver: 'dm-switch',
  groupLabels: {},
  commonLabels: {},
  commonAnnotations: {},
  externalURL: 'http://alertmanager.invalid',
  alerts,
});
const post = (body: string, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', body, headers: { 'content-type': 'application/json', ...headers } });
const bearer = { authorization: `Bearer ${TOKEN}` };
/** Headers of a request signed now with a fresh nonce (or the given ones). */
const signed = (body: string, at = Math.floor(Date.now() / 1000), nonce = randomBytes(16).toString('hex')) => ({
  'x-dm-switch-timestamp': String(at),
  'x-dm-switch-nonce': nonce,
  'x-dm-switch-signature': signRequest(SECRET, String(at), nonce, body),
});
const results = async (r: Response) =>
  ((await r.json()) as { results: Array<{ action: string; workflowId?: string; reason?: string }> }).results;
const WID = 'dm-switch/default/wh-source';
const exists = async () =>
  client.workflow
    .getHandle(WID)
    .describe()
    .then(
      () => true,
      () => false,
    );

describe('alert webhook', () => {
  it('given no or wrong credentials, should answer 401 and start nothing', async () => {
    const body = JSON.stringify(payload([alert()]));
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer wrong' },
      { 'x-dm-switch-signature': 'sha256=00' },
      { authorization: `Basic ${TOKEN}` },
    ];
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
    expect(((await v3.json()) as { error: string }).error).toMatch(
      /version: only Alertmanager webhook payload version "4"/,
    );
    const noFingerprint = await post(JSON.stringify(payload([{ ...alert(), fingerprint: undefined }])), bearer);
    expect(noFingerprint.status).toBe(400);
    expect(((await noFingerprint.json()) as { error: string }).error).toMatch(/alerts\.0\.fingerprint/);
    expect(await exists()).toBe(false);
  });

  it('given resolved or unmatched alerts, should start nothing', async () => {
    const r = await post(
      JSON.stringify(payload([alert({ status: 'resolved' }), alert({ labels: { alertname: 'DiskFull' } })])),
      bearer,
    );
    expect(r.status).toBe(200);
    expect((await results(r)).map((x) => x.action)).toEqual(['ignored', 'ignored']);
    expect(await exists()).toBe(false);
  });

  it("given a firing alert, should start the policy's switch once, however often it is delivered", async () => {
    const body = JSON.stringify(payload([alert()]));
    // concurrent deliveries, bearer and HMAC-signed: exactly one starts the switch
    const all = await Promise.all([
      post(body, bearer),
      post(body, signed(body)),
      post(body, bearer),
      post(body, signed(body)),
    ]);
    expect(all.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const actions = (await Promise.all(all.map(results))).flat().map((x) => x.action);
    expect(actions.filter((a) => a === 'started')).toHaveLength(1);
    expect(actions.filter((a) => a === 'already-running' || a === 'duplicate')).toHaveLength(3);

    const handle = client.workflow.getHandle(WID);
    const d = await handle.describe();
    expect(d.status.name).toBe('RUNNING');
    expect(d.taskQueue).toBe('nobody-polls-webhook');
    // no worker polls its queue, yet it is findable by source: the search attributes are set at start
    expect(d.searchAttributes).toMatchObject({
      DmSwitchSource: ['wh-source'],
      DmSwitchCluster: ['default'],
      DmSwitchKind: ['vip-switch'],
    });
    expect(await d.memo).toMatchObject({ alert: 'f00dfeed01@2026-11-22T10:00:00Z', rule: 'replica-01-down' });
    const { events } = await handle.fetchHistory();
    const input = client.options.loadedDataConverter.payloadConverter.fromPayload(
      events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!,
    ) as VipSwitchRequest;
    expect(input.approvals?.gates).toEqual(['before-freeze', 'before-switch', 'before-resume']);
    expect(input.requestedBy).toBe('alertmanager: MySQLReplicaDown (f00dfeed01)');
    expect(input.reason).toBe('replica 01 is down');

    // the switch ends; the same alert re-delivered later is recognised, a new firing starts a new switch
    await handle.terminate('test: the switch ended');
    const redelivered = await results(await post(body, bearer));
    expect(redelivered).toEqual([expect.objectContaining({ action: 'duplicate', workflowId: WID })]);
    const again = await results(
      await post(JSON.stringify(payload([alert({ startsAt: '2026-11-22T12:00:00Z' })])), bearer),
    );
    expect(again).toEqual([expect.objectContaining({ action: 'started', workflowId: WID })]);
    await handle.terminate('test done');
  });
});

describe('webhook hardening', () => {
  it('given a signed request replayed, signed long ago, or signed over the body only, should refuse it', async () => {
    const body = JSON.stringify(payload([alert({ status: 'resolved' })]));
    const once = signed(body);
    expect((await post(body, once)).status).toBe(200);
    // the very same request again (a captured one): its nonce is used up
    expect((await post(body, once)).status).toBe(401);
    // a correct signature, 10 minutes old
    expect((await post(body, signed(body, Math.floor(Date.now() / 1000) - 600))).status).toBe(401);
    // the scheme without timestamp and nonce
    expect(
      (
        await post(body, {
          'x-dm-switch-signature': `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`,
        })
      ).status,
    ).toBe(401);
    // another body under a captured, still fresh signature
    expect((await post(JSON.stringify(payload([alert()])), signed(body))).status).toBe(401);
  });

  it('given a rule whose switch request names gates (as copied from a CLI switch file) and rule gates, should wait at both, and start a switch whose alert summary is longer than the input allows', async () => {
    const policy = parsePolicy(
      POLICY.replace('gates: [before-freeze, before-switch, before-resume]', 'gates: [before-resume]').replace(
        'vip: { address: 198.51.100.14 }',
        'vip: { address: 198.51.100.14 }\n      approvals: { gates: [before-freeze] }',
      ),
    );
    const hook = createWebhook({ client, policy, secrets: { bearerToken: TOKEN } });
    const u = `${await hook.listen({ host: '127.0.0.1', port: 0 })}/alerts`;
    try {
      const summary = `replica 01 is down: ${'x'.repeat(3000)}`;
      const r = await fetch(u, {
        method: 'POST',
        body: JSON.stringify(payload([alert({ fingerprint: 'gates01', annotations: { summary } })])),
        headers: { 'content-type': 'application/json', ...bearer },
      });
      expect(r.status).toBe(200);
      expect(await results(r)).toEqual([expect.objectContaining({ action: 'started' })]);
      const { events } = await client.workflow.getHandle(WID).fetchHistory();
      const input = client.options.loadedDataConverter.payloadConverter.fromPayload(
        events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!,
      ) as VipSwitchRequest;
      expect(input.approvals?.gates).toEqual(['before-freeze', 'before-resume']);
      expect(input.reason).toHaveLength(2000);
      expect(input.reason!.startsWith('replica 01 is down: xxx')).toBe(true);
    } finally {
      await hook.close();
      await client.workflow
        .getHandle(WID)
        .terminate('test done')
        .catch(() => undefined);
    }
  });

  it('given an alert our side refuses to start, should answer 422, not 200', async () => {
    // a policy object that parsePolicy would refuse: its rule's switch lacks newInstance
    const policy = parsePolicy(POLICY);
    const broken = {
      ...policy,
      rules: [{ ...policy.rules[0]!, switch: { sourceId: 'wh-source', vip: { address: '198.51.100.14' } } }],
    };
    const hook = createWebhook({ client, policy: broken, secrets: { bearerToken: TOKEN } });
    const u = `${await hook.listen({ host: '127.0.0.1', port: 0 })}/alerts`;
    const starts = vi.spyOn(client.workflow, 'start');
    try {
      const r = await fetch(u, {
        method: 'POST',
        body: JSON.stringify(payload([alert({ fingerprint: 'refused01' })])),
        headers: { 'content-type': 'application/json', ...bearer },
      });
      expect(r.status).toBe(422);
      expect(await results(r)).toEqual([
        expect.objectContaining({ action: 'refused', reason: expect.stringMatching(/newInstance: required/) }),
      ]);
      expect(starts).not.toHaveBeenCalled();
    } finally {
      starts.mockRestore();
      await hook.close();
    }
  });

  it('given a flood of requests and of repeats of one alert, should bound what reaches Temporal', async () => {
    const policy = parsePolicy(`${POLICY}
limits: { maxConcurrent: 1, repeatWindowSeconds: 60 }
`);
    const hook = createWebhook({ client, policy, secrets: { bearerToken: TOKEN } });
    const u = `${await hook.listen({ host: '127.0.0.1', port: 0 })}/alerts`;
    const send = (alerts: unknown[]) =>
      fetch(u, {
        method: 'POST',
        body: JSON.stringify(payload(alerts)),
        headers: { 'content-type': 'application/json', ...bearer },
      });
    const starts = vi.spyOn(client.workflow, 'start');
    const handles = vi.spyOn(client.workflow, 'getHandle');
    try {
      // 10 requests at once, 5 alerts each: one is handled at a time, the others are told to come back
      const flood = await Promise.all(
        Array.from({ length: 10 }, (_, i) =>
          send(
            Array.from({ length: 5 }, (_, j) =>
              alert({ fingerprint: `flood${i}${j}`, startsAt: `2026-11-22T1${j}:00:00Z` }),
            ),
          ),
        ),
      );
      const codes = flood.map((r) => r.status);
      expect(codes.filter((c) => c === 503).length).toBeGreaterThan(0);
      expect(codes.every((c) => c === 200 || c === 503)).toBe(true);
      expect(flood.find((r) => r.status === 503)!.headers.get('retry-after')).toBe('5');
      expect(starts.mock.calls.length).toBe(1);
      // one alert delivered 30 times in a row: one Temporal look-up, the rest answered from memory
      handles.mockClear();
      for (let i = 0; i < 30; i++) expect((await send([alert({ fingerprint: 'repeat01' })])).status).toBe(200);
      expect(handles.mock.calls.length).toBe(1);
    } finally {
      starts.mockRestore();
      handles.mockRestore();
      await hook.close();
      await client.workflow
        .getHandle(WID)
        .terminate('test done')
        .catch(() => undefined);
    }
  });
});

describe('webhook limits on what alerts can start', () => {
  it('given more starts of one rule than its hourly budget, or a payload of too many alerts, should refuse with a clear answer and start nothing more', async () => {
    const policy = parsePolicy(`
taskQueue: nobody-polls-webhook
auth: { bearerTokenEnv: WH_TOKEN }
rules:
  - name: any-source-down
    match: { alertname: MySQLInstanceDown }
    require: [dm_source]
    kind: vip
    gates: [before-freeze]
    switch:
      sourceId: "{{ labels.dm_source }}"
      newInstance: { host: 198.51.100.12, credentials: upstream }
      vip: { address: 198.51.100.14 }
limits: { startsPerRulePerHour: 2, maxAlertsPerPayload: 3 }
`);
    const hook = createWebhook({ client, policy, secrets: { bearerToken: TOKEN } });
    const u = `${await hook.listen({ host: '127.0.0.1', port: 0 })}/alerts`;
    const down = (n: number) =>
      alert({ fingerprint: `budget${n}`, labels: { alertname: 'MySQLInstanceDown', dm_source: `budget-source-${n}` } });
    const send = (alerts: unknown[]) =>
      fetch(u, {
        method: 'POST',
        body: JSON.stringify(payload(alerts)),
        headers: { 'content-type': 'application/json', ...bearer },
      });
    const starts = vi.spyOn(client.workflow, 'start');
    try {
      const tooMany = await send([down(1), down(2), down(3), down(4)]);
      expect(tooMany.status).toBe(413);
      expect(((await tooMany.json()) as { error: string }).error).toMatch(
        /carries 4 alerts, more than limits\.maxAlertsPerPayload \(3\); nothing was started/,
      );
      expect(starts).not.toHaveBeenCalled();

      const r = await send([down(1), down(2), down(3)]);
      expect(r.status).toBe(429);
      const [a, b, c] = await results(r);
      expect([a!.action, b!.action, c!.action]).toEqual(['started', 'started', 'rate-limited']);
      expect(c!.reason).toMatch(
        /rule any-source-down started 2 switches within the last hour \(limits\.startsPerRulePerHour is 2\); nothing was started/,
      );
      expect(starts).toHaveBeenCalledTimes(2);
      // a repeat of the refused alert is refused again, not taken for a duplicate
      expect((await results(await send([down(3)])))[0]!.action).toBe('rate-limited');
      expect(starts).toHaveBeenCalledTimes(2);
    } finally {
      starts.mockRestore();
      await hook.close();
      for (const n of [1, 2])
        await client.workflow
          .getHandle(`dm-switch/default/budget-source-${n}`)
          .terminate('test done')
          .catch(() => undefined);
    }
  });
});

describe('templated webhook rule', () => {
  it('given alerts of two sources and one whose label makes an invalid sourceId, should start each source its switch from one rule, and refuse the third with the reason', async () => {
    const policy = parsePolicy(`
taskQueue: nobody-polls-webhook
auth: { bearerTokenEnv: WH_TOKEN }
rules:
  - name: instance-down-any-source
    match: { alertname: MySQLInstanceDown }
    require: [dm_source]
    kind: vip
    gates: [before-freeze]
    switch:
      sourceId: "{{ labels.dm_source }}"
      newInstance: { host: 198.51.100.12, credentials: upstream }
      oldInstance: { host: "{{ labels.instance | host }}", port: "{{ labels.instance | port }}", credentials: upstream }
      vip: { address: 198.51.100.14 }
`);
    const hook = createWebhook({ client, policy, secrets: { bearerToken: TOKEN } });
    const u = `${await hook.listen({ host: '127.0.0.1', port: 0 })}/alerts`;
    const down = (fingerprint: string, source: string, instance: string) =>
      alert({ fingerprint, labels: { alertname: 'MySQLInstanceDown', dm_source: source, instance } });
    const starts = vi.spyOn(client.workflow, 'start');
    const ids = ['dm-switch/default/tpl-source-a', 'dm-switch/default/tpl-source-b'];
    try {
      const body = JSON.stringify(
        payload([
          down('tpl01', 'tpl-source-a', 'db-a.example:3306'),
          down('tpl02', 'bad source', 'db-x.example:3306'),
          down('tpl03', 'tpl-source-b', '[2001:db8::b]:3307'),
        ]),
      );
      const r = await fetch(u, { method: 'POST', body, headers: { 'content-type': 'application/json', ...bearer } });
      // one refused alert makes the answer 422; the others still started
      expect(r.status).toBe(422);
      const [a, bad, b] = await results(r);
      expect(a).toMatchObject({ action: 'started', workflowId: ids[0] });
      expect(b).toMatchObject({ action: 'started', workflowId: ids[1] });
      expect(bad).toMatchObject({ action: 'refused', rule: 'instance-down-any-source' });
      expect(bad!.reason).toMatch(
        /^rule instance-down-any-source makes no valid switch request from this alert, so nothing was started:\n {2}- switch\.sourceId: .*\(from \{\{ labels\.dm_source \}\}: label dm_source is "bad source"\)/,
      );
      expect(starts).toHaveBeenCalledTimes(2);
      const { events } = await client.workflow.getHandle(ids[1]!).fetchHistory();
      const input = client.options.loadedDataConverter.payloadConverter.fromPayload(
        events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!,
      ) as VipSwitchRequest;
      expect(input).toMatchObject({ sourceId: 'tpl-source-b', oldInstance: { host: '2001:db8::b', port: 3307 } });
    } finally {
      starts.mockRestore();
      await hook.close();
      for (const id of ids)
        await client.workflow
          .getHandle(id)
          .terminate('test done')
          .catch(() => undefined);
    }
  });
});

describe('drain rule', () => {
  it('given a maintenance alert for a host, should start one drain of that host waiting for its plan approval, and join it on repeats', async () => {
    const policy = parsePolicy(`
taskQueue: nobody-polls-webhook
auth: { bearerTokenEnv: WH_TOKEN }
rules:
  - name: drain-for-maintenance
    match: { alertname: MySQLHostMaintenance }
    require: [instance]
    kind: drain
    gates: [before-switch]
    switch:
      host: "{{ labels.instance | host }}"
      port: "{{ labels.instance | port }}"
      credentials: upstream
      taskCredentials: downstream
`);
    const hook = createWebhook({ client, policy, secrets: { bearerToken: TOKEN } });
    const u = `${await hook.listen({ host: '127.0.0.1', port: 0 })}/alerts`;
    const id = 'dm-switch-drain/db-maint.example:3307';
    try {
      const post = async (fingerprint: string, startsAt: string) =>
        fetch(u, {
          method: 'POST',
          body: JSON.stringify(
            payload([
              alert({
                fingerprint,
                startsAt,
                labels: { alertname: 'MySQLHostMaintenance', instance: 'db-maint.example:3307' },
              }),
            ]),
          ),
          headers: { 'content-type': 'application/json', ...bearer },
        });
      const r = await post('drain01', '2026-12-06T00:00:00Z');
      expect(r.status).toBe(200);
      expect((await results(r))[0]).toMatchObject({ action: 'started', workflowId: id, rule: 'drain-for-maintenance' });
      const { events } = await client.workflow.getHandle(id).fetchHistory();
      const started = events![0]!.workflowExecutionStartedEventAttributes!;
      expect(started.workflowType?.name).toBe('drainHost');
      const input = client.options.loadedDataConverter.payloadConverter.fromPayload(
        started.input!.payloads![0]!,
      ) as Record<string, unknown>;
      expect(input).toMatchObject({ host: 'db-maint.example', port: 3307, approve: true, credentials: 'upstream' });
      // another firing of the same host while the drain runs joins it
      const again = await post('drain02', '2026-12-06T00:05:00Z');
      expect((await results(again))[0]).toMatchObject({ action: 'already-running', workflowId: id });
    } finally {
      await hook.close();
      await client.workflow
        .getHandle(id)
        .terminate('test done')
        .catch(() => undefined);
    }
  });
});

describe('webhook over TLS', () => {
  it('given tls files in the policy, should serve HTTPS only, with that certificate', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dsw-tls-'));
    try {
      await execa('openssl', [
        'req',
        '-x509',
        '-newkey',
        'rsa:2048',
        '-nodes',
        '-keyout',
        join(dir, 'key.pem'),
        '-out',
        join(dir, 'cert.pem'),
        '-days',
        '1',
        '-subj',
        '/CN=127.0.0.1',
        '-addext',
        'subjectAltName=IP:127.0.0.1',
      ]);
      const policy = parsePolicy(
        `${POLICY}\ntls: { certFile: ${join(dir, 'cert.pem')}, keyFile: ${join(dir, 'key.pem')} }\n`,
      );
      process.env.WH_TOKEN = TOKEN;
      process.env.WH_SECRET = SECRET;
      const hook = createWebhook({ client, policy, secrets: await loadSecrets(policy) });
      const base = await hook.listen({ host: '127.0.0.1', port: 0 });
      try {
        expect(base.startsWith('https://')).toBe(true);
        const ca = await readFile(join(dir, 'cert.pem'));
        const answer = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = httpsRequest(`${base}/healthz`, { ca }, (res) => {
            let body = '';
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
          });
          req.on('error', reject);
          req.end();
        });
        expect(answer).toEqual({ status: 200, body: '{"ok":true}' });
        // plain HTTP to the TLS port gets no answer from the webhook
        await expect(fetch(`${base.replace('https://', 'http://')}/healthz`)).rejects.toThrow();
      } finally {
        await hook.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('webhook policy', () => {
  it('given a bad policy, should name every bad key', () => {
    expect(() => parsePolicy('rules: []\nauth: {}')).toThrow(PolicyError);
    expect(() => parsePolicy('rules: []\nauth: {}')).toThrow(
      /auth: set a bearer token or an HMAC secret[\s\S]*rules: give at least one rule/,
    );
    const badSwitch = POLICY.replace('vip: { address: 198.51.100.14 }', 'vip: { adress: 198.51.100.14 }');
    expect(() => parsePolicy(badSwitch)).toThrow(/rules\.0\.switch\.vip: unknown field\(s\) "adress"/);
    expect(() =>
      parsePolicy(
        POLICY.replace(
          'credentials: upstream }\n      oldInstance',
          'credentials: upstream, password: x }\n      oldInstance',
        ),
      ),
    ).toThrow(/password/);
  });
});
