/**
 * GTID algebra benchmark, side by side with MySQL 9.7's own GTID_SUBSET and
 * GTID_SUBTRACT: ours must take at most half their time, so that checking GTID
 * sets never makes a switch slower than asking the server would.
 *
 * Sets are UUIDS × INTERVALS; b has the same intervals as a, each 2 GTIDs
 * longer, so a ⊆ b and b \ a has 2 GTIDs per interval. Each size is measured
 * with sequence numbers of three magnitudes: small (1 … 10^3), realistic for a
 * busy server (≈ 10^9) and past 2^53 (≈ 2^60, where exact doubles end).
 *
 * 1. Against MySQL (1,000 × 100 and 10,000 × 100): a sandbox MySQL 9.7 (see
 *    test/sandbox/db.ts) runs `SELECT BENCHMARK(n, GTID_SUBSET(@a, @b))` and
 *    `… GTID_SUBTRACT(@b, @a)` with both texts in user variables; MySQL parses
 *    both texts on every call, so the time per call (best of 3, divided by n)
 *    is compared with parsing both texts and operating in Node (best of 7,
 *    after 2 warm-up runs). GTID_SUBTRACT returns text, so the Node figure
 *    compared with it includes formatting the result (toString()), as MySQL's
 *    does; the extra column shows parse + subtract alone.
 * 2. Linearity and memory (Node only): parse, isSubsetOf, subtract and toString at 1×
 *    (1,000 × 100) and 10× (10,000 × 100 and 1,000 × 1,000), with the memory a
 *    parsed set keeps (heap and array buffers), so linear growth is visible
 *    as equal ns/interval and bytes/interval at every size.
 *
 *   npm run bench            (node --expose-gc, so memory is measured after GC)
 *
 * BENCH_RUNS (Node runs, default 7), BENCH_MYSQL_RUNS (default 3) and
 * BENCH_MYSQL=0 (skip the comparison, e.g. without the sandbox) adjust it.
 */
import mysql from 'mysql2/promise';
import { MysqlGtidSet } from '../common/gtid/index.js';
import { startDb, type DbInstance } from '../test/sandbox/db.js';

const gc = (globalThis as { gc?: () => void }).gc;
const NODE_RUNS = Number(process.env.BENCH_RUNS ?? 7);
const MYSQL_RUNS = Number(process.env.BENCH_MYSQL_RUNS ?? 3);
const WITH_MYSQL = process.env.BENCH_MYSQL !== '0';
const TARGET = 0.5;

const MAGNITUDES: Array<{ label: string; base: bigint }> = [
  { label: 'small 1..10^3', base: 0n },
  { label: 'realistic ~10^9', base: 10n ** 9n },
  { label: 'past 2^53 ~2^60', base: 2n ** 60n },
];

function uuid(n: number): string {
  const h = n.toString(16).padStart(12, '0');
  return `3e11fa47-71ca-11e1-9e33-${h}`;
}
/** Each UUID gets `intervals` intervals of `width` GTIDs, one every 10 numbers from base + 1. */
function text(base: bigint, uuids: number, intervals: number, width: number): string {
  const members: string[] = [];
  for (let u = 0; u < uuids; u++) {
    let m = uuid(u);
    for (let k = 0; k < intervals; k++) {
      const start = base + BigInt(k * 10 + 1);
      m += `:${start}-${start + BigInt(width - 1)}`;
    }
    members.push(m);
  }
  return members.join(',\n');
}
function pair(base: bigint, uuids: number, intervals: number): { a: string; b: string; n: number } {
  return { a: text(base, uuids, intervals, 5), b: text(base, uuids, intervals, 7), n: uuids * intervals };
}

/** Best time in ms of `runs` runs of fn (after `warmup` untimed ones), collecting garbage before each. */
function best<T>(fn: () => T, runs: number, warmup = 2): { ms: number; value: T } {
  let value!: T;
  for (let r = 0; r < warmup; r++) value = fn();
  let ms = Infinity;
  for (let r = 0; r < runs; r++) {
    gc?.();
    const t = performance.now();
    value = fn();
    ms = Math.min(ms, performance.now() - t);
  }
  return { ms, value };
}
function median<T>(fn: () => T, runs: number): { ms: number; value: T } {
  let value!: T;
  const samples: number[] = [];
  for (let r = 0; r < runs; r++) {
    gc?.();
    const t = performance.now();
    value = fn();
    samples.push(performance.now() - t);
  }
  samples.sort((x, y) => x - y);
  return { ms: samples[Math.floor(samples.length / 2)]!, value };
}
function retained(build: () => unknown): { heap: number; buffers: number; keep: unknown } {
  // twice: V8 releases the memory of dead array buffers one collection late
  const settle = () => {
    gc?.();
    gc?.();
  };
  settle();
  const before = process.memoryUsage();
  const keep = build();
  settle();
  const after = process.memoryUsage();
  return { heap: after.heapUsed - before.heapUsed, buffers: after.arrayBuffers - before.arrayBuffers, keep };
}
const fixed = (x: number, digits = 1) => +x.toFixed(digits);

