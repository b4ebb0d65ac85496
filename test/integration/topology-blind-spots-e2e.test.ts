/**
 * What the GTID rules alone cannot see, on the real stack: MySQL 9.7 hosts in
 * network namespaces (primary P, replicas A, I and B, with B replicating from
 * I: P→A, P→I→B) behind a real VIP that DM reads through (on A), TiDB
 * downstream, the Temporal dev server and the real worker.
 *
 *  - a replication filter on the new instance, or on the server between it
 *    and the primary, hides changes DM needs while every GTID rule holds;
 *  - a local write on the intermediate server I reaches B through its
 *    replication;
 *  - a writable replica whose replication was stopped by hand is not a
 *    primary while its source still is;
 *  - two candidates that both took writes as a primary are a split brain.
 *
 * Every refusal is checked to change nothing (no step, task Running, the VIP
 * where it was); every control switches with downstream equal to upstream.
 * The cases run in order; the last one kills the primary.
 */
import type { Client } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MysqlGtidSet } from '../../common/gtid/index.js';
import type { AddressSwitchRequest, VipSwitchRequest } from '../../common/switch/input.js';
import type { SwitchStatus } from '../../common/switch/status.js';
import type { DbInstance } from '../sandbox/db.js';
import type { DmCluster } from '../sandbox/dm.js';
import { startStack, type Stack } from '../sandbox/stack.js';
import {
  downstreamMatches,
  failureType,
  runSwitch,
  sourceReads,
  startInProcessWorker,
  startSwitch,
  taskState as taskStateOf,
  waitForStatus,
  writeUntil,
} from '../sandbox/switch-harness.js';
import type { TidbInstance } from '../sandbox/tidb.js';
import { replicateFrom, waitCaughtUp, writeRows } from '../sandbox/topology.js';
import type { VipLab } from '../sandbox/vip-lab.js';

const QUEUE = 'e2e-blind-spots';
let stack: Stack;
let SOURCE: string;
let TASK: string;
let lab: VipLab;
let primary: DbInstance;
let a: DbInstance;
let i: DbInstance;
let b: DbInstance;
let dm: DmCluster;
let tidb: TidbInstance;
let client: Client;
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  stack = await startStack({ temporal: true, mysql: { replicas: 3 }, dm: true, vip: true });
  [primary, a, i, b] = stack.topology!.all() as [DbInstance, DbInstance, DbInstance, DbInstance];
  ({ vipLab: lab, dm, downstream: tidb } = stack as Required<Stack>);
  SOURCE = stack.sourceId!;
  TASK = stack.taskName!;
  // P→I→B: B replicates from the intermediate server I
  await replicateFrom(b, i);
  await writeRows(primary, 10);
  await writeRows(primary, 3, 't2');
  await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(i, primary)]);
  await waitCaughtUp(b, i);
  const w = await startInProcessWorker(stack.temporal!.address, stack.workerConfigYaml(QUEUE));
  client = w.client;
  stops.push(w.stop);
}, 600_000);

afterAll(async () => {
  for (const stop of stops.reverse()) await stop();
  await stack?.stop();
});

const ref = (db: DbInstance) => ({ host: db.host, port: 3306, credentials: 'sandbox-root' });
const at = (db: DbInstance) => `${db.host}:3306`;
const options = { catchUpTimeoutSeconds: 60, verifyTimeoutSeconds: 90 };
const req = (to: DbInstance, from: DbInstance): VipSwitchRequest => ({
  sourceId: SOURCE,
  newInstance: ref(to),
  oldInstance: ref(from),
  vip: { address: lab.vip },
  options,
});
/** The primary writes both tables while a switch runs. */
const writing = (ended: Promise<unknown>) =>
  writeUntil(ended, async () => {
    await writeRows(primary, 1);
    await writeRows(primary, 1, 't2');
  });
const run = (r: VipSwitchRequest) => runSwitch(client, 'vipSwitch', QUEUE, r, writing);
const vipHolder = () => lab.provider().locate(lab.vip, []);
const refusal = (s: SwitchStatus) =>
  s.decisions
    .filter((d) => d.verdict === 'refuse')
    .map((d) => d.reason)
    .join('\n');
const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
const ownGtids = async (db: DbInstance) =>
  MysqlGtidSet.parse(await db.variable('gtid_executed')).ofUuid(await db.variable('server_uuid'));

