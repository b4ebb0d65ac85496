/**
 * The address switch (procedure B) end to end on real components: MySQL 9.7
 * (primary, replica A, replica B) on loopback, a DM cluster whose source
 * reads replica A at its own address, TiDB downstream, the Temporal dev
 * server and the real worker activities. No VIP: the source config itself
 * is re-pointed.
 *
 * Each case asserts the end state of DM (which address the source reads,
 * how many sources, the task's stage), MySQL (binlog dump connections) and
 * the downstream rows, not only the workflow's result. The cases run in
 * order, each starting from where the previous one left the source.
 */
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import { execa } from 'execa';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import type { AddressSwitchRequest } from '../../common/switch/input.js';
import type { DbInstance } from '../sandbox/db.js';
import type { DmCluster } from '../sandbox/dm.js';
import { expectOk } from '../sandbox/dm-setup.js';
import { startStack, type Stack } from '../sandbox/stack.js';
import { MysqlGtidSet } from '../../common/gtid/index.js';
import {
  addressSwitchSteps,
  binlogDumps,
  historyEvents,
  relayStartGtids,
  downstreamMatches,
  failureType,
  relayStatus,
  runSwitch,
  saveHistory,
  sourceIds,
  sourceReads,
  startRelay,
  startSwitch,
  taskState,
  waitForStatus,
  writeUntil,
  type SwitchRun,
  startInProcessWorker,
} from '../sandbox/switch-harness.js';
import type { TidbInstance } from '../sandbox/tidb.js';
import { waitCaughtUp, writeRows } from '../sandbox/topology.js';
import { startWorkerProcess } from '../sandbox/worker-process.js';
import { freePort } from '../sandbox/ports.js';
import { startNotifyReceiver, type NotifyReceiver, type Received } from '../sandbox/notify-receiver.js';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';

const QUEUE = 'e2e-address';
let stack: Stack;
let SOURCE: string;
let TASK: string;
let primary: DbInstance;
let a: DbInstance;
let b: DbInstance;
let dm: DmCluster;
let tidb: TidbInstance;
let client: Client;
const systemTmp = process.env.TMPDIR;
let privateTmp: string | undefined;
let stopWorker: (() => Promise<void>) | undefined;
/** Where this suite's worker sends its notifications (notify, format slack: the fields are Slack message metadata). */
let receiver: NotifyReceiver;
type Notice = { text: string; metadata: { event_type: string; event_payload: Record<string, string> } };
const notice = (r: Received) => r.body as Notice;
const noticesOf = (runId: string) =>
  receiver.received.filter((r) => notice(r).metadata?.event_payload?.runId === runId);

beforeAll(async () => {
  stack = await startStack({ temporal: true, mysql: { replicas: 2 }, dm: true });
  [primary, a, b] = stack.topology!.all() as [DbInstance, DbInstance, DbInstance];
  ({ dm, downstream: tidb } = stack as Required<Stack>);
  SOURCE = stack.sourceId!;
  TASK = stack.taskName!;
  await writeRows(primary, 10);
  await Promise.all([waitCaughtUp(a, primary), waitCaughtUp(b, primary)]);
  // this suite's own temp directory, where the worker's private config files go and must not stay
  // (other suites' switches write theirs into the system one at the same time)
  privateTmp = await mkdtemp(join(tmpdir(), 'dm-switch-e2e-address-'));
  process.env.TMPDIR = privateTmp;
  // a reference that exists but cannot log in anywhere
  receiver = await startNotifyReceiver();
  await writeFile(join(privateTmp, 'notify-token'), 'e2e-notify-token\n', { mode: 0o600 });
  const config =
    `${stack.workerConfigYaml(QUEUE)}`.replace(
      'credentials:\n',
      'credentials:\n  nobody: { user: no_such_user, hosts: [127.0.0.0/8, 198.51.100.0/24] }\n',
    ) +
    `notify: { url: ${JSON.stringify(receiver.url)}, bearerTokenFile: ${JSON.stringify(join(privateTmp, 'notify-token'))} }\n`;
  ({ client, stop: stopWorker } = await startInProcessWorker(stack.temporal!.address, config));
}, 300_000);

