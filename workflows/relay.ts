/**
 * Relay, started again at the end of a switch (VIP or address): its undo, stopping it before the switch goes back,
 * is registered before the change, as every undo is.
 */
import { byHand } from '../common/switch/runbook.js';
import { dm, undoDm } from './activities.js';
import { guarded, type Undo } from './compensation.js';
import type { Tracker } from './tracker.js';

/** start-relay on the source, with `stop-relay (before <goingBack>)` registered first. */
export async function startRelay(
  t: Tracker,
  undo: Undo[],
  req: { dmCluster: string; sourceId: string },
  goingBack: string,
): Promise<void> {
  const { dmCluster, sourceId } = req;
  const stopRelayUndo: Undo = {
    name: `stop-relay -s ${sourceId} (before ${goingBack})`,
    byHand: byHand.stopRelay(sourceId),
    run: () => undoDm.dmStopRelay({ dmCluster, sourceId }),
  };
  const relay = await guarded(undo, stopRelayUndo, () => dm.dmStartRelay({ dmCluster, sourceId }));
  const detail = relay ? `relay ${relay.stage} on sub-directory ${relay.relaySubDir}` : 'relay status not yet reported';
  t.step(`start-relay -s ${sourceId}`, 'done', detail);
}
