/**
 * Upgrading the worker mid-switch with Worker Deployment Versioning (the only
 * way behaviour changes), on a real dev server with scripted activities: a switch waits
 * at a gate on version v1; version v2, whose workflow code differs (it
 * could not replay v1's switch), is deployed and made current; the gate is
 * approved: the old switch finishes on v1, a new switch runs on v2, and v1
 * is drained and stopped.
 */
import { bundleWorkflowCode, NativeConnection, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseWorkerConfig } from '../../worker/config.js';
import { deploymentOptions } from '../../worker/worker.js';
import { workflowsPath } from '../../worker/workflows-path.js';
import { approveSignal } from '../../common/switch/messages.js';
import { switchWorkflowId } from '../../common/switch/ids.js';
import { fakeWorld, input, pendingGate, scriptedServer, useScriptedTemporal } from './scripted-world.js';

const { client } = useScriptedTemporal();
const v2Interceptors = join(import.meta.dirname, 'fixtures/v2-interceptors.ts');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const DEPLOYMENT = 'dm-switch-upgrade-test';
const taskQueue = 'versioned';
let v2Bundle: WorkflowBundleWithSourceMap;

beforeAll(async () => {
  v2Bundle = await bundleWorkflowCode({ workflowsPath, workflowInterceptorModules: [v2Interceptors] });
}, 120_000);

/** The worker's own options from a configuration naming the deployment, the build ID given as operators do. */
const versionOf = (buildId: string) => {
  const config = parseWorkerConfig(
    `taskQueue: ${taskQueue}\ndeployment: { name: ${DEPLOYMENT} }\ndm: { clusters: {} }\n`,
  );
  return deploymentOptions(config, { DM_SWITCH_BUILD_ID: buildId })!;
};

/** Makes `buildId` the deployment's current version, once the server has seen its worker poll. */
async function setCurrent(c: Client, buildId: string): Promise<void> {
  let last: unknown;
  for (let i = 0; i < 100; i++) {
    try {
      await c.workflowService.setWorkerDeploymentCurrentVersion({
        namespace: 'default',
        deploymentName: DEPLOYMENT,
        buildId,
        identity: 'upgrade-test',
      });
      return;
    } catch (e) {
      last = e;
      await sleep(200);
    }
  }
  throw new Error(`could not make ${buildId} current: ${String(last)}`);
}

/** The build IDs of the workers that completed the switch's workflow tasks. */
async function buildIdsOf(h: WorkflowHandle): Promise<string[]> {
  const events = (await h.fetchHistory()).events ?? [];
  return [
    ...new Set(
      events.flatMap((e) =>
        e.workflowTaskCompletedEventAttributes
          ? [e.workflowTaskCompletedEventAttributes.deploymentVersion?.buildId ?? '(none)']
          : [],
      ),
    ),
  ];
}

describe('upgrading the worker mid-switch (Worker Deployment Versioning)', () => {
  it('given a switch waiting at a gate on v1 and v2 made current, should finish it on v1, run a new switch on v2, and let v1 drain and stop', async () => {
    const { address, bundle } = scriptedServer();
    const c = client();
    const connection = await NativeConnection.connect({ address });
    const w1 = fakeWorld();
    const w2 = fakeWorld();
    const v1 = await Worker.create({
      connection,
      taskQueue,
      workflowBundle: bundle,
      activities: w1.activities,
      workerDeploymentOptions: versionOf('v1'),
    });
    const v1Run = v1.run();
    let v2: Worker | undefined;
    let v2Run: Promise<void> | undefined;
    try {
      await setCurrent(c, 'v1');
      const old = await c.workflow.start('vipSwitch', {
        taskQueue,
        workflowId: switchWorkflowId('default', 'src'),
        args: [input({ approvals: { gates: ['before-freeze'], timeoutSeconds: 600 } })],
      });
      await pendingGate(old, 'before-freeze', 300);

      // deploy v2 beside v1 and make it current while the old switch waits
      v2 = await Worker.create({
        connection,
        taskQueue,
        workflowBundle: v2Bundle,
        activities: w2.activities,
        workerDeploymentOptions: versionOf('v2'),
      });
      v2Run = v2.run();
      await setCurrent(c, 'v2');
      const fresh = await c.workflow.start('vipSwitch', {
        taskQueue,
        workflowId: switchWorkflowId('default', 'src2'),
        args: [input({ sourceId: 'src2' })],
      });

      // what an operator counts to see what still runs on v1: the waiting switch
      const onV1Query = `TemporalWorkerDeploymentVersion = "${DEPLOYMENT}:v1" AND ExecutionStatus = "Running"`;
      let waiting = 0;
      for (let i = 0; i < 50 && waiting === 0; i++, await sleep(200))
        waiting = (await c.workflow.count(onV1Query)).count;
      expect(waiting).toBe(1);
      await old.signal(approveSignal, { gate: 'before-freeze', by: 'dba' });
      const [oldEnd, freshEnd] = await Promise.all([old.result(), fresh.result()]);
      expect(oldEnd.outcome).toBe('switched');
      expect(freshEnd.outcome).toBe('switched');
      // each switch ran all its workflow tasks on its own version, and the activities followed
      expect(await buildIdsOf(old)).toEqual(['v1']);
      expect(await buildIdsOf(fresh)).toEqual(['v2']);
      expect(w1.calls).toContain('vipMove new.example');
      expect(w2.calls).toContain('vipMove new.example');
      expect((await fresh.describe()).memo).toEqual({ codeVersion: 'v2' });
      // the code differs for real: v2 cannot replay the switch that v1 ran
      await expect(
        Worker.runReplayHistory(
          { workflowsPath, interceptors: { workflowModules: [v2Interceptors] } },
          await old.fetchHistory(),
          old.workflowId,
        ),
      ).rejects.toThrow(/[Nn]ondeterminism/);

      // v1 drains: nothing runs pinned to it any more, so it can be stopped
      expect((await c.workflow.count(onV1Query)).count).toBe(0);
      v1.shutdown();
      await v1Run;
      const after = await c.workflow.start('vipSwitch', {
        taskQueue,
        workflowId: switchWorkflowId('default', 'src3'),
        args: [input({ sourceId: 'src3' })],
      });
      expect((await after.result()).outcome).toBe('switched');
      expect(await buildIdsOf(after)).toEqual(['v2']);
    } finally {
      if (v1.getState() === 'RUNNING') v1.shutdown();
      await v1Run.catch(() => undefined);
      if (v2?.getState() === 'RUNNING') v2.shutdown();
      await v2Run?.catch(() => undefined);
      await connection.close();
    }
  });
});
