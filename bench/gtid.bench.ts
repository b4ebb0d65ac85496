/**
 * GTID algebra benchmark: parse + isSubsetOf + subtract on sets of
 * UUIDS × INTERVALS, at 1× (1,000 × 100) and 10× (10,000 × 100 and
 * 1,000 × 1,000), reporting time and retained memory, and the cost per
 * interval so linear growth is visible (equal ns/interval at every size).
 *
 *   npm run bench            (node --expose-gc, so memory is measured after GC)
 */
import { MysqlGtidSet } from '../common/gtid/index.js';

const gc = (globalThis as { gc?: () => void }).gc;
const BASE = 2n ** 60n; // sequence numbers past 2^53: the bigint path is the one measured

function uuid(n: number): string {
  const h = n.toString(16).padStart(12, '0');
  return `3e11fa47-71ca-11e1-9e33-${h}`;
}
/** Each UUID gets `intervals` intervals of `width` GTIDs, every 10th number. */
function text(uuids: number, intervals: number, width: number): string {
  const members: string[] = [];
  for (let u = 0; u < uuids; u++) {
    let m = uuid(u);
    for (let k = 0; k < intervals; k++) {
      const start = BASE + BigInt(k * 10 + 1);
      m += `:${start}-${start + BigInt(width - 1)}`;
    }
    members.push(m);
  }
  return members.join(',\n');
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
function time<T>(fn: () => T, runs: number): { ms: number; value: T } {
  let value!: T;
  const samples: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t = process.hrtime.bigint();
    value = fn();
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return { ms: median(samples), value };
}
function retainedBytes(build: () => unknown): { bytes: number; keep: unknown } {
  gc?.();
  const before = process.memoryUsage().heapUsed;
  const keep = build();
  gc?.();
  return { bytes: process.memoryUsage().heapUsed - before, keep };
}

const sizes: Array<[string, number, number]> = [
  ['1x  1,000 UUIDs x 100 intervals', 1_000, 100],
  ['10x 10,000 UUIDs x 100 intervals', 10_000, 100],
  ['10x 1,000 UUIDs x 1,000 intervals', 1_000, 1_000],
];
const runs = Number(process.env.BENCH_RUNS ?? 5);
if (!gc) console.warn('run with node --expose-gc for memory figures (npm run bench does)');
console.log(`node ${process.version}, median of ${runs} runs\n`);
const rows: Record<string, string | number>[] = [];
for (const [label, uuids, intervals] of sizes) {
  const aText = text(uuids, intervals, 5); // e.g. gtid-S
  const bText = text(uuids, intervals, 7); // e.g. gtid-E ⊇ gtid-S
  const n = uuids * intervals;
  const parse = time(() => MysqlGtidSet.parse(bText), runs);
  const a = MysqlGtidSet.parse(aText);
  const b = parse.value;
  const subset = time(() => a.isSubsetOf(b), runs);
  if (!subset.value) throw new Error('benchmark sets are built so that a ⊆ b');
  const subtract = time(() => b.subtract(a), runs);
  if (subtract.value.count() !== BigInt(n * 2)) throw new Error('subtract result has the wrong size');
  const mem = retainedBytes(() => MysqlGtidSet.parse(bText));
  rows.push({
    size: label,
    'text MB': +(bText.length / 1e6).toFixed(1),
    'parse ms': +parse.ms.toFixed(1),
    'isSubset ms': +subset.ms.toFixed(1),
    'subtract ms': +subtract.ms.toFixed(1),
    'parse ns/interval': Math.round((parse.ms * 1e6) / n),
    'subset+subtract ns/interval': Math.round(((subset.ms + subtract.ms) * 1e6) / n),
    'retained MB': gc ? +(mem.bytes / 1e6).toFixed(1) : 'n/a',
    'bytes/interval': gc ? Math.round(mem.bytes / n) : 'n/a',
  });
  void mem.keep;
}
console.table(rows);
const [one, ...tens] = rows;
for (const ten of tens) {
  const ratio = (k: string) => (Number(ten[k]) / Number(one![k])).toFixed(2);
  console.log(`${ten.size}: time ×${ratio('parse ms')} (parse), ×${ratio('isSubset ms')} (isSubset), ×${ratio('subtract ms')} (subtract), memory ×${ratio('retained MB')} for 10× the input — linear is ×10`);
}
