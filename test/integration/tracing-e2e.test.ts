/**
 * A switch as one trace, on real components: a real Jaeger (v1.75.0, built from source, all-in-one in memory)
 * on loopback, the real worker in this process exporting to it over OTLP/HTTP because the standard
 * OTEL_EXPORTER_OTLP_ENDPOINT names it, and the client the CLI uses (client/cli-support.ts connect) starting a
 * real VIP switch (MySQL 9.7 hosts in a VIP lab, DM, TiDB, Temporal) while the application writes. The
 * switch's trace is then read back through Jaeger's query API: one trace from the start of the switch to its
 * end, with the workflow, its activities, and inside them the dmctl calls and MySQL queries, carrying the
 * source, the instance and the outcome; no span twice (the worker replays the whole history for every
 * workflow task); and no attribute carrying the password of the credential the switch logged in with.
 */
import type { Client } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connect } from '../../client/cli-support.js';
import type { VipSwitchRequest } from '../../common/switch/input.js';
import { stopTracing } from '../../worker/tracing.js';
import type { DbInstance } from '../sandbox/db.js';
import { startJaeger, type Jaeger, type JaegerSpan, type JaegerTrace } from '../sandbox/jaeger.js';
import { startStack, type Stack } from '../sandbox/stack.js';
import { runSwitch, startInProcessWorker, writeUntil } from '../sandbox/switch-harness.js';
import { waitCaughtUp, writeRows } from '../sandbox/topology.js';

const QUEUE = 'e2e-tracing';
const SERVICE = `dm-switch-trace-${randomBytes(3).toString('hex')}`;
/** The password of the credential the switch logs in with: it must appear in no span. */
const PASSWORD = `trace-pw-${randomBytes(9).toString('hex')}`;
const PASSWORD_ENV = 'DSW_TRACE_TEST_PASSWORD';
const SET_ENV = {
  OTEL_SERVICE_NAME: SERVICE,
  [PASSWORD_ENV]: PASSWORD,
} as const;

let jaeger: Jaeger;
let stack: Stack;
let worker: Awaited<ReturnType<typeof startInProcessWorker>> | undefined;
let client: Client | undefined;
let primary: DbInstance;
let a: DbInstance;
let b: DbInstance;
const savedEnv: Record<string, string | undefined> = {};

beforeAll(async () => {
  jaeger = await startJaeger();
  stack = await startStack({ temporal: true, mysql: { replicas: 2 }, dm: true, vip: true });
  [primary, a, b] = stack.topology!.all() as [DbInstance, DbInstance, DbInstance];
  // a login with a password, on every instance (replicated from the primary)
  await primary.query(`CREATE USER 'tracer'@'%' IDENTIFIED BY '${PASSWORD}'`);
  await primary.query(`GRANT ALL ON *.* TO 'tracer'@'%' WITH GRANT OPTION`);
  await writeRows(primary, 10);
  await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
  const env = {
    ...SET_ENV,
    OTEL_EXPORTER_OTLP_ENDPOINT: jaeger.otlpEndpoint,
    TEMPORAL_ADDRESS: stack.temporal!.address,
  };
  for (const [k, v] of Object.entries(env)) {
    savedEnv[k] = process.env[k];
    process.env[k] = v;
  }
  const yaml = stack
    .workerConfigYaml(QUEUE)
    .replace(
      /^credentials:\n/m,
      'credentials:\n' +
        `  traced: { user: tracer, passwordEnv: ${PASSWORD_ENV}, allowPublicKeyRetrieval: true, ` +
        'hosts: [127.0.0.0/8, 198.51.100.0/24, localhost] }\n',
    );
  worker = await startInProcessWorker(stack.temporal!.address, yaml);
  // the client as the CLI makes it: with the tracing interceptor, since OTEL_EXPORTER_OTLP_ENDPOINT is set
  client = await connect();
}, 400_000);

