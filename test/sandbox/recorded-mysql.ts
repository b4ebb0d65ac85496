/**
 * RECORDED ANSWERS: a FAKE MySQL server that answers from a recorded answer set, for the server versions that
 * cannot be installed here (MySQL 5.7, 8.0.21). It speaks the client/server protocol (handshake v10 with
 * mysql_native_password, COM_QUERY, text result sets with EOF packets, ERR packets), so the activities run unchanged
 * over mysql2, as against a real server; what it answers is the answer set's, whose formats the test cites from
 * MySQL's manual.
 *
 * What it understands:
 *  - `SELECT @@name AS a, @@GLOBAL.name AS b, 0 AS c, VERSION() AS v`: one row from `variables`; a variable the
 *    set does not have is refused as the server would (ER_UNKNOWN_SYSTEM_VARIABLE, 1193), noted in
 *    `unknownVariable`;
 *  - a statement of `statements` (matched without regard to case and spacing): its columns and rows, or its error;
 *  - a read of information_schema.PROCESSLIST for the binary log dumps: `dumps`;
 *  - anything else is refused as a statement the server does not know (ER_PARSE_ERROR, 1064), and noted in
 *    `refused`, so a test sees what an older server would have answered with a syntax error.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { CAPS, handshakeV10, packet } from './mysql-wire.js';

export type Cell = string | number | null;
export interface ResultSet {
  columns: string[];
  rows: Cell[][];
}
export interface ServerError {
  errno: number;
  sqlState: string;
  message: string;
}

/** What one server answers. */
export interface AnswerSet {
  /** `@@version` (also the handshake's server version). */
  version: string;
  /** System variables by lower-case name, as SELECT @@name shows them. */
  variables: Record<string, Cell>;
  /** Statements (upper-case, single spaces) → what they answer. */
  statements: Record<string, ResultSet | ServerError>;
  /** information_schema.PROCESSLIST rows of the binary log dumps: id, user, host, command, seconds. */
  dumps?: Cell[][];
}

// mysql2 asks for LONG_FLAG (full column flags); the recorded answers use the 5.7/8.0-era utf8 collation
const SERVER = { capabilities: CAPS | 0x4, collation: 33, plugin: 'mysql_native_password' };

export interface RecordedServer {
  host: string;
  port: number;
  /** Every statement received, in order. */
  received: string[];
  /** Statements answered with an error other than an unknown variable: what the recorded server does not know. */
  refused: string[];
  /** Statements answered ER_UNKNOWN_SYSTEM_VARIABLE: a variable the server does not have, asked on purpose. */
  unknownVariable: string[];
  stop(): Promise<void>;
}

function lenenc(n: number): Buffer {
  if (n < 251) return Buffer.from([n]);
  const b = Buffer.alloc(3);
  b[0] = 0xfc;
  b.writeUInt16LE(n, 1);
  return b;
}

function lenencStr(s: string): Buffer {
  const b = Buffer.from(s, 'utf8');
  return Buffer.concat([lenenc(b.length), b]);
}

const OK = Buffer.from([0x00, 0, 0, 2, 0, 0, 0]);
const EOF = Buffer.from([0xfe, 0, 0, 2, 0]);

function errPacket(e: ServerError): Buffer {
  const code = Buffer.alloc(2);
  code.writeUInt16LE(e.errno);
  return Buffer.concat([Buffer.from([0xff]), code, Buffer.from(`#${e.sqlState}${e.message}`)]);
}

function columnDef(name: string): Buffer {
  const fixed = Buffer.alloc(13);
  fixed[0] = 0x0c;
  fixed.writeUInt16LE(33, 1); // utf8_general_ci
  fixed.writeUInt32LE(1024, 3);
  fixed[7] = 0xfd; // VAR_STRING: every value travels as text, as a text-protocol answer does
  return Buffer.concat(['def', '', '', '', name, name].map(lenencStr).concat(fixed));
}

