/**
 * Starting switches from any client (our CLI, the alert webhook, scripts):
 * validated before anything is sent, one switch per source at a time.
 *
 * The workflow ID is the business key dm-switch/<dmCluster>/<sourceId>, and
 * the start uses the conflict policy FAIL: while a switch of a source runs, a
 * second one is refused with a message that says which run holds the source
 * and how to watch or cancel it. A finished switch does not block a new one.
 */
import { WorkflowExecutionAlreadyStartedError, type Client, type WorkflowHandle } from '@temporalio/client';
import { DEFAULT_TASK_QUEUE, switchWorkflowId } from '../common/switch/ids.js';
import { validateVipSwitchInput, type VipSwitchInput, type VipSwitchRequest } from '../common/switch/input.js';

export class SwitchRequestError extends Error {
  override readonly name = 'SwitchRequestError';
  constructor(
    message: string,
    readonly code: 'invalid-input' | 'already-running',
  ) {
    super(message);
  }
}

export interface StartedSwitch {
  workflowId: string;
  runId: string;
  input: VipSwitchInput;
  handle: WorkflowHandle;
}

export async function startVipSwitch(client: Client, request: unknown, options: { taskQueue?: string } = {}): Promise<StartedSwitch> {
  const v = validateVipSwitchInput(request);
  if (!v.ok) throw new SwitchRequestError(`invalid switch request, nothing was started:\n${v.problems.map((p) => `  - ${p}`).join('\n')}`, 'invalid-input');
  const input = v.value;
  const workflowId = switchWorkflowId(input.dmCluster, input.sourceId);
  const summary = `${input.options.dryRun ? 'Dry run: ' : ''}VIP switch of DM source ${input.sourceId} to ${input.newInstance.host}:${input.newInstance.port}`;
  try {
    const handle = await client.workflow.start('vipSwitch', {
      taskQueue: options.taskQueue ?? DEFAULT_TASK_QUEUE,
      workflowId,
      args: [input satisfies VipSwitchRequest],
      workflowIdConflictPolicy: 'FAIL',
      workflowIdReusePolicy: 'ALLOW_DUPLICATE',
      staticSummary: summary,
      staticDetails: [`requested by: ${input.requestedBy ?? 'unknown'}`, `reason: ${input.reason ?? '(none given)'}`].join('\n'),
    });
    return { workflowId, runId: handle.firstExecutionRunId, input, handle };
  } catch (e) {
    if (e instanceof WorkflowExecutionAlreadyStartedError) {
      const running = await client.workflow.getHandle(workflowId).describe().catch(() => undefined);
      throw new SwitchRequestError(
        `a switch of DM source ${input.sourceId} (cluster ${input.dmCluster}) is already running` +
          `${running ? ` (run ${running.runId}, started ${running.startTime.toISOString()})` : ''}: only one switch per source at a time. ` +
          `Watch it with \`temporal workflow query --workflow-id ${workflowId} --type status\`, or cancel it first.`,
        'already-running',
      );
    }
    throw e;
  }
}
