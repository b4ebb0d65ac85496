/**
 * Startup-only server settings on the real stack: MySQL 9.7 hosts in network
 * namespaces (primary P, replicas A, B, C, D and E of P) behind a real VIP
 * that DM reads through (on A), TiDB downstream, the Temporal dev server and
 * the real worker. The settings below cannot be changed at runtime, so each
 * replica is restarted once with its own server options:
 *
 *  - B: --binlog-row-event-max-size=1024 (A and P keep the default 8192), so
 *    B splits a large transaction into more rows events than A does. DM's
 *    syncer skips the rows events it already read of a transaction only when
 *    it reconnects inside one uninterrupted read; a switch pauses the tasks
 *    (and stops relay) before the VIP moves, so DM reads B from its
 *    checkpoint, a transaction boundary. Measured here: switches A → B and
 *    back, while the primary writes large multi-row transactions, end with
 *    downstream equal to upstream.
 *  - C: --replica-skip-errors=1062; D: --binlog-do-db=app;
 *    E: --binlog-ignore-db=app. Each would let DM move past changes it never
 *    sees, with every GTID rule holding: a switch to any of them is refused
 *    before anything changes, naming the setting, the server and what to do;
 *    target choice passes over all three and picks a clean replica.
 *
 * The cases run in order, each from where DM reads when it starts.
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { VipSwitchRequest } from '../../common/switch/input.js';
import type { SwitchStatus } from '../../common/switch/status.js';
import type { DbInstance } from '../sandbox/db.js';
import type { DmCluster } from '../sandbox/dm.js';
import { startStack, type Stack } from '../sandbox/stack.js';
import {
  downstreamMatches,
  failureType,
  runSwitch,
  startInProcessWorker,
  taskState,
  writeUntil,
} from '../sandbox/switch-harness.js';
import type { TidbInstance } from '../sandbox/tidb.js';
import { waitCaughtUp, writeRows } from '../sandbox/topology.js';
import type { VipLab } from '../sandbox/vip-lab.js';

const QUEUE = 'e2e-startup-settings';
let stack: Stack;
let SOURCE: string;
let TASK: string;
let lab: VipLab;
let primary: DbInstance;
let a: DbInstance;
let b: DbInstance;
let c: DbInstance;
let d: DbInstance;
let e: DbInstance;
let dm: DmCluster;
let tidb: TidbInstance;
let client: Client;
const stops: Array<() => Promise<void>> = [];

const ref = (db: DbInstance) => ({ host: db.host, port: 3306, credentials: 'sandbox-root' });
const at = (db: DbInstance) => `${db.host}:3306`;
const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
// generous: the machine is shared, and DM applies the large transactions written during a switch slowly under load
const options = { catchUpTimeoutSeconds: 120, verifyTimeoutSeconds: 300 };
type Target = Pick<VipSwitchRequest, 'newInstance' | 'candidates'>;
const req = (from: DbInstance, target: Target): VipSwitchRequest => ({
  sourceId: SOURCE,
  oldInstance: ref(from),
  vip: { address: lab.vip },
  options,
  ...target,
});
const vipHolder = () => lab.provider().locate(lab.vip, []);
/** The server DM reads now (the VIP's holder). */
const reading = async () => {
  const holder = await vipHolder();
  return [a, b, c, d, e].find((x) => x.host === holder)!;
};
const refusals = (s: SwitchStatus) =>
  s.decisions
    .filter((x) => x.verdict === 'refuse')
    .map((x) => x.reason)
    .join('\n');
const decided = (s: SwitchStatus) => s.decisions.map((x) => `${x.verdict}: ${x.reason}`).join('\n');

let batch = 0;
/**
 * One round of application writes to app.big, each a transaction larger than
 * 1 KiB (most larger than 8 KiB too): a 12-row insert of ~700-byte rows, an
 * update of every seventh row, and a delete of up to three rows.
 */
async function writeBig(): Promise<void> {
  batch++;
  const rows = Array.from({ length: 12 }, (_, i) => `${batch}-${i}-${'x'.repeat(680 + ((batch * 7 + i) % 40))}`);
  await primary.query(
    `INSERT INTO app.big (payload, written_by) VALUES ${rows.map(() => '(?, @@server_id)').join(', ')}`,
    rows,
  );
  await primary.query('UPDATE app.big SET payload = CONCAT(LEFT(payload, 640), ?) WHERE id % 7 = ?', [
    `u${batch}`,
    batch % 7,
  ]);
  await primary.query('DELETE FROM app.big WHERE id % 13 = ? ORDER BY id LIMIT 3', [batch % 13]);
  await writeRows(primary, 1);
}

