/**
 * Target choice passes over hosts under maintenance (activities/host-marks.ts
 * says what marks a host): a source is never moved onto a host that a drain
 * is emptying or has emptied, whether it is a candidate or named as the
 * target. Read in an activity (Temporal is an outside system here).
 */
import { proxyActivities } from '@temporalio/workflow';
import type { HostMarkActivities } from '../activities/host-marks.js';
import { SwitchErrorType } from '../common/switch/errors.js';
import type { InstanceRef } from '../common/switch/input.js';
import { refuse } from './preflight.js';
import type { Tracker } from './tracker.js';

const marks = proxyActivities<HostMarkActivities>({
  startToCloseTimeout: '1m',
  heartbeatTimeout: '10s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s', maximumAttempts: 5 },
});

/** For each target, why it may not be one (its host is under drain), or null. */
export async function drainMarks(targets: InstanceRef[]): Promise<Array<string | null>> {
  if (targets.length === 0) return [];
  const found = await marks.hostMarksOf({ targets: targets.map((r) => ({ host: r.host, port: r.port })) });
  return found.map((m) => (m ? `${m.reason}; undrain it first, or choose another target` : null));
}

/** A named target on a host under maintenance: refused before anything changes. */
export async function refuseDrainedTarget(t: Tracker, target: InstanceRef): Promise<void> {
  const [why] = await drainMarks([target]);
  if (!why) return;
  const at = `${target.host}:${target.port}`;
  refuse(t, SwitchErrorType.PreflightFailed, `the target ${at} may not be one, nothing was changed: ${why}`);
}
