import { describe, expect, it } from 'vitest';
import { CATCH_UP_SECONDS, catchUpSeconds } from '../../activities/dm/positions.js';
import { ConfigError, parseWorkerConfig } from '../../worker/config.js';

const config = (cluster: string) =>
  `dm:\n  clusters:\n    default: { masterAddr: "127.0.0.1:8261", dmctl: /usr/local/bin/dmctl${cluster} }\n`;

describe("how long the check after an undo waits for a running task's position to move", () => {
  it("given no checkpointFlushSeconds, should wait DM's default three flushes of 30 s", () => {
    const c = parseWorkerConfig(config('')).dm.clusters.default!;
    expect(c.checkpointFlushSeconds).toBeUndefined();
    expect(catchUpSeconds(c)).toBe(CATCH_UP_SECONDS);
    expect(CATCH_UP_SECONDS).toBe(90);
  });

  it('given a cluster whose tasks flush their checkpoint every 5 s, should wait three of those', () => {
    const c = parseWorkerConfig(config(', checkpointFlushSeconds: 5')).dm.clusters.default!;
    expect(catchUpSeconds(c)).toBe(15);
  });

  it('given a flush interval that is no whole number of seconds, should refuse the configuration naming it', () => {
    for (const bad of ['0', '2.5', '"30"']) {
      expect(() => parseWorkerConfig(config(`, checkpointFlushSeconds: ${bad}`))).toThrow(ConfigError);
      expect(() => parseWorkerConfig(config(`, checkpointFlushSeconds: ${bad}`))).toThrow(
        /dm\.clusters\.default\.checkpointFlushSeconds/,
      );
    }
  });
});
