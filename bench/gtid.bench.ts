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
 *    both texts on every call. Node does the same work per call: parse both
 *    texts and operate; GTID_SUBTRACT returns text, so the Node call compared
 *    with it includes toString(). The two sides are interleaved: BENCH_ROUNDS
 *    rounds (default 5), each one MySQL BENCHMARK then BENCH_RUNS Node calls
 *    (their median), so both are measured under the same load; a round's ratio
 *    is Node / MySQL per call. Per size it prints the median ratio, its min–max
 *    over the rounds, and PASS or FAIL against 0.5. The verdict uses CPU time
 *    (mysqld's user+system from /proc, this process's from process.cpuUsage()),
 *    which other processes on a loaded machine disturb less than wall time; the
 *    wall ratio is printed beside it (and decides where /proc is not readable).
 * 2. Linearity and memory (Node only): parse, isSubsetOf, subtract and toString at 1×
 *    (1,000 × 100) and 10× (10,000 × 100 and 1,000 × 1,000), with the memory a
 *    parsed set keeps (heap and array buffers), so linear growth is visible
 *    as equal ns/interval and bytes/interval at every size.
 *
 *   npm run bench            (node --expose-gc, so memory is measured after GC)
 *
 * BENCH_RUNS (Node runs, default 7), BENCH_ROUNDS (default 5) and
 * BENCH_MYSQL=0 (skip the comparison, e.g. without the sandbox) adjust it.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { availableParallelism, loadavg } from 'node:os';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { MysqlGtidSet } from '../common/gtid/index.js';
import { startDb, type DbInstance } from '../test/sandbox/db.js';

const gc = (globalThis as { gc?: () => void }).gc;
const NODE_RUNS = Number(process.env.BENCH_RUNS ?? 7);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
/** Linux's USER_HZ: /proc reports CPU time in these ticks. */
const CLOCK_TICKS = 100;
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
// 1. Against MySQL, interleaved

