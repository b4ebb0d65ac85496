/**
 * Payload encryption end to end on a real Temporal dev server: a switch run
 * by an encrypting worker and client leaves only ciphertext on the server,
 * still completes, and the codec endpoint decodes it for those allowed.
 * The switch's activities are the scripted world (test/workflow): what is
 * under test is what reaches the server, not DM.
 */
import { switchWorkflowId } from '../../common/switch/ids.js';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { execa } from 'execa';
import { join } from 'node:path';
import { codecFromEnv, CodecConfigError, sealedDataConverter, sealedFailuresPath } from '../../client/codec.js';
import { checkCodecListen, createCodecServer } from '../../client/codec-server.js';
import type { SwitchStatus } from '../../common/switch/status.js';
import { workflowsPath } from '../../worker/workflows-path.js';
import { startTemporal, type TemporalDevServer } from '../sandbox/temporal.js';
import { fakeWorld, input } from '../workflow/scripted-world.js';

const KEY = randomBytes(32).toString('base64');
const codec = codecFromEnv({ DM_SWITCH_CODEC_KEY: KEY, DM_SWITCH_CODEC_KEY_ID: 'k1' })!;
let temporal: TemporalDevServer;
let bundle: WorkflowBundleWithSourceMap;
let sealed: Client;
let plain: Client;
let server: FastifyInstance;
let codecUrl: string;

beforeAll(async () => {
  [temporal, bundle] = await Promise.all([
    startTemporal(),
    bundleWorkflowCode({ workflowsPath, failureConverterPath: sealedFailuresPath }),
  ]);
  const connection = await Connection.connect({ address: temporal.address });
  sealed = new Client({ connection, dataConverter: sealedDataConverter(codec) });
  plain = new Client({ connection });
  server = createCodecServer({ codec, token: 'ui-token', corsOrigins: ['http://127.0.0.1:8233'] });
  codecUrl = await server.listen({ host: '127.0.0.1', port: 0 });
}, 120_000);
afterAll(async () => {
  await server?.close();
  await sealed?.connection.close();
  await temporal?.destroy();
});