/** Both tables downstream equal to the primary (order-independent row hash and count per table). */
async function downstreamEqual(): Promise<void> {
  await downstreamMatches(primary, tidb, 120_000);
  await downstreamMatches(primary, tidb, 120_000, 'big');
}

/** Rows events (write/update/delete) per GTID in the instance's binary logs. */
async function rowsEventsPerGtid(db: DbInstance): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  let gtid = '';
  for (const f of await db.query<{ Log_name: string }>('SHOW BINARY LOGS')) {
    for (const ev of await db.query<{ Event_type: string; Info: string }>(`SHOW BINLOG EVENTS IN '${f.Log_name}'`)) {
      const m = /GTID_NEXT= '([^']+)'/.exec(ev.Info);
      if (ev.Event_type === 'Gtid' && m) gtid = m[1]!;
      else if (/^(Write|Update|Delete)_rows/.test(ev.Event_type)) out.set(gtid, (out.get(gtid) ?? 0) + 1);
    }
  }
  return out;
}

/** Nothing moved: no step, DM still reads `on` through the VIP, its task runs, downstream equal to the primary. */
async function untouched(s: SwitchStatus, on: DbInstance): Promise<void> {
  expect(s.outcome).toBe('refused');
  expect(s.steps).toEqual([]);
  expect(s.frozenSince).toBeUndefined();
  expect(await vipHolder()).toBe(on.host);
  expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  await writeBig();
  await downstreamEqual();
}