/** Both tables downstream equal to `upstream` (ordered row hash per table). */
async function matches(upstream: DbInstance): Promise<void> {
  await downstreamMatches(upstream, tidb, 90_000);
  await downstreamMatches(upstream, tidb, 90_000, 't2');
}

/** Nothing was paused or moved: no step, the task Running, the VIP still on `on`, downstream equal to the primary. */
async function untouched(status: SwitchStatus, on: DbInstance): Promise<void> {
  expect(status.outcome).toBe('refused');
  expect(status.steps).toEqual([]);
  expect(await vipHolder()).toBe(on.host);
  expect(await taskStateOf(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  await writeRows(primary, 2, 't2');
  await matches(primary);
}

/** Each case starts with DM reading A (a case that failed may have left it elsewhere). */
async function onA(): Promise<void> {
  const holder = await vipHolder();
  if (holder === a.host) return;
  const from = [i, b].find((x) => x.host === holder)!;
  const back = await run(req(a, from));
  expect(back.status.outcome).toBe('switched');
}

/** Commits an empty transaction per GTID of `set` on the primary, so every server has them (how a DBA makes an errant set whole). */
async function injectEmpty(set: MysqlGtidSet): Promise<void> {
  for (const uuid of set.uuids()) {
    for (const range of set.ofUuid(uuid).toCompactString().split(':').slice(1).join(':').split(':')) {
      const [x, y = x] = range.split('-').map(Number);
      for (let n = x!; n <= y!; n++)
        await primary.query(`SET GTID_NEXT = '${uuid}:${n}'; BEGIN; COMMIT; SET GTID_NEXT = 'AUTOMATIC'`);
    }
  }
}

/**
 * Starts a switch that waits at `gate` while the primary writes both tables; once it waits, `change` runs (a
 * setting changed after the check at preflight), then the gate is approved. Returns how the switch ended.
 */
async function changedAtGate(
  workflow: 'vipSwitch' | 'addressSwitch',
  r: VipSwitchRequest | AddressSwitchRequest,
  change: () => Promise<unknown>,
): Promise<{ status: SwitchStatus; error?: unknown }> {
  const sw = await startSwitch(client, workflow, QUEUE, r);
  const ended = sw.handle.result().catch(() => undefined);
  const writes = writing(ended);
  const gate = r.approvals!.gates![0]!;
  const pending = (s: SwitchStatus) => s.approvals.some((x) => x.gate === gate && x.state === 'pending');
  await waitForStatus(sw.handle, (s) => s.phase === 'awaiting-approval' && pending(s));
  await change();
  await sw.handle.signal('approve', { by: 'dba', gate });
  const end = await sw.end();
  await writes;
  return end;
}

/** t2 rows a filter made `dbs` commit empty (their GTIDs kept) are gone there for good: put them back by hand. */
async function restoreT2(dbs: DbInstance[]): Promise<void> {
  await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(i, primary)]);
  await waitCaughtUp(b, i);
  for (const db of dbs) await db.query('SET SESSION sql_log_bin = 0; DELETE FROM app.t2; SET SESSION sql_log_bin = 1');
  type Row = { id: number; payload: string; written_by: number };
  const rows = await primary.query<Row>('SELECT id, payload, written_by FROM app.t2');
  const insert = 'SET SESSION sql_log_bin = 0; INSERT INTO app.t2 VALUES (?, ?, ?); SET SESSION sql_log_bin = 1';
  for (const db of dbs) {
    for (const r of rows) await db.query(insert, [r.id, r.payload, r.written_by]);
  }
}

/**
 * Undone: rolled back with the finding named (`when`: where it was seen), the VIP on A, the task Running,
 * downstream equal to the primary.
 */