describe('payload encryption', () => {
  let workflowId: string;

  it('given an encrypting worker and client, should switch while the server holds only ciphertext', async () => {
    const world = fakeWorld();
    const connection = await NativeConnection.connect({ address: temporal.address });
    const worker = await Worker.create({
      connection,
      taskQueue: 'codec-test',
      workflowBundle: bundle,
      activities: world.activities,
      dataConverter: sealedDataConverter(codec),
    });
    try {
      const status = await worker.runUntil(async () => {
        const h = await sealed.workflow.start('vipSwitch', {
          taskQueue: 'codec-test',
          workflowId: switchWorkflowId('default', 'src'),
          args: [input()],
        });
        workflowId = h.workflowId;
        return (await h.result()) as SwitchStatus;
      });
      expect(status.outcome).toBe('switched');
    } finally {
      await connection.close();
    }
    const { events } = await plain.workflow.getHandle(workflowId).fetchHistory();
    const payloads = (events ?? []).flatMap((e) => [
      ...(e.workflowExecutionStartedEventAttributes?.input?.payloads ?? []),
      ...(e.activityTaskScheduledEventAttributes?.input?.payloads ?? []),
      ...(e.activityTaskCompletedEventAttributes?.result?.payloads ?? []),
      ...(e.workflowExecutionCompletedEventAttributes?.result?.payloads ?? []),
    ]);
    expect(payloads.length).toBeGreaterThan(10);
    for (const p of payloads) {
      expect(Buffer.from(p.metadata!.encoding!).toString()).toBe('binary/encrypted');
      expect(Buffer.from(p.metadata!['encryption-key-id']!).toString()).toBe('k1');
      expect(Buffer.from(p.data!).toString('latin1')).not.toMatch(/new\.example|sourceId|gtid/);
    }
  });

  it('given the codec endpoint, should decode for an allowed caller only', async () => {
    const { events } = await plain.workflow.getHandle(workflowId).fetchHistory();
    const raw = events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    const body = JSON.stringify({
      payloads: [
        {
          metadata: Object.fromEntries(
            Object.entries(raw.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
          ),
          data: Buffer.from(raw.data!).toString('base64'),
        },
      ],
    });
    const denied = await fetch(`${codecUrl}/decode`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json' },
    });
    expect(denied.status).toBe(401);
    const ok = await fetch(`${codecUrl}/decode`, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', authorization: 'Bearer ui-token', 'x-namespace': 'default' },
    });
    expect(ok.status).toBe(200);
    const [decoded] = ((await ok.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> })
      .payloads;
    expect(Buffer.from(decoded!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
    expect(JSON.parse(Buffer.from(decoded!.data, 'base64').toString())).toMatchObject({
      sourceId: 'src',
      vip: { address: 'vip.example' },
    });

    const preflight = await fetch(`${codecUrl}/decode`, {
      method: 'OPTIONS',
      headers: { origin: 'http://127.0.0.1:8233', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:8233');
    const stranger = await fetch(`${codecUrl}/decode`, {
      method: 'OPTIONS',
      headers: { origin: 'http://elsewhere.invalid' },
    });
    expect(stranger.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('given another key, should refuse to decode rather than show garbage', async () => {
    const other = codecFromEnv({
      DM_SWITCH_CODEC_KEY: randomBytes(32).toString('base64'),
      DM_SWITCH_CODEC_KEY_ID: 'k2',
    })!;
    const { events } = await plain.workflow.getHandle(workflowId).fetchHistory();
    await expect(
      other.decode([events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!]),
    ).rejects.toThrow(/sealed with key "k1", which this process does not have/);
    // a rotated-out key is still accepted for decoding
    const rotated = codecFromEnv({
      DM_SWITCH_CODEC_KEY: randomBytes(32).toString('base64'),
      DM_SWITCH_CODEC_KEY_ID: 'k2',
      DM_SWITCH_CODEC_OLD_KEYS: `k1=${KEY}`,
    })!;
    const [p] = await rotated.decode([events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!]);
    expect(JSON.parse(Buffer.from(p!.data!).toString())).toMatchObject({ sourceId: 'src' });
  });

  it('given a failed switch whose failures carry a provider error, should keep no plaintext failure message or stack trace on the server', async () => {
    const world = fakeWorld({ resumeLeavesError: true, moveBackFails: true });
    const connection = await NativeConnection.connect({ address: temporal.address });
    const worker = await Worker.create({
      connection,
      taskQueue: 'codec-fail',
      workflowBundle: bundle,
      activities: world.activities,
      dataConverter: sealedDataConverter(codec),
    });
    let id = '';
    try {
      const failure = await worker.runUntil(async () => {
        const h = await sealed.workflow.start('vipSwitch', {
          taskQueue: 'codec-fail',
          workflowId: switchWorkflowId('default', 'src'),
          args: [input()],
        });
        id = h.workflowId;
        return h.result().then(
          () => null,
          (e: Error & { cause?: Error }) => e.cause,
        );
      });
      // the client that holds the key reads the real message
      expect(failure?.message).toMatch(/could not be undone/);
    } finally {
      await connection.close();
    }
    const history = await plain.workflow.getHandle(id).fetchHistory();
    const text = historyToJSON(history);
    const decodedBodies = (history.events ?? [])
      .flatMap((e) => [e.activityTaskFailedEventAttributes?.failure, e.workflowExecutionFailedEventAttributes?.failure])
      .filter(Boolean);
    expect(decodedBodies.length).toBeGreaterThan(0);
    for (const f of decodedBodies) {
      expect(f!.message).toBe('Encoded failure');
      expect(f!.stackTrace ?? '').toBe('');
    }
    for (const plaintext of [
      'old host unreachable',
      'scripted',
      'binlog checksum mismatch',
      'could not be undone',
      'at async',
      '.ts:',
    ])
      expect(text).not.toContain(plaintext);
  });

  it('given no token, should listen on loopback only', () => {
    for (const host of ['127.0.0.1', 'localhost', '::1', '[::1]'])
      expect(() => checkCodecListen(host, undefined)).not.toThrow();
    for (const host of ['0.0.0.0', '::', '198.51.100.7'])
      expect(() => checkCodecListen(host, undefined)).toThrow(
        /refusing to listen on .* without a token: anyone who reaches it could decrypt every switch's payloads/,
      );
    expect(() => checkCodecListen('0.0.0.0', 'a'.repeat(24))).not.toThrow();
    expect(() => checkCodecListen('0.0.0.0', 'short')).toThrow(/shorter than 16 characters/);
  });

  it('given the codec endpoint process asked to listen on all addresses without a token, should refuse to start', async () => {
    const r = await execa(
      process.execPath,
      ['--import', 'tsx', join(import.meta.dirname, '../../client/codec-server-main.ts')],
      {
        reject: false,
        timeout: 60_000,
        env: {
          ...process.env,
          DM_SWITCH_CODEC_KEY: KEY,
          DM_SWITCH_CODEC_LISTEN: '0.0.0.0:0',
          DM_SWITCH_CODEC_TOKEN: '',
        },
      },
    );
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/refusing to listen on 0\.0\.0\.0 without a token/);
  });

  it('given a bad key, should say how to make a good one', () => {
    expect(() => codecFromEnv({ DM_SWITCH_CODEC_KEY: 'c2hvcnQ=' })).toThrow(CodecConfigError);
    expect(() => codecFromEnv({ DM_SWITCH_CODEC_KEY: 'c2hvcnQ=' })).toThrow(
      /exactly 32 bytes \(got 5\); make one with: openssl rand -base64 32/,
    );
    expect(codecFromEnv({})).toBeUndefined();
  });
});