describe('startup-only settings of the new instance (real stack)', { timeout: 600_000 }, () => {
  beforeAll(async () => {
    stack = await startStack({ temporal: true, mysql: { replicas: 5 }, dm: true, vip: true });
    type Six = [DbInstance, DbInstance, DbInstance, DbInstance, DbInstance, DbInstance];
    [primary, a, b, c, d, e] = stack.topology!.all() as Six;
    ({ vipLab: lab, dm, downstream: tidb } = stack as Required<Stack>);
    SOURCE = stack.sourceId!;
    TASK = stack.taskName!;
    await primary.query(
      'CREATE TABLE IF NOT EXISTS app.big ' +
        '(id BIGINT PRIMARY KEY AUTO_INCREMENT, payload TEXT NOT NULL, written_by INT NOT NULL)',
    );
    // startup-only settings: each replica restarted with its own options (they resume replicating on their own)
    await Promise.all([
      b.restartWith(['--binlog-row-event-max-size=1024']),
      c.restartWith(['--replica-skip-errors=1062']),
      d.restartWith(['--binlog-do-db=app']),
      e.restartWith(['--binlog-ignore-db=app']),
    ]);
    for (let n = 0; n < 3; n++) await writeBig();
    await Promise.all([a, b, c, d, e].map((x) => waitCaughtUp(x, primary, 60_000)));
    await downstreamEqual();
    const w = await startInProcessWorker(stack.temporal!.address, stack.workerConfigYaml(QUEUE));
    client = w.client;
    stops.push(w.stop);
  }, 600_000);

  afterAll(async () => {
    for (const stop of stops.reverse()) await stop();
    await stack?.stop();
  });

  it('given a binlog_row_event_max_size unlike the old one, should switch both ways, downstream equal', async () => {
    expect(await a.variable('binlog_row_event_max_size')).toBe('8192');
    expect(await b.variable('binlog_row_event_max_size')).toBe('1024');
    // the measurement's premise: B splits the same transaction into more rows events than A does
    await writeBig();
    await waitCaughtUp(b, primary);
    await waitCaughtUp(a, primary);
    const [onA, onB] = await Promise.all([rowsEventsPerGtid(a), rowsEventsPerGtid(b)]);
    const split = [...onA].filter(([g, n]) => (onB.get(g) ?? 0) > n);
    expect(split.length).toBeGreaterThan(0);
    const [gtid, most] = [...onB].sort((x, y) => y[1] - x[1])[0]!;
    // the measurement, for the record: the same transaction in rows events on A and on B
    console.info(`rows events of ${gtid}: ${onA.get(gtid)} on A (8192), ${most} on B (1024); ${split.length} split`);
    expect(most).toBeGreaterThanOrEqual(2 * onA.get(gtid)!);

    const forth = await runSwitch(client, 'vipSwitch', QUEUE, req(a, { newInstance: ref(b) }), (ended) =>
      writeUntil(ended, writeBig, 400),
    );
    expect(forth.error, decided(forth.status)).toBeUndefined();
    expect(forth.status.outcome).toBe('switched');
    expect(decided(forth.status)).toMatch(
      new RegExp(`info: binlog_row_event_max_size differs: old ${esc(at(a))} 8192, new ${esc(at(b))} 1024`),
    );
    expect(await vipHolder()).toBe(b.host);
    for (let n = 0; n < 5; n++) await writeBig();
    await downstreamEqual();
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });

    const back = await runSwitch(client, 'vipSwitch', QUEUE, req(b, { newInstance: ref(a) }), (ended) =>
      writeUntil(ended, writeBig, 400),
    );
    expect(back.error, decided(back.status)).toBeUndefined();
    expect(back.status.outcome).toBe('switched');
    expect(await vipHolder()).toBe(a.host);
    for (let n = 0; n < 5; n++) await writeBig();
    await downstreamEqual();
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  });

  it('given replica_skip_errors=1062 on the new instance, should refuse before any change, naming it', async () => {
    expect(await c.variable('replica_skip_errors')).toBe('1062');
    const from = await reading();
    const { status, error } = await runSwitch(client, 'vipSwitch', QUEUE, req(from, { newInstance: ref(c) }));
    expect(failureType(error)).toBe('PreflightFailed');
    expect(refusals(status)).toMatch(
      new RegExp(
        `replica_skip_errors=1062 on the new instance ${esc(at(c))}: a transaction that fails with one of those ` +
          "errors is committed without its changes .*set replica_skip_errors to OFF \\(in the server's " +
          'configuration, then restart it\\) or choose another instance',
      ),
    );
    await untouched(status, from);
  });

  it('given binlog-do-db on the new instance, should refuse before any change, naming it', async () => {
    const [log] = await d.query<{ Binlog_Do_DB: string }>('SHOW BINARY LOG STATUS');
    expect(log!.Binlog_Do_DB).toBe('app');
    const from = await reading();
    const { status, error } = await runSwitch(client, 'vipSwitch', QUEUE, req(from, { newInstance: ref(d) }));
    expect(failureType(error)).toBe('PreflightFailed');
    expect(refusals(status)).toMatch(
      new RegExp(
        `binlog-do-db=app on the new instance ${esc(at(d))}: the server writes to its binary log only changes ` +
          "of those schemas .*remove it from the server's configuration \\(a restart\\) or choose another instance",
      ),
    );
    await untouched(status, from);
  });

  it('given binlog-ignore-db on the new instance, should refuse before any change, naming it', async () => {
    const [log] = await e.query<{ Binlog_Ignore_DB: string }>('SHOW BINARY LOG STATUS');
    expect(log!.Binlog_Ignore_DB).toBe('app');
    const from = await reading();
    const { status, error } = await runSwitch(client, 'vipSwitch', QUEUE, req(from, { newInstance: ref(e) }));
    expect(failureType(error)).toBe('PreflightFailed');
    expect(refusals(status)).toMatch(
      new RegExp(
        `binlog-ignore-db=app on the new instance ${esc(at(e))}: changes of app, which the tasks replicate, are ` +
          "left out of the binary log DM would read.*remove it from the server's configuration \\(a restart\\)",
      ),
    );
    await untouched(status, from);
  });

  it('given candidates with those settings first, should pass each over naming it, pick a clean one', async () => {
    const from = await reading();
    const clean = from === a ? b : a;
    const { status, error } = await runSwitch(
      client,
      'vipSwitch',
      QUEUE,
      req(from, { candidates: [ref(c), ref(d), ref(e), ref(clean)] }),
      (ended) => writeUntil(ended, writeBig, 400),
    );
    expect(error, decided(status)).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(status.candidates?.[0]).toMatchObject({ address: at(clean), chosen: true, qualifies: true });
    const passed = status.candidates!.slice(1).map((x) => [x.address, x.chosen, x.qualifies]);
    expect(passed.sort()).toEqual([at(c), at(d), at(e)].map((x) => [x, false, false]).sort());
    const why = (db: DbInstance) => status.candidates!.find((x) => x.address === at(db))!.reasons.join('\n');
    expect(why(c)).toMatch(new RegExp(`replica_skip_errors=1062 on the candidate ${esc(at(c))}`));
    expect(why(d)).toMatch(new RegExp(`binlog-do-db=app on the candidate ${esc(at(d))}`));
    expect(why(e)).toMatch(new RegExp(`binlog-ignore-db=app on the candidate ${esc(at(e))}`));
    expect(await vipHolder()).toBe(clean.host);
    for (let n = 0; n < 5; n++) await writeBig();
    await downstreamEqual();
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  });
});