async function undone(end: { status: SwitchStatus; error?: unknown }, finding: RegExp, when: string): Promise<void> {
  expect(end.status.outcome).toBe('rolled-back');
  expect(failureType(end.error)).toBe('SettingChanged');
  const why = refusal(end.status);
  const late = `${when}, the switch found what the checks at preflight had not \\(so it was changed since\\)`;
  expect(why).toMatch(new RegExp(late));
  expect(why).toMatch(finding);
  expect(why).toMatch(/the switch is undone and DM reads the old instance again/);
  expect(await vipHolder()).toBe(a.host);
  expect(await taskStateOf(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  await writeRows(primary, 2, 't2');
  await writeRows(primary, 2);
  await matches(primary);
}

describe('what the GTID rules cannot see (real stack)', { timeout: 600_000 }, () => {
  it('given a replication filter hiding a replicated table on the new instance or on the server between it and the primary, should refuse naming it; a filter on another schema switches', async () => {
    // on B itself
    await b.query(
      'STOP REPLICA SQL_THREAD; CHANGE REPLICATION FILTER REPLICATE_IGNORE_TABLE=(app.t2); START REPLICA SQL_THREAD',
    );
    try {
      const onB = await run(req(b, a));
      expect(failureType(onB.error)).toBe('PreflightFailed');
      expect(refusal(onB.status)).toMatch(
        new RegExp(
          `REPLICATE_IGNORE_TABLE=\\(app\\.t2\\) on the new instance ${esc(at(b))}: it skips changes of app\\.t2, in schemas the tasks replicate \\(${TASK}: app\\)`,
        ),
      );
      expect(refusal(onB.status)).toMatch(/CHANGE REPLICATION FILTER REPLICATE_IGNORE_TABLE=\(\)/);
      await untouched(onB.status, a);
    } finally {
      await b.query(
        'STOP REPLICA SQL_THREAD; CHANGE REPLICATION FILTER REPLICATE_IGNORE_TABLE=(); START REPLICA SQL_THREAD',
      );
    }
    // B is clean, but I (between B and the primary) filters: the t2 rows written meanwhile never reach B
    await i.query(
      "STOP REPLICA SQL_THREAD; CHANGE REPLICATION FILTER REPLICATE_WILD_IGNORE_TABLE=('app.t%'); START REPLICA SQL_THREAD",
    );
    try {
      const onI = await run(req(b, a));
      expect(failureType(onI.error)).toBe('PreflightFailed');
      expect(refusal(onI.status)).toMatch(
        new RegExp(
          `REPLICATE_WILD_IGNORE_TABLE=\\(app\\.t%\\) on the server between it and the primary \\(a source of ${esc(at(b))}\\) ${esc(at(i))}: it skips changes of app\\.t%`,
        ),
      );
      await untouched(onI.status, a);
    } finally {
      await i.query(
        'STOP REPLICA SQL_THREAD; CHANGE REPLICATION FILTER REPLICATE_WILD_IGNORE_TABLE=(); START REPLICA SQL_THREAD',
      );
    }
    // the filtered t2 rows are gone from I and B for good (empty transactions with their GTIDs): put them back by hand
    await waitCaughtUp(i, primary);
    await waitCaughtUp(b, i);
    for (const db of [i, b])
      await db.query('SET SESSION sql_log_bin = 0; DELETE FROM app.t2; SET SESSION sql_log_bin = 1');
    const rows = await primary.query<{ id: number; payload: string; written_by: number }>(
      'SELECT id, payload, written_by FROM app.t2',
    );
    for (const db of [i, b]) {
      for (const r of rows)
        await db.query(
          'SET SESSION sql_log_bin = 0; INSERT INTO app.t2 VALUES (?, ?, ?); SET SESSION sql_log_bin = 1',
          [r.id, r.payload, r.written_by],
        );
    }

    // control: a filter on a schema the task does not replicate cannot hide anything DM needs
    await b.query(
      'STOP REPLICA SQL_THREAD; CHANGE REPLICATION FILTER REPLICATE_IGNORE_TABLE=(scratch.t2); START REPLICA SQL_THREAD',
    );
    try {
      const ok = await run(req(b, a));
      expect(ok.error).toBeUndefined();
      expect(ok.status.outcome).toBe('switched');
      expect(
        ok.status.decisions.some(
          (d) =>
            d.verdict === 'go' &&
            /the filters found cannot touch what the tasks replicate \(app-to-downstream: app\)/.test(d.reason),
        ),
      ).toBe(true);
      expect(await vipHolder()).toBe(b.host);
      await writeRows(primary, 3, 't2');
      await waitCaughtUp(b, primary, 60_000);
      await matches(primary);
    } finally {
      await b.query(
        'STOP REPLICA SQL_THREAD; CHANGE REPLICATION FILTER REPLICATE_IGNORE_TABLE=(); START REPLICA SQL_THREAD',
      );
    }
    // back to A for the next case
    const back = await run(req(a, b));
    expect(back.status.outcome).toBe('switched');
  });

  it('given a local write on the intermediate server I that reached B through its replication, should refuse naming it as errant; made whole, switches', async () => {
    await onA();
    await i.query(`INSERT INTO app.rows (id, payload, written_by) VALUES (900000011, 'local-write-on-i', @@server_id)`);
    await waitCaughtUp(b, i);
    const errant = await ownGtids(i);
    expect(errant.isEmpty()).toBe(false);
    const refused = await run(req(b, a));
    expect(failureType(refused.error)).toBe('GtidRefused');
    const why = refusal(refused.status);
    expect(why).toContain(errant.toCompactString());
    expect(why).toMatch(
      new RegExp(
        `written on ${esc(at(i))} itself \\(server_uuid ${await i.variable('server_uuid')}\\), a replica between the new instance and the primary: ${esc(at(primary))} above it does not have them`,
      ),
    );
    await untouched(refused.status, a);
    expect(
      Number(
        (await tidb.query<{ n: number }>("SELECT COUNT(*) AS n FROM app.rows WHERE payload = 'local-write-on-i'"))[0]!
          .n,
      ),
    ).toBe(0);

    // the DBA's fix: the GTID committed empty on the primary, the row removed where it was written
    await injectEmpty(errant);
    for (const db of [i, b])
      await db.query(
        "SET SESSION sql_log_bin = 0; DELETE FROM app.rows WHERE payload = 'local-write-on-i'; SET SESSION sql_log_bin = 1",
      );
    await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(i, primary)]);
    await waitCaughtUp(b, i);
    const ok = await run(req(b, a));
    expect(ok.error).toBeUndefined();
    expect(ok.status.outcome).toBe('switched');
    await waitCaughtUp(b, primary, 60_000);
    await matches(primary);
    const back = await run(req(a, b));
    expect(back.status.outcome).toBe('switched');
  });

  it('given a writable replica whose replication was stopped by hand, with a local DELETE, while its source answers and is writable, should not take it for a primary', async () => {
    await onA();
    await primary.query(
      `INSERT INTO app.rows (id, payload, written_by) VALUES (900000021, 'deleted-on-b', @@server_id)`,
    );
    await waitCaughtUp(a, primary);
    await waitCaughtUp(b, primary, 60_000);
    const before = await ownGtids(b);
    await b.query('STOP REPLICA');
    try {
      expect(await b.variable('read_only')).toMatch(/^(0|OFF)$/);
      await b.query("DELETE FROM app.rows WHERE payload = 'deleted-on-b'");
      const errant = (await ownGtids(b)).subtract(before);
      // nobody writes meanwhile: B still holds everything DM has (gtid-S ⊆ gtid-E), only its own DELETE is extra
      const refused = await runSwitch(client, 'vipSwitch', QUEUE, req(b, a));
      expect(refusal(refused.status)).not.toMatch(/gtid-S ⊄ gtid-E/);
      expect(failureType(refused.error)).toBe('GtidRefused');
      const why = refusal(refused.status);
      expect(why).toContain(errant.toCompactString());
      expect(why).toMatch(
        new RegExp(
          `while it is a replica whose replication is stopped while its source ${esc(at(i))} answers and is writable`,
        ),
      );
      await untouched(refused.status, a);
      expect(
        Number(
          (await tidb.query<{ n: number }>("SELECT COUNT(*) AS n FROM app.rows WHERE payload = 'deleted-on-b'"))[0]!.n,
        ),
      ).toBe(1);
      // made whole: the delete's GTID committed empty on the primary, the row back on B
      await injectEmpty(errant);
      await b.query(
        `SET SESSION sql_log_bin = 0; INSERT INTO app.rows (id, payload, written_by) VALUES (900000021, 'deleted-on-b', 1); SET SESSION sql_log_bin = 1`,
      );
    } finally {
      await b.query('START REPLICA');
    }
    await waitCaughtUp(a, primary);
    await waitCaughtUp(b, primary, 60_000);
    const ok = await run(req(b, a));
    expect(ok.error).toBeUndefined();
    expect(ok.status.outcome).toBe('switched');
    await matches(primary);
    const back = await run(req(a, b));
    expect(back.status.outcome).toBe('switched');
  });

  it(
    'given a replication filter added on the new instance while a VIP switch waits at before-switch (after the ' +
      'check at preflight), should undo it: rolled-back naming the filter, the VIP on A, nothing lost',
    async () => {
      await onA();
      await waitCaughtUp(b, i);
      const filter = 'CHANGE REPLICATION FILTER REPLICATE_IGNORE_TABLE=(app.t2)';
      const r: VipSwitchRequest = { ...req(b, a), approvals: { gates: ['before-switch'] } };
      try {
        const end = await changedAtGate('vipSwitch', r, () =>
          b.query(`STOP REPLICA SQL_THREAD; ${filter}; START REPLICA SQL_THREAD`),
        );
        const named = `REPLICATE_IGNORE_TABLE=\\(app\\.t2\\) on the new instance ${esc(at(b))}: it skips changes`;
        const fix = 'CHANGE REPLICATION FILTER REPLICATE_IGNORE_TABLE=\\(\\)';
        await undone(end, new RegExp(`${named}.*${fix}`), 'after gate before-switch');
        // the VIP never moved: no step moved it
        expect(end.status.steps.some((x) => /^move VIP/.test(x.step))).toBe(false);
      } finally {
        await b.query(
          'STOP REPLICA SQL_THREAD; CHANGE REPLICATION FILTER REPLICATE_IGNORE_TABLE=(); ' + 'START REPLICA SQL_THREAD',
        );
      }
      await restoreT2([b]);
    },
  );

  it(
    'given binlog_row_value_options=PARTIAL_JSON set on the new instance while a VIP switch waits at before-resume, ' +
      'the VIP already moved (after the check at preflight), should move it back: rolled-back naming the setting, ' +
      'nothing lost',
    async () => {
      await onA();
      const r: VipSwitchRequest = { ...req(b, a), approvals: { gates: ['before-resume'] } };
      try {
        const partial = "SET GLOBAL binlog_row_value_options = 'PARTIAL_JSON'";
        const end = await changedAtGate('vipSwitch', r, () => b.query(partial));
        const named = `binlog_row_value_options is PARTIAL_JSON on the new instance ${esc(at(b))}: `;
        const fix = "SET PERSIST binlog_row_value_options = ''";
        await undone(end, new RegExp(`${named}.*${fix}`), 'after gate before-resume');
        // the VIP had moved to B and was moved back before DM resumed
        const moved = `move VIP ${lab.vip} to ${b.host}`;
        expect(end.status.steps.some((x) => x.step === moved && x.result === 'done')).toBe(true);
        type Undone = SwitchStatus['compensation'][number];
        const back = (x: Undone) => /^move VIP .* back to/.test(x.step) && x.result === 'done';
        expect(end.status.compensation.some(back)).toBe(true);
      } finally {
        await b.query("SET GLOBAL binlog_row_value_options = ''");
      }
    },
  );

  it(
    'given a replication filter added on the server between the new instance and the primary while an address ' +
      'switch waits at before-switch (after the check at preflight), should undo it: rolled-back naming the filter ' +
      'and the server, DM reading the VIP again',
    async () => {
      await onA();
      await waitCaughtUp(b, i);
      const r: AddressSwitchRequest = {
        sourceId: SOURCE,
        newInstance: ref(b),
        oldInstance: ref(a),
        taskCredentials: 'sandbox-root',
        options,
        approvals: { gates: ['before-switch'] },
      };
      const filter = "CHANGE REPLICATION FILTER REPLICATE_WILD_IGNORE_TABLE=('app.t%')";
      try {
        const end = await changedAtGate('addressSwitch', r, () =>
          i.query(`STOP REPLICA SQL_THREAD; ${filter}; START REPLICA SQL_THREAD`),
        );
        const where = `on the server between it and the primary \\(a source of ${esc(at(b))}\\) ${esc(at(i))}`;
        // the schemas come from the task's configuration saved before it was stopped
        const scope = `it skips changes of app\\.t%, in schemas the tasks replicate \\(${TASK}: app\\)`;
        const named = `REPLICATE_WILD_IGNORE_TABLE=\\(app\\.t%\\) ${where}: ${scope}`;
        await undone(end, new RegExp(named), 'after gate before-switch');
        expect(await sourceReads(dm, SOURCE)).toEqual({ host: lab.vip, port: 3306 });
        expect(end.status.steps.some((x) => /^operate-source/.test(x.step))).toBe(false);
      } finally {
        await i.query(
          'STOP REPLICA SQL_THREAD; CHANGE REPLICATION FILTER REPLICATE_WILD_IGNORE_TABLE=(); ' +
            'START REPLICA SQL_THREAD',
        );
      }
      await restoreT2([i, b]);
    },
  );

  it(
    'given binlog_row_image=MINIMAL set on the new instance while a VIP switch waits at before-freeze (after the ' +
      'check at preflight), should find it with DM frozen and resume DM on A: rolled-back naming the setting',
    async () => {
      await onA();
      const r: VipSwitchRequest = { ...req(b, a), approvals: { gates: ['before-freeze'] } };
      try {
        const end = await changedAtGate('vipSwitch', r, () => b.query("SET GLOBAL binlog_row_image = 'MINIMAL'"));
        const named = `binlog_row_image is MINIMAL, not FULL on the new instance ${esc(at(b))}: `;
        await undone(end, new RegExp(`${named}.*SET PERSIST binlog_row_image = 'FULL'`), 'with DM frozen');
        expect(end.status.steps.map((x) => x.step)).toEqual([`pause-task ${TASK}`]);
        expect(end.status.compensation.map((x) => [x.step, x.result])).toEqual([[`resume-task ${TASK}`, 'done']]);
      } finally {
        await b.query("SET GLOBAL binlog_row_image = 'FULL'");
      }
    },
  );

  it('given the primary dead and two candidates that both took writes as a primary, should refuse naming both sets (split brain); with one back as a replica, switches to the other', async () => {
    await onA();
    await writeRows(primary, 3);
    await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(i, primary)]);
    await waitCaughtUp(b, i);
    await matches(primary);
    primary.kill();
    await primary.waitExit();
    const [ownI, ownB] = [await ownGtids(i), await ownGtids(b)];
    // both "promoted": replicate from nobody, writable, each takes writes the other does not have
    for (const db of [i, b])
      await db.query('STOP REPLICA; RESET REPLICA ALL; SET GLOBAL super_read_only = OFF; SET GLOBAL read_only = OFF');
    await writeRows(i, 2);
    await b.query(`INSERT INTO app.rows (id, payload, written_by) VALUES (990000031, 'written-on-b', @@server_id)`);
    const [onI, onB] = [(await ownGtids(i)).subtract(ownI), (await ownGtids(b)).subtract(ownB)];
    const sw = (cands: DbInstance[]) => {
      const r: VipSwitchRequest = {
        sourceId: SOURCE,
        oldInstance: ref(a),
        vip: { address: lab.vip },
        options,
        candidates: cands.map(ref),
      };
      return runSwitch(client, 'vipSwitch', QUEUE, r);
    };

    const refused = await sw([i, b]);
    expect(failureType(refused.error)).toBe('GtidRefused');
    const why = refusal(refused.status);
    expect(why).toMatch(/split brain among the candidates/);
    expect(why).toContain(`${at(i)} holds ${onI.toCompactString()} that ${at(b)} lacks`);
    expect(why).toContain(`${at(b)} holds ${onB.toCompactString()} that ${at(i)} lacks`);
    expect(refused.status.candidates?.every((c) => !c.chosen)).toBe(true);
    expect(refused.status.outcome).toBe('refused');
    expect(refused.status.steps).toEqual([]);
    expect(await vipHolder()).toBe(a.host);
    expect(await taskStateOf(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });

    // control: B becomes I's replica again; its own write is now errant (its source I answers, writable), I is the primary
    await replicateFrom(b, i);
    await waitCaughtUp(b, i);
    const ok = await sw([i, b]);
    expect(ok.error).toBeUndefined();
    expect(ok.status.outcome).toBe('switched');
    expect(ok.status.candidates?.find((c) => c.chosen)?.address).toBe(at(i));
    expect(ok.status.candidates?.find((c) => c.address === at(b))?.reasons.join()).toMatch(/errant/);
    expect(await vipHolder()).toBe(i.host);
    await writeRows(i, 3);
    await matches(i);
  });
});
