/** Where the worker (and tests that bundle workflows) find the workflow code. */
import { fileURLToPath } from 'node:url';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