afterAll(async () => {
  await client?.connection.close();
  await worker?.stop();
  await stopTracing();
  for (const [k, v] of Object.entries(savedEnv)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  await stack?.stop();
  await jaeger?.stop();
});

const tag = (s: JaegerSpan, key: string) => s.tags.find((t) => t.key === key)?.value;
const named = (t: JaegerTrace, re: RegExp) => t.spans.filter((s) => re.test(s.operationName));

/**
 * Whether a span is the run `runId`'s own work: the workflow's run, an activity it scheduled (the sink tags the
 * workflow's spans with its info, runId among it) or ran (run_id). Not a client's call about the run (describe,
 * query) nor its handling: those are in the trace of whoever asked.
 */
const ofRun = (s: JaegerSpan, runId: string) =>
  /^(RunWorkflow|StartActivity|RunActivity):/.test(s.operationName) &&
  (tag(s, 'run_id') === runId || tag(s, 'runId') === runId);

/** The trace(s) in which the run `runId` has spans, once its workflow span has arrived. */
async function traceOf(runId: string, timeoutMs = 60_000): Promise<JaegerTrace[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const traces = (await jaeger.traces(SERVICE)).filter((t) => t.spans.some((s) => ofRun(s, runId)));
    const done = traces.some((t) => named(t, /^RunWorkflow:vipSwitch$/).length > 0);
    if (done || Date.now() > deadline) return traces;
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

describe('a switch as one trace in Jaeger', { timeout: 400_000 }, () => {
  it('given a worker exporting to Jaeger, should show a VIP switch as one trace, with no secret', async () => {
    const lab = stack.vipLab!;
    const source = stack.sourceId!;
    const viaVip = (db: DbInstance) => ({ host: db.host, port: 3306, credentials: 'traced' });
    const req: VipSwitchRequest = {
      sourceId: source,
      newInstance: viaVip(b),
      oldInstance: viaVip(a),
      vip: { address: lab.vip },
      options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 120 },
    };
    const run = await runSwitch(client!, 'vipSwitch', QUEUE, req, (ended) =>
      writeUntil(ended, () => writeRows(primary, 1), 100),
    );
    expect(run.error).toBeUndefined();
    expect(run.status.outcome).toBe('switched');
    const runId = (await run.handle.describe()).runId;

    const traces = await traceOf(runId);
    for (const x of traces) {
      const mine = x.spans.filter((s) => ofRun(s, runId)).map((s) => s.operationName);
      console.log(`trace ${x.traceID}: ${x.spans.length} spans, of this run: ${mine.slice(0, 8).join(', ')}`);
    }
    // one trace for the whole switch
    expect(traces.map((t) => t.traceID)).toHaveLength(1);
    const t = traces[0]!;
    const ops = new Set(t.spans.map((s) => s.operationName));
    console.log(`trace ${t.traceID}: ${t.spans.length} spans: ${[...ops].sort().join(', ')}`);

    // the client's start is its root; the workflow and each activity it scheduled and ran are in it
    const [start] = named(t, /^StartWorkflow:vipSwitch$/);
    expect(start).toBeDefined();
    expect(start!.references).toEqual([]);
    const [wf] = named(t, /^RunWorkflow:vipSwitch$/);
    expect(wf).toBeDefined();
    expect(tag(wf!, 'dm_switch.source')).toBe(source);
    expect(tag(wf!, 'dm_switch.switch_outcome')).toBe('switched');
    // the run's identity from the workflow info, not its memo, search attributes or last failure
    expect(tag(wf!, 'workflowId')).toBe(run.handle.workflowId);
    expect(wf!.tags.map((x) => x.key)).not.toEqual(expect.arrayContaining(['searchAttributes']));
    expect(wf!.tags.map((x) => x.key)).not.toEqual(expect.arrayContaining(['memo']));
    for (const activity of ['dmPauseTasks', 'vipMove', 'dmResumeTasksSyncing'])
      expect(ops, `${activity} in the trace`).toContain(`RunActivity:${activity}`);
    const activities = named(t, /^RunActivity:/);
    expect(activities.length).toBeGreaterThan(5);
    for (const s of activities) expect(tag(s, 'dm_switch.outcome'), s.operationName).toBe('ok');
    expect(named(t, /^StartActivity:/).length).toBe(activities.length);

    // dmctl calls: the source, dm-master's address and the outcome
    const dmctl = named(t, /^dmctl /);
    expect(dmctl.map((s) => s.operationName)).toEqual(
      expect.arrayContaining(['dmctl pause-task', 'dmctl resume-task', 'dmctl query-status']),
    );
    for (const s of dmctl) {
      expect(tag(s, 'dm_switch.source'), s.operationName).toBe(source);
      expect(tag(s, 'dm_switch.instance')).toBe(stack.dm!.masterAddr);
      // verification asks DM for an early checkpoint flush, which DM refuses for a task without a validator (the
      // sandbox's): that span says so; every other call succeeded
      const expected = s.operationName === 'dmctl validation' ? 'failed' : 'ok';
      expect(tag(s, 'dm_switch.outcome'), s.operationName).toBe(expected);
    }
    expect(dmctl.map((s) => s.operationName)).toContain('dmctl validation');

    // MySQL logins and queries: on which instance (the VIP switch reads both, by the VIP's port), for which source
    const queries = named(t, /^mysql query$/);
    expect(queries.length).toBeGreaterThan(5);
    const instances = new Set(queries.map((s) => tag(s, 'dm_switch.instance')));
    expect(instances).toContain(`${a.host}:3306`);
    expect(instances).toContain(`${b.host}:3306`);
    for (const s of queries) {
      expect(tag(s, 'dm_switch.source')).toBe(source);
      expect(tag(s, 'dm_switch.outcome')).toMatch(/^(ok|error)$/);
      expect(String(tag(s, 'db.statement'))).not.toBe('');
    }
    expect(named(t, /^mysql connect$/).length).toBeGreaterThan(0);

    // each span once, in this trace, under a span of this trace
    const ids = t.spans.map((s) => s.spanID);
    expect(new Set(ids).size).toBe(ids.length);
    const parentsMissing = t.spans.flatMap((s) =>
      s.references.filter((r) => r.traceID !== t.traceID || !ids.includes(r.spanID)).map(() => s.operationName),
    );
    expect(parentsMissing).toEqual([]);

    // never the password, in any attribute of any span
    const everything = JSON.stringify(t);
    expect(everything).toContain(source);
    expect(everything).not.toContain(PASSWORD);
  });
});