// ---------------------------------------------------------------------------
// 1. Against MySQL

/** Best time in ms of one evaluation of `expr` inside BENCHMARK, on one connection holding @a and @b. */
async function mysqlBest(c: mysql.Connection, expr: string): Promise<number> {
  // size n so that one BENCHMARK takes about half a second
  let t = performance.now();
  await c.query(`SELECT BENCHMARK(1, ${expr})`);
  const once = performance.now() - t;
  const n = Math.max(1, Math.min(1000, Math.round(500 / Math.max(once, 0.01))));
  let ms = Infinity;
  for (let r = 0; r < MYSQL_RUNS; r++) {
    t = performance.now();
    await c.query(`SELECT BENCHMARK(${n}, ${expr})`);
    ms = Math.min(ms, (performance.now() - t) / n);
  }
  return ms;
}

async function againstMysql(): Promise<void> {
  console.log(
    '\n1. Parse both texts and operate: Node vs MySQL 9.7 (BENCHMARK per call), ratio = Node / MySQL, target <= 0.5\n',
  );
  let db: DbInstance | undefined;
  let c: mysql.Connection | undefined;
  try {
    // the 10,000 x 100 texts at 2^60 are ~40 MB each, in one statement each
    db = await startDb({ flavor: 'mysql', name: 'gtid-bench', args: ['--max-allowed-packet=1G'] }).catch(
      (e: unknown) => {
        throw new Error(
          `cannot start the sandbox MySQL (scripts/setup.sh builds it; BENCH_MYSQL=0 skips this part): ${String(e)}`,
        );
      },
    );
    c = await mysql.createConnection(db.connectionOptions);
    const [[info]] = (await c.query(
      'SELECT @@version AS version, @@gtid_mode AS mode, @@max_allowed_packet AS packet',
    )) as unknown as [Array<{ version: string; mode: string; packet: string }>];
    console.log(
      `MySQL ${info!.version} (gtid_mode ${info!.mode}, max_allowed_packet ` +
        `${info!.packet}), node ${process.version}; MySQL best of ${MYSQL_RUNS}, Node best of ${NODE_RUNS}`,
    );
    const rows: Record<string, string | number>[] = [];
    const misses: string[] = [];
    for (const [uuids, intervals] of [
      [1_000, 100],
      [10_000, 100],
    ] as const) {
      for (const { label, base } of MAGNITUDES) {
        const { a, b, n } = pair(base, uuids, intervals);
        await c.query('SET @a = ?', [a]);
        await c.query('SET @b = ?', [b]);
        // the two sides must agree before their times are compared
        const [[check]] = (await c.query(
          'SELECT GTID_SUBSET(@a, @b) AS subset, GTID_SUBTRACT(@b, @a) AS diff',
        )) as unknown as [Array<{ subset: number | string; diff: string }>];
        const ours = MysqlGtidSet.parse(b).subtract(MysqlGtidSet.parse(a));
        if (Number(check!.subset) !== 1 || !MysqlGtidSet.parse(a).isSubsetOf(MysqlGtidSet.parse(b)))
          throw new Error('benchmark sets are built so that a ⊆ b');
        if (check!.diff !== ours.toString())
          throw new Error(`GTID_SUBTRACT and subtract() disagree at ${uuids} x ${intervals}, ${label}`);
        if (ours.count() !== BigInt(2 * n)) throw new Error('subtract result has the wrong size');

        const size = `${uuids.toLocaleString('en')} x ${intervals}`;
        const textMb = fixed((a.length + b.length) / 1e6);
        const mySubset = await mysqlBest(c, 'GTID_SUBSET(@a, @b)');
        const nodeSubset = best(() => MysqlGtidSet.parse(a).isSubsetOf(MysqlGtidSet.parse(b)), NODE_RUNS);
        if (!nodeSubset.value) throw new Error('isSubsetOf is wrong');
        const mySubtract = await mysqlBest(c, 'GTID_SUBTRACT(@b, @a)');
        const nodeSubtract = best(() => MysqlGtidSet.parse(b).subtract(MysqlGtidSet.parse(a)), NODE_RUNS);
        const nodeSubtractText = best(
          () => MysqlGtidSet.parse(b).subtract(MysqlGtidSet.parse(a)).toString(),
          NODE_RUNS,
        );
        for (const [op, node, server, extra] of [
          ['parse both + isSubsetOf           vs GTID_SUBSET', nodeSubset.ms, mySubset, ''],
          [
            'parse both + subtract + toString  vs GTID_SUBTRACT',
            nodeSubtractText.ms,
            mySubtract,
            fixed(nodeSubtract.ms),
          ],
        ] as const) {
          const ratio = node / server;
          if (ratio > TARGET) misses.push(`${op} at ${size}, ${label}: ${ratio.toFixed(2)}`);
          rows.push({
            size,
            numbers: label,
            'texts MB': textMb,
            operation: op,
            'Node ms': fixed(node),
            'MySQL ms': fixed(server),
            ratio: fixed(ratio, 2),
            'meets <= 0.5': ratio <= TARGET ? 'yes' : 'NO',
            'Node ms without toString()': extra,
          });
        }
      }
    }
    console.table(rows);
    console.log(
      misses.length === 0
        ? 'every case meets the target (ratio <= 0.5)'
        : `cases missing the target:\n  ${misses.join('\n  ')}`,
    );
  } finally {
    await c?.end().catch(() => undefined);
    await db?.destroy();
  }
}

