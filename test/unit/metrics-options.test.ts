import { describe, expect, it } from 'vitest';
import { METRIC_BUCKETS, METRICS } from '../../common/switch/metrics.js';
import { boundedMap, metricsListen, switchGaugeOptions } from '../../worker/metrics.js';

describe('switch metrics settings', () => {
  it('should default to a 15 s reading and a 24 h lookback', () => {
    expect(switchGaugeOptions({})).toEqual({ intervalMs: 15_000, lookbackMs: 86_400_000 });
    expect(
      switchGaugeOptions({ DM_SWITCH_METRICS_INTERVAL_SECONDS: '0.5', DM_SWITCH_METRICS_LOOKBACK_HOURS: '2' }),
    ).toEqual({ intervalMs: 500, lookbackMs: 7_200_000 });
  });
  it.each(['0', '-1', 'soon', 'NaN'])(
    'given DM_SWITCH_METRICS_INTERVAL_SECONDS=%s, should name the variable and say what it takes',
    (v) => {
      expect(() => switchGaugeOptions({ DM_SWITCH_METRICS_INTERVAL_SECONDS: v })).toThrow(
        `DM_SWITCH_METRICS_INTERVAL_SECONDS must be a positive number, not "${v}"`,
      );
    },
  );
  it('should give both histograms increasing second boundaries', () => {
    for (const name of [METRICS.pauseWindow.name, METRICS.duration.name]) {
      const b = METRIC_BUCKETS[name]!;
      expect(b.length).toBeGreaterThan(5);
      expect([...b].sort((x, y) => x - y)).toEqual(b);
    }
  });
  it('should listen on loopback unless an address is named', () => {
    expect(metricsListen(undefined)).toBeUndefined();
    expect(metricsListen('9464')).toBe('127.0.0.1:9464');
    expect(metricsListen(':9464')).toBe('127.0.0.1:9464');
    expect(metricsListen('0.0.0.0:9464')).toBe('0.0.0.0:9464');
    expect(() => metricsListen('9464 --x')).toThrow(/DM_SWITCH_METRICS_LISTEN must be host:port or a port/);
  });
  it('should run status queries at most N at once, in order', async () => {
    let now = 0;
    let most = 0;
    const got = await boundedMap([1, 2, 3, 4, 5, 6, 7], 3, async (x) => {
      most = Math.max(most, ++now);
      await new Promise((r) => setTimeout(r, 5));
      now--;
      return x * 2;
    });
    expect(got).toEqual([2, 4, 6, 8, 10, 12, 14]);
    expect(most).toBe(3);
  });
});