afterAll(async () => {
  await stopWorker?.();
  await receiver?.close();
  await stack?.stop();
  if (privateTmp) {
    if (systemTmp === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = systemTmp;
    await rm(privateTmp, { recursive: true, force: true });
  }
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
const run = (r: AddressSwitchRequest, during?: (ended: Promise<unknown>) => Promise<unknown>) =>
  runSwitch(client, 'addressSwitch', QUEUE, r, during);
const matches = (timeoutMs?: number) => downstreamMatches(primary, tidb, timeoutMs);
const reads = async () => (await sourceReads(dm, SOURCE))?.port;
/** The dm-switch command as an operator runs it (bin/dm-switch.js), against this stack's Temporal. */
const cli = (args: string[]) =>
  execa(process.execPath, [join(import.meta.dirname, '../../bin/dm-switch.js'), '--task-queue', QUEUE, ...args], {
    reject: false,
    env: { TEMPORAL_ADDRESS: stack.temporal!.address, TEMPORAL_NAMESPACE: 'default' },
    stdin: 'ignore',
  });
const privateFilesLeft = async () => (await readdir(privateTmp!)).filter((f) => f.startsWith('dm-switch-cfg-'));

describe('address switch on the real stack', { timeout: 300_000 }, () => {
  it('given a wrong credential reference, should refuse before changing anything', async () => {
    const { status, error } = await run(req(b, a, { taskCredentials: 'nobody' }));
    expect(failureType(error)).toBe('InvalidInput');
    expect(status.outcome).toBe('refused');
    expect(status.decisions.at(-1)?.reason).toMatch(
      /cannot log in, nothing was changed: downstream .* \(reference "nobody"\): .*no_such_user/,
    );
    expect(status.steps).toEqual([]);
    expect(await reads()).toBe(a.port);
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  });

  it('given an old instance that is not what DM reads, should refuse naming both before anything changes', async () => {
    // DM reads A; the input says B is the old instance and the primary the new one
    const { status, error } = await run(req(primary, b));
    expect(failureType(error)).toBe('PreflightFailed');
    expect(status.decisions.at(-1)?.reason).toMatch(
      new RegExp(
        `source ${SOURCE} reads ${a.host}:${a.port}, not the old instance ${b.host}:${b.port} given in the input`,
      ),
    );
    expect(status.steps).toEqual([]);
    expect(await reads()).toBe(a.port);
  });

  it('given a dry run, should report the plan and change nothing', async () => {
    const { status, error } = await run(req(b, a, { options: { dryRun: true } }));
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('dry-run');
    expect(status.plan.join('\n')).toContain(`operate-source create ${SOURCE} reading ${b.host}:${b.port}`);
    expect(status.savedConfigs?.tasks[TASK]).toMatch(/target-database:/);
    expect(await reads()).toBe(a.port);
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  });

  it('given rows before, during and after, should re-point the source from A to B with every row downstream exactly once', async () => {
    await writeRows(primary, 20);
    await matches();
    // the application keeps writing through the switch: some rows land while the tasks are stopped
    const { status, error, handle } = await run(req(b, a), (ended) => writeUntil(ended, () => writeRows(primary, 1)));
    await saveHistory(handle, 'address-switch-switched');
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(status.steps.map((s) => s.step)).toEqual(addressSwitchSteps(SOURCE, TASK, b));
    // DM masks passwords in what the switch saved; the private files are gone
    expect(status.savedConfigs?.source).toMatch(/password: '\*+'/);
    expect(await privateFilesLeft()).toEqual([]);
    expect(status.gtids.some((g) => g.label === `gtid-S task ${TASK} (frozen)`)).toBe(true);

    expect(await reads()).toBe(b.port);
    expect(await sourceIds(dm)).toEqual([SOURCE]);
    await writeRows(primary, 20);
    await matches();
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
    expect(await binlogDumps(b)).toBeGreaterThan(0);
  });

  it('given a new instance that never catches up in time, should time out and restart the tasks on the old instance', async () => {
    await a.query(
      'STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 3600; START REPLICA SQL_THREAD',
    );
    let outcome: Awaited<ReturnType<typeof run>>;
    try {
      await writeRows(primary, 5);
      await matches();
      outcome = await run(req(a, b, { options: { catchUpTimeoutSeconds: 5, verifyTimeoutSeconds: 60 } }));
    } finally {
      await a.query('STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 0; START REPLICA SQL_THREAD');
    }
    const { status, error } = outcome;
    await saveHistory(outcome.handle, 'address-switch-catch-up-timeout');
    expect(failureType(error)).toBe('CatchUpTimeout');
    expect(status.outcome).toBe('rolled-back');
    expect(status.compensation.map((c) => `${c.step}:${c.result}`)).toEqual([
      `start-task -s ${SOURCE} ${TASK} (on the old instance):done`,
    ]);
    expect(await reads()).toBe(b.port);
    await writeRows(primary, 5);
    await matches();
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  });

  it('given the switch cancelled while it waits for a lagging instance, should undo in full and leave the tasks on the old instance', async () => {
    await a.query(
      'STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 3600; START REPLICA SQL_THREAD',
    );
    let end: Awaited<ReturnType<SwitchRun['end']>>;
    try {
      await writeRows(primary, 5);
      await matches();
      const sw = await startSwitch(
        client,
        'addressSwitch',
        QUEUE,
        req(a, b, { options: { catchUpTimeoutSeconds: 600, verifyTimeoutSeconds: 60 } }),
      );
      await waitForStatus(sw.handle, (s) => s.phase === 'catching-up');
      expect(await taskState(dm, SOURCE, TASK)).toBeNull(); // stopped by the switch
      await sw.handle.cancel();
      end = await sw.end();
    } finally {
      await a.query('STOP REPLICA SQL_THREAD; CHANGE REPLICATION SOURCE TO SOURCE_DELAY = 0; START REPLICA SQL_THREAD');
    }
    const { status, error } = end;
    expect(error).toBeInstanceOf(WorkflowFailedError);
    expect((error as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    expect(status.outcome).toBe('rolled-back');
    expect(status.decisions.some((d) => d.reason.startsWith('cancelled after a change'))).toBe(true);
    expect(status.compensation.map((c) => `${c.step}:${c.result}`)).toEqual([
      `start-task -s ${SOURCE} ${TASK} (on the old instance):done`,
    ]);
    expect(await reads()).toBe(b.port);
    await writeRows(primary, 5);
    await matches();
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  });

  it('given a rejection after the source was swapped, should put the old source back and restart the tasks on it', async () => {
    await waitCaughtUp(a, primary, 60_000);
    const sw = await startSwitch(
      client,
      'addressSwitch',
      QUEUE,
      req(a, b, { approvals: { gates: ['before-resume'] } }),
    );
    const pending = await waitForStatus(sw.handle, (s) => s.approvals.some((x) => x.state === 'pending'));
    expect(pending.approvals[0]?.gate).toBe('before-resume');
    expect(await reads()).toBe(a.port); // swapped, tasks not started yet
    expect(await taskState(dm, SOURCE, TASK)).toBeNull();
    // someone was told the gate waits, with the command that approves it
    const { runId } = await sw.handle.describe();
    const [told] = await receiver.waitFor((r) => notice(r).metadata?.event_payload?.runId === runId);
    expect(told!.headers.authorization).toBe('Bearer e2e-notify-token');
    expect(notice(told!).metadata).toMatchObject({
      event_type: 'dm_switch_awaiting_approval',
      event_payload: {
        event: 'awaiting-approval',
        gate: 'before-resume',
        sourceId: SOURCE,
        dmCluster: 'default',
        kind: 'address-switch',
        workflowId: `dm-switch/default/${SOURCE}`,
        approveCommand: `dm-switch approve dm-switch/default/${SOURCE} --gate before-resume`,
      },
    });
    expect(notice(told!).text).toContain(
      `waits for approval at gate before-resume, before: ${pending.approvals[0]!.approving.summary.replace(/\.$/, '')}`,
    );
    expect(notice(told!).text).toContain(
      `Approve with \`dm-switch approve dm-switch/default/${SOURCE} --gate before-resume\``,
    );
    await sw.handle.signal('reject', { gate: 'before-resume', by: 'dba-on-call', comment: 'wrong maintenance window' });
    const { status, error } = await sw.end();
    // one notification for the gate, none for a rollback that went right
    expect(noticesOf(runId).map((r) => notice(r).metadata.event_type)).toEqual(['dm_switch_awaiting_approval']);
    await saveHistory(sw.handle, 'address-switch-rolled-back-after-swap');
    expect(failureType(error)).toBe('Rejected');
    expect(status.outcome).toBe('rolled-back');
    expect(status.approvals[0]).toMatchObject({
      gate: 'before-resume',
      state: 'rejected',
      by: 'dba-on-call',
      comment: 'wrong maintenance window',
    });
    expect(status.compensation.map((c) => `${c.step}:${c.result}`)).toEqual([
      `operate-source stop ${SOURCE} (the new one):done`,
      `operate-source create ${SOURCE} reading ${b.host}:${b.port} again:done`,
      `start-task -s ${SOURCE} ${TASK} (on the old instance):done`,
    ]);
    expect(await reads()).toBe(b.port);
    expect(await sourceIds(dm)).toEqual([SOURCE]);
    await writeRows(primary, 5);
    await matches();
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  });

  it('given a switch half done by hand (tasks stopped, old source removed), should adopt it from the given task config and finish', async () => {
    const cfg = expectOk('config task', await dm.ctl(['config', 'task', TASK])).cfg as string;
    expectOk('stop-task', await dm.ctl(['stop-task', '-s', SOURCE, TASK]));
    expectOk('operate-source stop', await dm.ctl(['operate-source', 'stop', SOURCE]));
    await writeRows(primary, 10); // not replicated until the switch ends
    // the same configuration sending the task to another server the downstream credential may reach: no checkpoint
    // of the task is there, so it is not DM's downstream (the worker would otherwise replicate the source into it)
    const elsewhere = parseYaml(cfg) as Record<string, Record<string, unknown>>;
    elsewhere['target-database'] = { ...elsewhere['target-database'], host: primary.host, port: primary.port };
    const refused = await run(req(a, b, { taskConfigs: { [TASK]: stringifyYaml(elsewhere) } }));
    expect(failureType(refused.error)).toBe('InvalidInput');
    expect(refused.status.outcome).toBe('refused');
    expect(refused.status.steps).toEqual([]);
    expect(refused.status.decisions.map((d) => d.reason).join('\n')).toContain(
      `taskConfigs.${TASK} sends the task to target-database ${primary.host}:${primary.port}, which holds no checkpoint of task ${TASK} for source ${SOURCE}`,
    );
    expect(await sourceIds(dm)).toEqual([]);
    const { status, error, handle } = await run(req(a, b, { taskConfigs: { [TASK]: cfg } }), (ended) =>
      writeUntil(ended, () => writeRows(primary, 1)),
    );
    await saveHistory(handle, 'address-switch-adopted');
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(status.warnings.join('\n')).toMatch(/DM does not know source .*: it was removed/);
    expect(
      status.decisions.some((d) =>
        d.reason.includes(`task ${TASK} is not running: gtid-S (before stop) from its checkpoint`),
      ),
    ).toBe(true);
    expect(status.steps.map((s) => s.step)).toEqual([
      `operate-source create ${SOURCE} reading ${a.host}:${a.port}`,
      `start-task -s ${SOURCE} ${TASK}`,
    ]);
    expect(await reads()).toBe(a.port);
    await matches(90_000);
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  });

  it('given the new source already created by hand, should recognise it and only start the tasks', async () => {
    const task = expectOk('config task', await dm.ctl(['config', 'task', TASK])).cfg as string;
    const source = expectOk('config source', await dm.ctl(['config', 'source', SOURCE])).cfg as string;
    expectOk('stop-task', await dm.ctl(['stop-task', '-s', SOURCE, TASK]));
    expectOk('operate-source stop', await dm.ctl(['operate-source', 'stop', SOURCE]));
    const file = await dm.file(
      'by-hand-source.yaml',
      source.replace(`port: ${a.port}`, `port: ${b.port}`).replace(`password: '******'`, `password: ''`),
    );
    expectOk('operate-source create', await dm.ctl(['operate-source', 'create', file]));
    const { status, error } = await run(req(b, a, { taskConfigs: { [TASK]: task } }));
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    expect(status.decisions.some((d) => d.reason.includes('already reads the new instance'))).toBe(true);
    expect(status.steps.map((s) => s.step)).toEqual([`start-task -s ${SOURCE} ${TASK}`]);
    expect(await reads()).toBe(b.port);
    expect(await sourceIds(dm)).toEqual([SOURCE]);
    await writeRows(primary, 5);
    await matches();
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  });
  it('given relay on, should stop it with the tasks, start it on the new source and verify it reads a new sub-directory, there and back', async () => {
    const here = (await reads()) === a.port ? a : b;
    const there = here === a ? b : a;
    const started = startRelay(dm, SOURCE);
    try {
      expect((await started)?.relaySubDir.startsWith(await here.variable('server_uuid'))).toBe(true);
      for (const [to, from] of [
        [there, here],
        [here, there],
      ] as const) {
        await waitCaughtUp(to, primary, 60_000);
        const { status, error, handle } = await run(req(to, from), (ended) =>
          writeUntil(ended, () => writeRows(primary, 1)),
        );
        if (to === there) await saveHistory(handle, 'address-switch-relay');
        expect(error).toBeUndefined();
        expect(status.outcome).toBe('switched');
        // relay after the tasks: DM then starts it from their checkpoints, not from the new instance's current binlog file
        expect(status.steps.map((x) => x.step)).toEqual([
          `stop-task -s ${SOURCE} ${TASK}`,
          `stop-relay -s ${SOURCE}`,
          `operate-source stop ${SOURCE}`,
          `operate-source create ${SOURCE} reading ${to.host}:${to.port}`,
          `start-task -s ${SOURCE} ${TASK}`,
          `start-relay -s ${SOURCE}`,
        ]);
        expect(status.decisions.some((d) => /relay switched to sub-directory/.test(d.reason))).toBe(true);
        // every wait polls inside an activity: the history stays small however long DM takes
        const history = await historyEvents(handle);
        expect(history.count, history.what).toBeLessThanOrEqual(160);
        const relay = await relayStatus(dm, SOURCE);
        expect(relay?.stage).toBe('Running');
        expect(relay?.relaySubDir.startsWith(await to.variable('server_uuid'))).toBe(true);
        expect(await reads()).toBe(to.port);
        expect(await sourceIds(dm)).toEqual([SOURCE]);
        await writeRows(primary, 5);
        await matches();
        expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
      }
    } finally {
      await dm.ctl(['stop-relay', '-s', SOURCE]);
    }
  });

  it('given the dm-switch CLI, should start, refuse what does not fit, approve, watch, list and show a switch, with meaningful exit codes', async () => {
    // the task runs on B since the previous case; switch it back to A through the CLI
    await waitCaughtUp(a, primary, 60_000);
    const bad = await cli(['start', 'address', '--source', SOURCE, '--new', `${a.host}:${a.port}`]);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(
      /^dm-switch: invalid switch request, nothing was started:[\s\S]*newInstance.credentials[\s\S]*taskCredentials/,
    );

    const start = await cli([
      '-o',
      'json',
      'start',
      'address',
      '--source',
      SOURCE,
      '--new',
      `${a.host}:${a.port}`,
      '--old',
      `${b.host}:${b.port}`,
      '--credentials',
      'sandbox-root',
      '--task-credentials',
      'sandbox-root',
      '--gates',
      'before-switch',
      '--reason',
      'cli test',
      '--by',
      'alice',
    ]);
    expect(start.exitCode).toBe(0);
    const { workflowId } = JSON.parse(start.stdout) as { workflowId: string };
    expect(workflowId).toBe(`dm-switch/default/${SOURCE}`);
    let stopWriting = () => {};
    const writer = writeUntil(
      Promise.race([
        client.workflow
          .getHandle(workflowId)
          .result()
          .catch(() => undefined),
        new Promise((r) => (stopWriting = () => r(undefined))),
      ]),
      () => writeRows(primary, 1),
    );
    onTestFinished(() => stopWriting());

    const again = await cli([
      'start',
      'address',
      '--source',
      SOURCE,
      '--new',
      `${a.host}:${a.port}`,
      '--credentials',
      'sandbox-root',
      '--task-credentials',
      'sandbox-root',
    ]);
    expect(again.exitCode).toBe(3);
    expect(again.stderr).toMatch(
      /already running .* only one switch per source at a time. Watch it with `dm-switch watch dm-switch\/default\//,
    );

    await waitForStatus(client.workflow.getHandle(workflowId), (s) => s.approvals.some((x) => x.state === 'pending'));
    const shown = await cli(['status', SOURCE]);
    expect(shown.exitCode).toBe(0);
    expect(shown.stdout).toMatch(/APPROVAL NEEDED at gate before-switch: re-point source/);
    expect(shown.stdout).toMatch(/GTID sets:\n {4}gtid-P new instance/);
    const wrongGate = await cli(['approve', SOURCE, '--gate', 'before-resume']);
    expect(wrongGate.exitCode).toBe(3);
    expect(wrongGate.stderr).toMatch(
      /^dm-switch: approve refused: .*gate before-resume is not configured for this switch \(its gates: before-switch\)$/,
    );
    const approved = await cli(['approve', SOURCE, '--by', 'bob', '--comment', 'checked the sets']);
    expect(approved.exitCode).toBe(0);
    expect(approved.stdout).toBe(`${workflowId}: gate before-switch approved by bob (checked the sets)`);

    const watched = await cli(['watch', workflowId]);
    expect(watched.exitCode).toBe(0);
    expect(watched.stdout).toMatch(/\[verifying\] go: switched: DM reads source/);
    expect(watched.stdout.trimEnd().split('\n').at(-1)).toBe(`${workflowId}: switched`);
    await writer;

    const listed = await cli(['-o', 'json', 'list', '--source', SOURCE]);
    expect(listed.exitCode).toBe(0);
    expect(JSON.parse(listed.stdout)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ workflowId, kind: 'address-switch', outcome: 'switched', status: 'COMPLETED' }),
      ]),
    );
    const final = JSON.parse((await cli(['-o', 'json', 'status', workflowId])).stdout) as {
      approvals: Array<{ by: string; via: string }>;
      requestedBy: string;
    };
    expect(final.approvals[0]).toMatchObject({ by: 'bob', via: 'update' });
    expect(final.requestedBy).toBe('alice');
    expect(await reads()).toBe(a.port);
    await matches();
    expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
  });
  it('given real passwords, should keep them out of every workflow history and the worker log', async () => {
    // DM's replication user on the upstream (replicated from the primary) and a downstream user, each with a password
    const REPL_PW = 'Repl-Pw-7f3a91c2-secret';
    const DOWN_PW = 'Down-Pw-5e0b44d8-secret';
    await primary.query(`CREATE USER IF NOT EXISTS 'dm_repl'@'%' IDENTIFIED BY '${REPL_PW}'`);
    await primary.query(`GRANT SELECT, RELOAD, PROCESS, REPLICATION SLAVE, REPLICATION CLIENT ON *.* TO 'dm_repl'@'%'`);
    await tidb.query(`CREATE USER IF NOT EXISTS 'dm_down'@'%' IDENTIFIED BY '${DOWN_PW}'`);
    await tidb.query(`GRANT ALL PRIVILEGES ON *.* TO 'dm_down'@'%'`);
    await Promise.all([waitCaughtUp(a, primary, 60_000), waitCaughtUp(b, primary, 60_000)]);
    const config = stack
      .workerConfigYaml('e2e-secrets')
      .replace(
        'credentials:\n',
        `credentials:\n  repl: { user: dm_repl, passwordEnv: DSW_REPL_PW, hosts: [127.0.0.0/8, 198.51.100.0/24], tls: { caFile: ${JSON.stringify(join(primary.dataDir, 'ca.pem'))}, verifyIdentity: false } }\n  down: { user: dm_down, passwordEnv: DSW_DOWN_PW, hosts: [127.0.0.0/8, 198.51.100.0/24] }\n`,
      );
    const metricsPort = await freePort();
    const proc = await startWorkerProcess({
      configYaml: config,
      temporalAddress: stack.temporal!.address,
      env: { DSW_REPL_PW: REPL_PW, DSW_DOWN_PW: DOWN_PW, DM_SWITCH_METRICS_LISTEN: `127.0.0.1:${metricsPort}` },
    });
    try {
      const to = (await reads()) === a.port ? b : a;
      const from = to === a ? b : a;
      const { status, error } = await runSwitch(
        client,
        'addressSwitch',
        'e2e-secrets',
        req(to, from, { sourceCredentials: 'repl', taskCredentials: 'down' }),
        (ended) => writeUntil(ended, () => writeRows(primary, 1)),
      );
      expect(error).toBeUndefined();
      expect(status.outcome).toBe('switched');
      // DM really uses the users with passwords now
      const cfg = parseYaml(expectOk('config source', await dm.ctl(['config', 'source', SOURCE])).cfg as string) as {
        from: { user: string; port: number };
      };
      expect(cfg.from).toMatchObject({ user: 'dm_repl', port: to.port });
      await matches();

      // every payload of every workflow in the namespace, decoded, and the worker's whole log
      const texts: string[] = [await proc.log()];
      for await (const w of client.workflow.list()) {
        const history = await client.workflow.getHandle(w.workflowId, w.runId).fetchHistory();
        // payloads' data come base64-encoded in the JSON form: decode each one
        texts.push(
          JSON.stringify(JSON.parse(JSON.stringify(history)), (k, v: unknown) =>
            k === 'data' && typeof v === 'string' ? Buffer.from(v, 'base64').toString('utf8') : v,
          ),
        );
      }
      expect(texts.length).toBeGreaterThan(5);
      expect(texts.join('\n')).toContain('dm_repl'); // the search sees the payloads
      for (const secret of [REPL_PW, DOWN_PW]) expect(texts.filter((t) => t.includes(secret))).toEqual([]);

      // observability: one JSON object per log line, each naming the workflow and the source; Prometheus metrics
      const lines = (await proc.log()).split('\n').filter((l) => l.startsWith('{'));
      const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
      const ofSwitch = entries.filter(
        (e) => typeof e.workflowId === 'string' && String(e.workflowId).startsWith('dm-switch/'),
      );
      expect(ofSwitch.length).toBeGreaterThan(20);
      expect(ofSwitch.filter((e) => e.sourceId !== SOURCE).map((e) => e.msg)).toEqual([]);
      expect(
        ofSwitch.some(
          (e) => e.component === 'activity' && e.activityType === 'dmStopTasks' && e.msg === 'activity done',
        ),
      ).toBe(true);
      expect(ofSwitch.some((e) => e.component === 'workflow' && e.msg === 'finished: switched')).toBe(true);
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      expect(metrics).toMatch(/^temporal_activity_execution_latency/m);
      expect(metrics).toMatch(/temporal_workflow_completed\{[^}]*workflow_type="addressSwitch"/);
    } finally {
      await proc.stop();
    }
  });
  it('given a step that fails where nothing can be undone safely, should stop in needs-operator with what was done and what to run', async () => {
    // half done by hand: task stopped, source removed; the task config given back is one DM refuses
    const to = (await reads()) === a.port ? b : a;
    const from = to === a ? b : a;
    const cfg = expectOk('config task', await dm.ctl(['config', 'task', TASK])).cfg as string;
    expectOk('stop-task', await dm.ctl(['stop-task', '-s', SOURCE, TASK]));
    expectOk('operate-source stop', await dm.ctl(['operate-source', 'stop', SOURCE]));
    const broken = cfg.replace('task-mode: incremental', 'task-mode: sometimes');
    const { status, error, handle } = await run(req(to, from, { taskConfigs: { [TASK]: broken } }));
    await saveHistory(handle, 'address-switch-needs-operator');
    expect(failureType(error)).toBe('CompensationFailed');
    expect(status.outcome).toBe('needs-operator');
    // someone was told, with what to run, before the switch failed: the receiver has it when the result is in
    const told = noticesOf((await handle.describe()).runId);
    expect(told).toHaveLength(1);
    expect(notice(told[0]!).metadata).toMatchObject({
      event_type: 'dm_switch_needs_operator',
      event_payload: {
        event: 'needs-operator',
        outcome: 'needs-operator',
        sourceId: SOURCE,
        operatorActions: status.operatorActions.join('\n'),
      },
    });
    expect(notice(told[0]!).text).toMatch(
      new RegExp(
        `^dm-switch: the address switch of source ${SOURCE} \\(DM cluster default\\) needs an operator: .*Run by hand: \\(1\\) decide where source ${SOURCE} should read from`,
      ),
    );
    expect(status.steps.map((x) => `${x.step}:${x.result}`)).toEqual([
      `operate-source create ${SOURCE} reading ${to.host}:${to.port}:done`,
    ]);
    expect(
      status.decisions.some((d) =>
        /failed after a change \(dmctl start-task app-to-downstream failed: .*task-mode/.test(d.reason),
      ),
    ).toBe(true);
    expect(status.compensation.map((c) => `${c.step}:${c.result}`)).toEqual([
      `stop-task -s ${SOURCE} ${TASK} (before going back):done`,
      `keep source ${SOURCE} on the new instance (there was no old source to restore):failed`,
    ]);
    expect(status.operatorActions).toEqual([
      expect.stringMatching(
        new RegExp(`^decide where source ${SOURCE} should read from: it now reads ${to.host}:${to.port}`),
      ),
    ]);
    // the real state matches what the status says: the source reads the new instance, no task runs
    expect(await reads()).toBe(to.port);
    expect(await taskState(dm, SOURCE, TASK)).toBeNull();
    // an operator finishes by hand with the saved configuration
    const file = await dm.file(
      'operator-task.yaml',
      cfg.replace(/user: \S+\n(\s+)password: '\*+'/, "user: root\n$1password: ''"),
    );
    expectOk('start-task', await dm.ctl(['start-task', '-s', SOURCE, file]));
    await writeRows(primary, 3);
    await matches(90_000);
  });
  it('given the old instance crashed (killed first), should re-point the source to the other and lose no row', async () => {
    const from = (await reads()) === a.port ? a : b;
    const to = from === a ? b : a;
    await waitCaughtUp(to, primary, 60_000);
    from.kill();
    await from.waitExit();
    try {
      await writeRows(primary, 10); // DM cannot read these until it reads the other instance
      const { status, error, handle } = await run(req(to, from), (ended) =>
        writeUntil(ended, () => writeRows(primary, 1)),
      );
      await saveHistory(handle, 'address-switch-old-instance-down');
      expect(error).toBeUndefined();
      expect(status.outcome).toBe('switched');
      expect(status.warnings.join('\n')).toMatch(/old instance .* is unreachable/);
      // check-task connects to the upstream DM reads, which is down: not a reason to refuse the failover
      expect(status.warnings.join('\n')).toMatch(
        /check-task could not check task app-to-downstream \(not checked: DM could not reach the upstream it reads now/,
      );
      expect(status.steps.map((x) => x.step)).toEqual(addressSwitchSteps(SOURCE, TASK, to));
      expect(await reads()).toBe(to.port);
      expect(await sourceIds(dm)).toEqual([SOURCE]);
      expect(await binlogDumps(to)).toBeGreaterThan(0);
      await writeRows(primary, 5);
      await matches(90_000);
      expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
    } finally {
      await from.start();
    }
  });

  it('given relay on and the new instance rotating its binlog past what the stopped tasks need, should start relay from their checkpoints and lose nothing', async () => {
    const here = (await reads()) === a.port ? a : b;
    const there = here === a ? b : a;
    await startRelay(dm, SOURCE);
    try {
      await waitCaughtUp(there, primary, 60_000);
      const sw = await startSwitch(
        client,
        'addressSwitch',
        QUEUE,
        req(there, here, { approvals: { gates: ['before-switch'] } }),
      );
      const atGate = await waitForStatus(sw.handle, (s) => s.phase === 'awaiting-approval');
      const frozenS = atGate.gtids.filter((g) => g.label === `gtid-S task ${TASK} (frozen)`).at(-1)!.set;
      // DM is frozen; the application goes on, and the new instance starts a new binlog file after DM's position
      await writeRows(primary, 10);
      await waitCaughtUp(there, primary);
      await there.query('FLUSH BINARY LOGS');
      await writeRows(primary, 3);
      await sw.handle.signal('approve', { by: 'dba' });
      const { status, error } = await sw.end();
      await saveHistory(sw.handle, 'address-switch-relay-after-tasks');
      expect(error).toBeUndefined();
      expect(status.outcome).toBe('switched');
      expect(status.steps.map((x) => x.step).slice(-2)).toEqual([
        `start-task -s ${SOURCE} ${TASK}`,
        `start-relay -s ${SOURCE}`,
      ]);
      // what the relay asked the new instance for: no further than where the tasks resumed (their checkpoints),
      // not from the new instance's current binlog file, which begins after what DM has replicated
      const asked = (await relayStartGtids(dm)).at(-1)!;
      const resumed = status.gtids.find((g) => g.label === `gtid-S task ${TASK} (after resume)`)!.set;
      expect({
        asked,
        beyondTasks: MysqlGtidSet.parse(asked).subtract(MysqlGtidSet.parse(resumed)).toString(),
      }).toEqual({ asked, beyondTasks: '' });
      expect(MysqlGtidSet.parse(frozenS).isSubsetOf(MysqlGtidSet.parse(resumed))).toBe(true);
      await writeRows(primary, 5);
      await matches(90_000);
      expect(await taskState(dm, SOURCE, TASK)).toEqual({ stage: 'Running', unit: 'Sync' });
      expect((await relayStatus(dm, SOURCE))?.relaySubDir.startsWith(await there.variable('server_uuid'))).toBe(true);
    } finally {
      await dm.ctl(['stop-relay', '-s', SOURCE]);
    }
  });

  it('given a failover (primary dead, a replica promoted and taking writes), should switch DM to the new primary and report its own writes as information (last: the old primary stays dead)', async () => {
    const from = (await reads()) === a.port ? a : b;
    const to = from === a ? b : a;
    await writeRows(primary, 3);
    await Promise.all([waitCaughtUp(a, primary, 60_000), waitCaughtUp(b, primary, 60_000)]);
    await matches(90_000);
    primary.kill();
    await primary.waitExit();
    // promote: replicate from nobody, writable, take the application's writes
    await to.query('STOP REPLICA; RESET REPLICA ALL; SET GLOBAL super_read_only = OFF; SET GLOBAL read_only = OFF');
    await writeRows(to, 5);
    const { status, error } = await run(req(to, from), (ended) => writeUntil(ended, () => writeRows(to, 1)));
    expect(error).toBeUndefined();
    expect(status.outcome).toBe('switched');
    const own = new RegExp(
      `written on the new instance ${to.host}:${to.port} itself \\(server_uuid ${await to.variable('server_uuid')}\\), which is writable and replicates from nobody, so it acts as the primary`,
    );
    expect(status.decisions.some((d) => d.verdict === 'info' && own.test(d.reason))).toBe(true);
    expect(await reads()).toBe(to.port);
    await writeRows(to, 5);
    await downstreamMatches(to, tidb, 90_000);
  });
});
