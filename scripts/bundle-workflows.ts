/**
 * Builds the worker's workflow bundle beforehand, so that a worker started with
 * DM_SWITCH_WORKFLOW_BUNDLE=<file> reads it instead of bundling at every start:
 *
 *   node --import tsx scripts/bundle-workflows.ts /opt/dm-switch/workflows.js
 *
 * Build it from the same code the worker runs (the worker checks, and refuses a bundle built from other code).
 */
import { writeWorkflowBundle } from '../worker/workflow-bundle.js';

const out = process.argv[2];
if (!out) {
  console.error('usage: node --import tsx scripts/bundle-workflows.ts <file>');
  process.exit(2);
}
await writeWorkflowBundle(out);
console.log(`workflow bundle written to ${out}`);
