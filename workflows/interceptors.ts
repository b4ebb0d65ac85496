/**
 * Every activity a switch schedules carries the DM source in a header, so
 * the worker's log lines name the source even for activities whose input
 * does not (e.g. reading an instance). The source comes from the switch's
 * own search attribute, set before its first activity.
 */
import { defaultPayloadConverter } from '@temporalio/common';
import { workflowInfo, type WorkflowInterceptorsFactory } from '@temporalio/workflow';
import { SOURCE_HEADER } from '../common/switch/ids.js';
import { SA } from '../common/switch/search-attributes.js';

export const interceptors: WorkflowInterceptorsFactory = () => ({
  outbound: [
    {
      async scheduleActivity(input, next) {
        const source = workflowInfo().typedSearchAttributes.get(SA.source);
        return next(
          source
            ? { ...input, headers: { ...input.headers, [SOURCE_HEADER]: defaultPayloadConverter.toPayload(source) } }
            : input,
        );
      },
    },
  ],
});
