/**
 * A workflow-only worker as its own process, for a test that must lose a
 * worker holding a started workflow task (SIGSTOP, then SIGKILL): prints
 * "ready" once it polls. Env: TEMPORAL_ADDRESS, TASK_QUEUE.
 */
import { NativeConnection, Worker } from '@temporalio/worker';
import { workflowsPath } from '../../worker/workflows-path.js';

const connection = await NativeConnection.connect({ address: process.env.TEMPORAL_ADDRESS! });
const worker = await Worker.create({ connection, taskQueue: process.env.TASK_QUEUE!, workflowsPath });
const run = worker.run();
console.log('ready');
await run;
