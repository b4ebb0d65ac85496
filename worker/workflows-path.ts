/** Where the worker (and tests that bundle workflows) find the workflow code. */
import { fileURLToPath } from 'node:url';

export const workflowsPath = fileURLToPath(new URL('../workflows/index.ts', import.meta.url));
/** The workflow interceptors module (bundled with the workflows). */
export const workflowInterceptorsPath = fileURLToPath(new URL('../workflows/interceptors.ts', import.meta.url));
/** The tracing interceptors module (workflows/tracing.ts), bundled with the workflows before the one above. */
export const workflowTracingPath = fileURLToPath(new URL('../workflows/tracing.ts', import.meta.url));
/** Every workflow interceptor module, outermost first. */
export const workflowInterceptorModules = [workflowTracingPath, workflowInterceptorsPath];
