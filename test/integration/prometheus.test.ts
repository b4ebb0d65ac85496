/**
 * A real Prometheus scrapes the real worker process (DM_SWITCH_METRICS_LISTEN)
 * while address switches run on the real stack (MySQL 9.7 on loopback, DM,
 * TiDB, the Temporal dev server), and evaluates the shipped alerting rules
 * (deploy/dm-switch-alerts.yml). Every figure is read back through
 * Prometheus's HTTP API, as a dashboard or an alert would read it.
 */
import { Client, Connection } from '@temporalio/client';
import { execa } from 'execa';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AddressSwitchRequest } from '../../common/switch/input.js';
import type { DrillInput } from '../../common/switch/readiness.js';
import { deleteReadiness, latestReadiness, scheduleReadiness, triggerReadiness } from '../../client/readiness.js';
import { approveSignal } from '../../common/switch/messages.js';
import type { DbInstance } from '../sandbox/db.js';
import type { DmCluster } from '../sandbox/dm.js';
import { expectOk } from '../sandbox/dm-setup.js';
import { freePort } from '../sandbox/ports.js';
import { startPrometheus, type Prometheus } from '../sandbox/prometheus.js';
import { startStack, type Stack } from '../sandbox/stack.js';
import {
  downstreamMatches,
  failureType,
  sourceReads,
  startSwitch,
  taskState,
  waitForStatus,
  writeUntil,
} from '../sandbox/switch-harness.js';
import type { TidbInstance } from '../sandbox/tidb.js';
import { waitCaughtUp, writeRows } from '../sandbox/topology.js';
import { startWorkerProcess, type WorkerProcess } from '../sandbox/worker-process.js';

const QUEUE = 'e2e-metrics';
const deploy = join(import.meta.dirname, '../../deploy');
let stack: Stack;
let SOURCE: string;
let TASK: string;
let primary: DbInstance;
let a: DbInstance;
let b: DbInstance;
let dm: DmCluster;
let tidb: TidbInstance;
let worker: WorkerProcess;
let client: Client;
let stopClient: (() => Promise<void>) | undefined;
let prom: Prometheus;
let rulesDir: string;

beforeAll(async () => {
  stack = await startStack({ temporal: true, mysql: { replicas: 2 }, dm: true });
  [primary, a, b] = stack.topology!.all() as [DbInstance, DbInstance, DbInstance];
  ({ dm, downstream: tidb } = stack as Required<Stack>);
  SOURCE = stack.sourceId!;
  TASK = stack.taskName!;
  await writeRows(primary, 5);
  await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
  const metricsPort = await freePort();
  worker = await startWorkerProcess({
    configYaml: stack.workerConfigYaml(QUEUE),
    temporalAddress: stack.temporal!.address,
    env: { DM_SWITCH_METRICS_LISTEN: `127.0.0.1:${metricsPort}`, DM_SWITCH_METRICS_INTERVAL_SECONDS: '0.5' },
  });
  // the shipped rules as they are, but "frozen longer than 10 minutes" made 3 s, which a test can wait for
  rulesDir = await mkdtemp(join(tmpdir(), 'dsw-rules-'));
  const shipped = await readFile(join(deploy, 'dm-switch-alerts.yml'), 'utf8');
  expect(shipped).toContain('(dm_switch_frozen_seconds) > 600');
  // and "not switchable for 1 h" made 1 s
  expect(shipped.match(/for: 1h/g)).toHaveLength(1);
  await writeFile(
    join(rulesDir, 'rules.yml'),
    shipped.replace('(dm_switch_frozen_seconds) > 600', '(dm_switch_frozen_seconds) > 3').replace('for: 1h', 'for: 1s'),
  );
  prom = await startPrometheus({ targets: [`127.0.0.1:${metricsPort}`], ruleFiles: [join(rulesDir, 'rules.yml')] });
  // a client only: the switches run in the worker process
  const connection = await Connection.connect({ address: stack.temporal!.address });
  client = new Client({ connection });
  stopClient = () => connection.close();
}, 300_000);

afterAll(async () => {
  await prom?.stop();
  await stopClient?.();
  await worker?.stop();
  await stack?.stop();
  if (rulesDir) await rm(rulesDir, { recursive: true, force: true });
});