/** user + system CPU seconds mysqld has used, from /proc/<pid>/stat (Linux); undefined elsewhere. */
function mysqldCpu(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the fields after the command name, which is in parentheses and may hold spaces
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

interface Round {
  mysqlWall: number;
  mysqlCpu: number | undefined;
  nodeWall: number;
  nodeCpu: number;
}

/** One MySQL round: BENCHMARK(n, expr) once, per call wall ms and mysqld CPU ms. */
async function mysqlRound(c: mysql.Connection, pid: number | undefined, expr: string, n: number) {
  const cpu = mysqldCpu(pid);
  const t = performance.now();
  await c.query(`SELECT BENCHMARK(${n}, ${expr})`);
  const wall = (performance.now() - t) / n;
  const after = mysqldCpu(pid);
  return { wall, cpu: cpu === undefined || after === undefined ? undefined : ((after - cpu) * 1000) / n };
}

/** One Node round: the median wall and CPU ms of NODE_RUNS calls, each after a GC. */
function nodeRound(fn: () => unknown): { wall: number; cpu: number } {
  const walls: number[] = [];
  const cpus: number[] = [];
  for (let r = 0; r < NODE_RUNS; r++) {
    gc?.();
    const cpu = process.cpuUsage();
    const t = performance.now();
    fn();
    walls.push(performance.now() - t);
    const used = process.cpuUsage(cpu);
    cpus.push((used.user + used.system) / 1000);
  }
  return { wall: mid(walls), cpu: mid(cpus) };
}
function mid(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/**
 * ROUNDS rounds, each one MySQL BENCHMARK then NODE_RUNS Node calls, so that both sides are measured under the
 * same load; a round's ratio is Node / MySQL of that round.
 */
async function interleaved(
  c: mysql.Connection,
  pid: number | undefined,
  expr: string,
  fn: () => unknown,
): Promise<Round[]> {
  for (let r = 0; r < 2; r++) fn(); // warm up Node's optimized code
  // n calls per BENCHMARK so that one takes about 0.4 s
  const t = performance.now();
  await c.query(`SELECT BENCHMARK(1, ${expr})`);
  const n = Math.max(1, Math.min(1000, Math.round(400 / Math.max(performance.now() - t, 0.01))));
  const rounds: Round[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const my = await mysqlRound(c, pid, expr, n);
    const node = nodeRound(fn);
    rounds.push({ mysqlWall: my.wall, mysqlCpu: my.cpu, nodeWall: node.wall, nodeCpu: node.cpu });
  }
  return rounds;
}

/** median [min–max] of the rounds' ratios. */
function spread(ratios: number[]): { median: number; text: string } {
  const median = mid(ratios);
  return {
    median,
    text: `${median.toFixed(2)} [${Math.min(...ratios).toFixed(2)}–${Math.max(...ratios).toFixed(2)}]`,
  };
}

async function againstMysql(): Promise<void> {
  console.log(
    '\n1. Parse both texts and operate: Node vs MySQL 9.7 (BENCHMARK per call), ratio = Node / MySQL, ' +
      `target <= ${TARGET}\n`,
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
    const pid = await readFile(join(db.baseDir, 'mysqld.pid'), 'utf8').then(
      (s) => Number(s.trim()),
      () => undefined,
    );
    const cpuKnown = mysqldCpu(pid) !== undefined;
    c = await mysql.createConnection(db.connectionOptions);
    const [[info]] = (await c.query(
      'SELECT @@version AS version, @@gtid_mode AS mode, @@max_allowed_packet AS packet',
    )) as unknown as [Array<{ version: string; mode: string; packet: string }>];
    console.log(
      `MySQL ${info!.version} (gtid_mode ${info!.mode}, max_allowed_packet ${info!.packet}), ` +
        `node ${process.version}; ` +
        `${ROUNDS} interleaved rounds of one MySQL BENCHMARK then the median of ${NODE_RUNS} Node calls; ` +
        `load average ${loadavg()
          .map((x) => x.toFixed(1))
          .join(' ')} on ${availableParallelism()} cores`,
    );
    console.log(
      cpuKnown
        ? "the verdict is the median of the rounds' CPU ratios (mysqld user+system CPU vs this process's), which " +
            'a loaded machine disturbs less than wall time; the wall ratio is shown beside it'
        : "mysqld CPU time is not readable here: the verdict is the median of the rounds' wall-time ratios",
    );
    const rows: Record<string, string | number>[] = [];
    const verdicts: string[] = [];
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
        for (const [op, expr, fn] of [
          [
            'parse both + isSubsetOf           vs GTID_SUBSET',
            'GTID_SUBSET(@a, @b)',
            () => MysqlGtidSet.parse(a).isSubsetOf(MysqlGtidSet.parse(b)),
          ],
          [
            'parse both + subtract + toString  vs GTID_SUBTRACT',
            'GTID_SUBTRACT(@b, @a)',
            () => MysqlGtidSet.parse(b).subtract(MysqlGtidSet.parse(a)).toString(),
          ],
        ] as const) {
          const rounds = await interleaved(c, pid, expr, fn);
          const wall = spread(rounds.map((r) => r.nodeWall / r.mysqlWall));
          const cpu = cpuKnown ? spread(rounds.map((r) => r.nodeCpu / r.mysqlCpu!)) : undefined;
          const decides = cpu ?? wall;
          const pass = decides.median <= TARGET;
          verdicts.push(`${pass ? 'PASS' : 'FAIL'}  ${size}, ${label}, ${op.replace(/ +/g, ' ')}: ${decides.text}`);
          rows.push({
            size,
            numbers: label,
            'texts MB': textMb,
            operation: op,
            'Node CPU ms': fixed(mid(rounds.map((r) => r.nodeCpu))),
            'MySQL CPU ms': cpu ? fixed(mid(rounds.map((r) => r.mysqlCpu!))) : 'n/a',
            'CPU ratio [min–max]': cpu ? cpu.text : 'n/a',
            'Node wall ms': fixed(mid(rounds.map((r) => r.nodeWall))),
            'MySQL wall ms': fixed(mid(rounds.map((r) => r.mysqlWall))),
            'wall ratio [min–max]': wall.text,
            verdict: pass ? 'PASS' : 'FAIL',
          });
        }
      }
    }
    console.table(rows);
    console.log(`\nverdict per size (median ratio [min–max] of ${ROUNDS} rounds, target <= ${TARGET}):`);
    for (const v of verdicts) console.log(`  ${v}`);
    console.log(
      `load average at the end: ${loadavg()
        .map((x) => x.toFixed(1))
        .join(' ')}`,
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