function resultSet(r: ResultSet): Buffer[] {
  const rows = r.rows.map((row) =>
    Buffer.concat(row.map((v) => (v === null ? Buffer.from([0xfb]) : lenencStr(String(v))))),
  );
  return [lenenc(r.columns.length), ...r.columns.map(columnDef), EOF, ...rows, EOF];
}

const normalize = (sql: string) => sql.replace(/\s+/g, ' ').replace(/;\s*$/, '').trim().toUpperCase();

export function parseError(sql: string): ServerError {
  return {
    errno: 1064,
    sqlState: '42000',
    message:
      'You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version ' +
      `for the right syntax to use near '${sql.split(/\s+/).slice(1).join(' ')}' at line 1`,
  };
}

/** SELECT of variables, literals and VERSION(): one row, or the error the server gives for an unknown variable. */
function selectVariables(sql: string, set: AnswerSet): ResultSet | ServerError | null {
  const m = /^\s*SELECT\s+([\s\S]+)$/i.exec(sql);
  if (!m || /\bFROM\b/i.test(m[1]!)) return null;
  const columns: string[] = [];
  const row: Cell[] = [];
  for (const item of m[1]!.split(',')) {
    const x = /^\s*(@@(?:GLOBAL\.|SESSION\.)?(\w+)|VERSION\(\)|(\d+))\s+AS\s+(\w+)\s*$/i.exec(item);
    if (!x) return null;
    const name = x[2]?.toLowerCase() ?? (x[3] !== undefined ? null : 'version');
    if (name !== null && !(name in set.variables))
      return { errno: 1193, sqlState: 'HY000', message: `Unknown system variable '${name}'` };
    columns.push(x[4]!);
    row.push(name === null ? Number(x[3]) : set.variables[name]!);
  }
  return { columns, rows: [row] };
}

function answer(sql: string, set: AnswerSet): ResultSet | ServerError {
  const vars = selectVariables(sql, set);
  if (vars) return vars;
  const key = normalize(sql);
  if (key in set.statements) return set.statements[key]!;
  if (/FROM INFORMATION_SCHEMA\.PROCESSLIST WHERE COMMAND LIKE 'BINLOG DUMP%'/.test(key))
    return { columns: ['id', 'user', 'host', 'command', 'seconds'], rows: set.dumps ?? [] };
  return parseError(sql);
}

/** Starts a server answering from `set` on `host` (a loopback address) and a free port. */
export async function startRecordedMysql(set: AnswerSet, host = '127.0.0.1'): Promise<RecordedServer> {
  const sockets = new Set<Socket>();
  const received: string[] = [];
  const refused: string[] = [];
  const unknownVariable: string[] = [];
  let ids = 0;
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    const scramble = randomBytes(20);
    socket.write(packet(0, handshakeV10({ ...SERVER, version: set.version, scramble, connectionId: ++ids })));
    let authed = false;
    let buf = Buffer.alloc(0);
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 4) {
        const len = buf.readUIntLE(0, 3);
        if (buf.length < 4 + len) return;
        const seq = buf[3]!;
        const payload = buf.subarray(4, 4 + len);
        buf = buf.subarray(4 + len);
        if (!authed) {
          // the handshake response: any user and password is let in (the fake guards nothing)
          authed = true;
          socket.write(packet(seq + 1, OK));
          continue;
        }
        const command = payload[0];
        if (command === 0x01) {
          socket.end();
          return;
        }
        if (command !== 0x03) {
          socket.write(packet(1, OK));
          continue;
        }
        const sql = payload.subarray(1).toString('utf8');
        received.push(sql);
        const a = answer(sql, set);
        if ('errno' in a) {
          (a.errno === 1193 ? unknownVariable : refused).push(sql);
          socket.write(packet(1, errPacket(a)));
          continue;
        }
        socket.write(Buffer.concat(resultSet(a).map((p, i) => packet(1 + i, p))));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  return {
    host,
    port,
    received,
    refused,
    unknownVariable,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
