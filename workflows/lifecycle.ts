/**
 * How every switch begins and ends: its record exists (and answers the
 * status query) before anything else, even for input it will refuse; the
 * input is validated and refused before any change; the approval gates are
 * set up; then its steps run, and whatever fails after a change is undone.
 */
import { setHandler, workflowInfo } from '@temporalio/workflow';
import { switchWorkflowId } from '../common/switch/ids.js';
import { SwitchErrorType } from '../common/switch/errors.js';
import type { Approvals, Validation } from '../common/switch/input.js';
import { statusQuery } from '../common/switch/messages.js';
import { GATES, type SwitchStatus } from '../common/switch/status.js';
import { Gates } from './approvals.js';
import { compensate, type Undo } from './compensation.js';
import { refuse } from './preflight.js';
import type { GtidCheckResult } from './gtid-check.js';
import { Tracker } from './tracker.js';

export type Steps<I> = (t: Tracker, gates: Gates, input: I, undo: Undo[]) => Promise<SwitchStatus>;

export async function runSwitch<I extends { approvals: Approvals; dmCluster: string; sourceId: string }>(
  kind: SwitchStatus['kind'],
  request: unknown,
  validate: (raw: unknown) => Validation<I>,
  steps: Steps<I>,
): Promise<SwitchStatus> {
  const raw = request as
    | {
        dmCluster?: unknown;
        sourceId?: unknown;
        options?: { dryRun?: unknown };
        requestedBy?: unknown;
        reason?: unknown;
      }
    | undefined;
  const t = new Tracker({
    kind,
    dmCluster: typeof raw?.dmCluster === 'string' ? raw.dmCluster : 'default',
    sourceId: typeof raw?.sourceId === 'string' ? raw.sourceId : '(invalid input)',
    dryRun: raw?.options?.dryRun === true,
    requestedBy: typeof raw?.requestedBy === 'string' ? raw.requestedBy : undefined,
    reason: typeof raw?.reason === 'string' ? raw.reason : undefined,
  });
  setHandler(statusQuery, () => t.status);
  const v = validate(request);
  const gates = new Gates(t, v.ok ? v.value.approvals : { gates: [], timeoutSeconds: 3_600 });
  if (!v.ok) refuse(t, SwitchErrorType.InvalidInput, `invalid input, nothing was changed: ${v.problems.join('; ')}`);
  // one switch per source: the workflow ID is the business key, so Temporal refuses a second concurrent start
  const want = switchWorkflowId(v.value.dmCluster, v.value.sourceId);
  const id = workflowInfo().workflowId;
  if (id !== want) {
    refuse(
      t,
      SwitchErrorType.InvalidInput,
      `this switch runs under workflow ID "${id}", but a switch of source ` +
        `${v.value.sourceId} (DM cluster ${v.value.dmCluster}) must run under "${want}", ` +
        `so that no two switches of one source run at once; nothing was changed. ` +
        (`Start it again with that workflow ID (temporal workflow start --workflow-id ` +
          `'${want}' …, or the Web UI's Workflow ID field); dm-switch and the webhook do so`),
    );
  }
  const undo: Undo[] = [];
  try {
    return await steps(t, gates, v.value, undo);
  } catch (err) {
    return await compensate(t, undo, err);
  } finally {
    // a gate's notification still in flight is waited for (no command: a switch without one waits for nothing)
    await gates.noticesSent();
  }
}

/** A dry run ends after every check: it says at which gates it would wait, changes nothing. */
export async function endDryRun(t: Tracker, gates: Gates, verdict: GtidCheckResult['verdict']): Promise<SwitchStatus> {
  for (const gate of GATES) await gates.pass(gate);
  t.decide('info', `dry run: every check done, nothing changed; verdict ${verdict}`);
  t.finish('dry-run');
  return t.status;
}