const ref = (db: DbInstance) => ({ host: db.host, port: db.port, credentials: 'sandbox-root' });
const req = (to: DbInstance, from: DbInstance, extra: Partial<AddressSwitchRequest> = {}): AddressSwitchRequest => ({
  sourceId: SOURCE,
  newInstance: ref(to),
  oldInstance: ref(from),
  taskCredentials: 'sandbox-root',
  options: { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 },
  ...extra,
});
const reads = async () => (await sourceReads(dm, SOURCE))?.port;
const at = { source: '', dm_cluster: 'default' };

/** The single value of `expr`, once Prometheus has one (undefined: no sample); polls until `ok` holds. */
async function eventually(
  expr: string,
  ok: (v: number | undefined, all: number[]) => boolean,
  timeoutMs = 30_000,
): Promise<number | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last: number[] = [];
  for (;;) {
    last = (await prom.query(expr)).map((s) => s.value);
    if (ok(last[0], last)) return last[0];
    if (Date.now() > deadline)
      throw new Error(`prometheus: ${expr} is ${JSON.stringify(last)} after ${timeoutMs / 1000} s`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
const sel = (labels: Record<string, string>) =>
  `{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(',')}}`;

describe('a real Prometheus scraping the worker', { timeout: 300_000 }, () => {
  it('given the shipped alerting rules, should pass promtool check and the rules unit test, and fail a broken copy', async () => {
    const check = await execa('promtool', ['check', 'rules', join(deploy, 'dm-switch-alerts.yml')], { reject: false });
    expect(check.exitCode, check.stdout + check.stderr).toBe(0);
    const unit = await execa('promtool', ['test', 'rules', 'dm-switch-alerts.test.yml'], {
      cwd: deploy,
      reject: false,
    });
    expect(unit.exitCode, unit.stdout + unit.stderr).toBe(0);
    const broken = join(rulesDir, 'broken.yml');
    await writeFile(broken, (await readFile(join(deploy, 'dm-switch-alerts.yml'), 'utf8')).replace('== 1', '== == 1'));
    expect((await execa('promtool', ['check', 'rules', broken], { reject: false })).exitCode).not.toBe(0);
  });

  it('given a switch waiting at a gate inside the freeze, should show its phase, the gate, the time frozen and the alert, then its outcome, pause window and duration', async () => {
    at.source = SOURCE;
    // a refusal first: counted, and its duration recorded, under its own outcome
    const refused = await startSwitch(client, 'addressSwitch', QUEUE, req(primary, b));
    expect(failureType((await refused.end()).error)).toBe('PreflightFailed');
    await eventually(
      `dm_switch_finished_total${sel({ ...at, kind: 'address-switch', outcome: 'refused' })}`,
      (v) => v === 1,
    );
    await eventually(
      `dm_switch_duration_seconds_count${sel({ dm_cluster: 'default', kind: 'address-switch', outcome: 'refused' })}`,
      (v) => v === 1,
    );

    const started = Date.now();
    const run = await startSwitch(
      client,
      'addressSwitch',
      QUEUE,
      req(b, a, { approvals: { gates: ['before-switch'], timeoutSeconds: 600 } }),
    );
    const ended = run.end();
    const writes = writeUntil(ended, () => writeRows(primary, 1));
    const waiting = await waitForStatus(run.handle, (s) => s.phase === 'awaiting-approval');
    expect(waiting.frozenSince).toBeDefined();
    const gateOpened = Date.now();
    await eventually(
      `dm_switch_running${sel({ ...at, kind: 'address-switch', phase: 'awaiting-approval' })}`,
      (v) => v === 1,
    );
    await eventually(`dm_switch_awaiting_approval${sel({ ...at, gate: 'before-switch' })}`, (v) => v === 1);
    // DM stays frozen while the gate waits: the gauge grows, and past the (test's) 3 s the alert fires
    const frozen1 = await eventually(`dm_switch_frozen_seconds${sel(at)}`, (v) => v !== undefined && v > 1);
    const frozen2 = await eventually(`dm_switch_frozen_seconds${sel(at)}`, (v) => v !== undefined && v > frozen1! + 1);
    expect(frozen2).toBeLessThan((Date.now() - started) / 1000 + 2);
    await expect
      .poll(
        async () =>
          (await prom.alerts()).filter(
            (x) => x.labels.alertname === 'DmSwitchFrozenTooLong' && x.labels.source === SOURCE && x.state === 'firing',
          ).length,
        { timeout: 30_000, interval: 250 },
      )
      .toBe(1);
    const alert = (await prom.alerts()).find((x) => x.labels.alertname === 'DmSwitchFrozenTooLong')!;
    expect(alert.annotations.description).toContain(`dm-switch status dm-switch/default/${SOURCE}`);
    // nothing else runs: one running label set at 1, none for another phase
    expect((await prom.query(`dm_switch_running == 1`)).map((s) => s.metric.phase)).toEqual(['awaiting-approval']);
    await new Promise((r) => setTimeout(r, 1000));
    await run.handle.signal(approveSignal, { gate: 'before-switch', by: 'metrics-test' });
    const approvedAt = Date.now();
    const { status, error } = await ended;
    await writes;
    const total = (Date.now() - started) / 1000;
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(status.frozenSince).toBeUndefined();
    expect(await reads()).toBe(b.port);

    await eventually(
      `dm_switch_finished_total${sel({ ...at, kind: 'address-switch', outcome: 'switched' })}`,
      (v) => v === 1,
    );
    const duration = { dm_cluster: 'default', kind: 'address-switch', outcome: 'switched' };
    await eventually(`dm_switch_duration_seconds_count${sel(duration)}`, (v) => v === 1);
    const took = (await prom.query(`dm_switch_duration_seconds_sum${sel(duration)}`))[0]!.value;
    expect(took).toBeGreaterThan((approvedAt - gateOpened) / 1000);
    expect(took).toBeLessThanOrEqual(total + 1);
    // the pause window covers the gate's wait, is what the status says, and is inside the switch
    const pause = { dm_cluster: 'default', kind: 'address-switch' };
    await eventually(`dm_switch_pause_window_seconds_count${sel(pause)}`, (v) => v === 1);
    const window = (await prom.query(`dm_switch_pause_window_seconds_sum${sel(pause)}`))[0]!.value;
    expect(window).toBeCloseTo(status.frozenSeconds!, 3);
    expect(window).toBeGreaterThan((approvedAt - gateOpened) / 1000 - 1);
    expect(window).toBeLessThan(took);
    // a bucket boundary of the configured ones: the histogram is in seconds, not the SDK's default milliseconds
    const buckets = await prom.query(`dm_switch_pause_window_seconds_bucket${sel(pause)}`);
    expect(buckets.map((x) => x.metric.le)).toContain('0.5');
    expect(buckets.find((x) => x.metric.le === '3600')?.value).toBe(1);
    // and the current state is back to nothing running, nothing waiting, nothing frozen; the alert resolves
    await eventually(`dm_switch_running == 1`, (_v, all) => all.length === 0);
    await eventually(`dm_switch_awaiting_approval${sel({ ...at, gate: 'before-switch' })}`, (v) => v === 0);
    await eventually(`dm_switch_frozen_seconds${sel(at)}`, (v) => v === 0);
    await expect
      .poll(async () => (await prom.alerts()).filter((x) => x.labels.alertname === 'DmSwitchFrozenTooLong').length, {
        timeout: 30_000,
        interval: 250,
      })
      .toBe(0);
    expect(await eventually('dm_switch_metrics_collector_up', (v) => v === 1)).toBe(1);
    await downstreamMatches(primary, tidb);
  });

  it('given a switch that ends needs-operator, should say so per source and fire the alert until a later switch of that source', async () => {
    // half done by hand: task stopped, source removed; the task config given back is one DM refuses (as in the address e2e)
    const to = (await reads()) === a.port ? b : a;
    const from = to === a ? b : a;
    const cfg = expectOk('config task', await dm.ctl(['config', 'task', TASK])).cfg as string;
    expectOk('stop-task', await dm.ctl(['stop-task', '-s', SOURCE, TASK]));
    expectOk('operate-source stop', await dm.ctl(['operate-source', 'stop', SOURCE]));
    const run = await startSwitch(
      client,
      'addressSwitch',
      QUEUE,
      req(to, from, { taskConfigs: { [TASK]: cfg.replace('task-mode: incremental', 'task-mode: sometimes') } }),
    );
    const { status, error } = await run.end();
    expect(failureType(error)).toBe('CompensationFailed');
    expect(status.outcome).toBe('needs-operator');

    await eventually(
      `dm_switch_finished_total${sel({ ...at, kind: 'address-switch', outcome: 'needs-operator' })}`,
      (v) => v === 1,
    );
    await eventually(`dm_switch_needs_operator${sel(at)}`, (v) => v === 1);
    await expect
      .poll(
        async () =>
          (await prom.alerts()).filter(
            (x) => x.labels.alertname === 'DmSwitchNeedsOperator' && x.labels.source === SOURCE && x.state === 'firing',
          ).length,
        { timeout: 30_000, interval: 250 },
      )
      .toBe(1);

    // the operator finishes by hand with the saved configuration, then moves the source back with a switch: the alert ends
    const file = await dm.file(
      'operator-task.yaml',
      cfg.replace(/user: \S+\n(\s+)password: '\*+'/, "user: root\n$1password: ''"),
    );
    expectOk('start-task', await dm.ctl(['start-task', '-s', SOURCE, file]));
    await expect
      .poll(() => taskState(dm, SOURCE, TASK), { timeout: 60_000, interval: 500 })
      .toEqual({ stage: 'Running', unit: 'Sync' });
    const back = await startSwitch(client, 'addressSwitch', QUEUE, req(from, to));
    const ended = back.end();
    await writeUntil(ended, () => writeRows(primary, 1));
    const r = await ended;
    expect(r.error).toBeUndefined();
    expect(r.status.outcome).toBe('switched');
    await eventually(`dm_switch_needs_operator${sel(at)}`, (v) => v === 0);
    await expect
      .poll(async () => (await prom.alerts()).filter((x) => x.labels.alertname === 'DmSwitchNeedsOperator').length, {
        timeout: 30_000,
        interval: 250,
      })
      .toBe(0);
    await eventually(
      `dm_switch_finished_total${sel({ ...at, kind: 'address-switch', outcome: 'switched' })}`,
      (v) => v === 2,
    );
    await downstreamMatches(primary, tidb, 90_000);
  });

  it('given readiness drills, should export each source as ready or not with its age, and fire the alert when not', async () => {
    const current = (await reads()) === a.port ? a : b;
    const other = current === a ? b : a;
    const drill = async (candidate: DbInstance) => {
      const input: DrillInput = {
        dmCluster: 'default',
        sources: [
          {
            kind: 'address',
            switch: {
              sourceId: SOURCE,
              oldInstance: ref(current),
              candidates: [ref(candidate)],
              taskCredentials: 'sandbox-root',
            },
          },
        ],
      };
      const since = Date.now();
      await scheduleReadiness(client, input, 3600, QUEUE);
      await triggerReadiness(client, 'default');
      await expect
        .poll(
          async () => Date.parse((await latestReadiness(client, 'default'))?.report?.sources[0]?.checkedAt ?? '0'),
          // a drill dry-runs the source's switch: seconds alone, but over a minute with three stack files at once
          { timeout: 150_000, interval: 500 },
        )
        .toBeGreaterThanOrEqual(since);
    };
    const labels = { dm_cluster: 'default', source: SOURCE };
    try {
      await drill(other);
      await eventually(`dm_switch_ready${sel(labels)}`, (v) => v === 1);
      await eventually(`dm_switch_readiness_listed${sel(labels)}`, (v) => v === 1);
      await eventually(`dm_switch_readiness_interval_seconds${sel({ dm_cluster: 'default' })}`, (v) => v === 3600);
      const age = await eventually(`dm_switch_readiness_age_seconds${sel(labels)}`, (v) => v !== undefined);
      expect(age).toBeGreaterThanOrEqual(0);
      expect(age).toBeLessThan(120);
      // the only candidate is the instance DM reads now: no switch would pass, and the alert says so
      await drill(current);
      await eventually(`dm_switch_ready${sel(labels)}`, (v) => v === 0);
      await expect
        .poll(
          async () =>
            (await prom.alerts()).filter(
              (x) =>
                x.labels.alertname === 'DmSwitchSourceNotSwitchable' &&
                x.labels.source === SOURCE &&
                x.state === 'firing',
            ).length,
          { timeout: 30_000, interval: 250 },
        )
        .toBe(1);
    } finally {
      await deleteReadiness(client, 'default');
    }
  });
});
