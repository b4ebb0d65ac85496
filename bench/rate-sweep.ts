/**
 * The whole switch at several write rates (BENCH_RATES=idle,1,3,20 rows/s) and with the tasks' checkpoint flush
 * interval DM ships with (30 s) or shorter ones (BENCH_FLUSH=default,3), or DM's with continuous validation on the
 * task, for which verification asks DM to flush at the resume point (BENCH_FLUSH=validation: run as ADDRESS switches,
 * since a VIP switch of a task whose validator runs is refused: the validator's own binlog connection would stay on
 * the old instance across pause/resume; its pause window runs from stop-task to Running again): the median per
 * rate and per phase
 * (preflight, pause window, verification), for pause-window.bench.ts's sweep mode.
 *
 * The writer (test/sandbox/write-rate.ts) commits plain INSERTs, no DDL: DM flushes its checkpoint after every DDL.
 */
import type { Rate } from '../test/sandbox/write-rate.js';
export interface Phases {
  total: number;
  preflight: number;
  pause: number;
  verify: number;
}

export function parseRates(text: string): Rate[] {
  return text.split(',').map((x) => {
    if (x.trim() === 'idle') return 'idle';
    const n = Number(x);
    if (!(n > 0)) throw new Error(`BENCH_RATES: "${x}" is neither "idle" nor a number of rows per second`);
    return n;
  });
}

/**
 * 'default': the task config names no checkpoint-flush-interval, so DM's own (30 s) applies; 'validation': the same
 * with continuous validation (mode fast) on the task, so verification can ask DM for an early flush.
 */
export type Flush = 'default' | 'validation' | number;

export function parseFlushes(text: string): Flush[] {
  return text
    .split(',')
    .map((x) => (x.trim() === 'default' || x.trim() === 'validation' ? x.trim() : Number(x)) as Flush);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

const spread = (xs: number[]) => (xs.length ? `${Math.round(Math.min(...xs))}–${Math.round(Math.max(...xs))}` : '');

export async function loadAverage(): Promise<string> {
  const { readFile } = await import('node:fs/promises');
  return (await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ');
}

export interface SweepResult {
  flush: Flush;
  rate: Rate;
  runs: Phases[];
  load: string;
}

export function printSweep(results: SweepResult[]): void {
  console.log(
    'whole switch per write rate and checkpoint flush interval (medians over the rounds, ms): VIP switches, ' +
      'address switches for the task with validation',
  );
  console.table(
    results.map((r) => ({
      'checkpoint flush':
        r.flush === 'default'
          ? "30 s (DM's default)"
          : r.flush === 'validation'
            ? '30 s + validation (early flush), address switch'
            : `${r.flush} s`,
      'rows/s': r.rate,
      rounds: r.runs.length,
      'whole switch': Math.round(median(r.runs.map((x) => x.total))),
      'min–max': spread(r.runs.map((x) => x.total)),
      preflight: Math.round(median(r.runs.map((x) => x.preflight))),
      'pause window': Math.round(median(r.runs.map((x) => x.pause))),
      verification: Math.round(median(r.runs.map((x) => x.verify))),
      '≤ 10 s': median(r.runs.map((x) => x.total)) <= 10_000 ? 'yes' : 'NO',
      'load avg (1/5/15 min) after': r.load,
    })),
  );
}
