/**
 * The worker process:
 *
 *   DM_SWITCH_CONFIG=/etc/dm-switch/worker.yaml node --import tsx worker/main.ts
 *
 * Temporal connection: @temporalio/envconfig (TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS, or a profile in temporal.toml
 * chosen by TEMPORAL_PROFILE). A bad configuration stops it at start with a
 * message naming the bad key.
 */
import { runWorkerProcess } from './run.js';

await runWorkerProcess();