// ---------------------------------------------------------------------------
// 2. Linearity and memory

function linearity(): void {
  const sizes: Array<[string, number, number]> = [
    ['1x  1,000 UUIDs x 100 intervals', 1_000, 100],
    ['10x 10,000 UUIDs x 100 intervals', 10_000, 100],
    ['10x 1,000 UUIDs x 1,000 intervals', 1_000, 1_000],
  ];
  if (!gc) console.warn('run with node --expose-gc for memory figures (npm run bench does)');
  for (const { label: magnitude, base } of MAGNITUDES) {
    console.log(`\n2. Linearity and memory, numbers ${magnitude} (Node only, median of ${NODE_RUNS} runs)\n`);
    const rows: Record<string, string | number>[] = [];
    for (const [label, uuids, intervals] of sizes) {
      const { a: aText, b: bText, n } = pair(base, uuids, intervals);
      for (let r = 0; r < 2; r++) MysqlGtidSet.parse(bText); // warm up
      const parse = median(() => MysqlGtidSet.parse(bText), NODE_RUNS);
      const a = MysqlGtidSet.parse(aText);
      const b = parse.value;
      const subset = median(() => a.isSubsetOf(b), NODE_RUNS);
      if (!subset.value) throw new Error('benchmark sets are built so that a ⊆ b');
      const subtract = median(() => b.subtract(a), NODE_RUNS);
      if (subtract.value.count() !== BigInt(n * 2)) throw new Error('subtract result has the wrong size');
      const formatted = median(() => subtract.value.toString(), NODE_RUNS);
      const mem = retained(() => MysqlGtidSet.parse(bText));
      const bytes = mem.heap + mem.buffers;
      rows.push({
        size: label,
        'text MB': fixed(bText.length / 1e6),
        'parse ms': fixed(parse.ms),
        'isSubset ms': fixed(subset.ms),
        'subtract ms': fixed(subtract.ms),
        'toString ms': fixed(formatted.ms),
        'parse ns/interval': Math.round((parse.ms * 1e6) / n),
        'subset+subtract ns/interval': Math.round(((subset.ms + subtract.ms) * 1e6) / n),
        'retained MB': gc ? fixed(bytes / 1e6) : 'n/a',
        'of which buffers MB': gc ? fixed(mem.buffers / 1e6) : 'n/a',
        'bytes/interval': gc ? Math.round(bytes / n) : 'n/a',
      });
      void mem.keep;
    }
    console.table(rows);
    const [one, ...tens] = rows;
    for (const ten of tens) {
      const ratio = (k: string) => (Number(ten[k]) / Number(one![k])).toFixed(2);
      console.log(
        `${ten.size}: time ×${ratio('parse ms')} (parse), ×${ratio('isSubset ms')} (isSubset), ` +
          `×${ratio('subtract ms')} (subtract), ×${ratio('toString ms')} (toString), ` +
          `memory ×${ratio('retained MB')} for 10× the input — linear is ×10`,
      );
    }
  }
}

console.log(`node ${process.version}`);
if (WITH_MYSQL) await againstMysql();
else console.log('BENCH_MYSQL=0: skipping the comparison with MySQL');
linearity();
