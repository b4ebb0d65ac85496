/**
 * The few pieces of MySQL's client/server protocol that the test fakes speak (test/sandbox/fake-mysql.ts, a
 * password collector; test/sandbox/recorded-mysql.ts, recorded answers): a packet's frame and the server's
 * first packet, the v10 handshake (MySQL's "Protocol::HandshakeV10").
 */

/** One packet: a 3-byte length, the sequence id, the payload. */
export function packet(seq: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUIntLE(payload.length, 0, 3);
  h[3] = seq & 0xff;
  return Buffer.concat([h, payload]);
}

/** Capability flags both fakes announce. */
export const CAPS =
  0x1 | // LONG_PASSWORD
  0x8 | // CONNECT_WITH_DB
  0x200 | // PROTOCOL_41
  0x2000 | // TRANSACTIONS
  0x8000 | // SECURE_CONNECTION
  0x80000 | // PLUGIN_AUTH
  0x200000; // PLUGIN_AUTH_LENENC_CLIENT_DATA

export interface Handshake {
  version: string;
  /** 20 bytes of scramble (the auth plugin's data). */
  scramble: Buffer;
  connectionId: number;
  capabilities: number;
  /** The server's default collation id. */
  collation: number;
  /** The auth plugin the server asks for first. */
  plugin: string;
}

/** The server's first packet (handshake v10). */
export function handshakeV10(h: Handshake): Buffer {
  const caps = Buffer.alloc(4);
  caps.writeUInt32LE(h.capabilities);
  const conn = Buffer.alloc(4);
  conn.writeUInt32LE(h.connectionId);
  return Buffer.concat([
    Buffer.from([10]),
    Buffer.from(`${h.version}\0`),
    conn,
    h.scramble.subarray(0, 8),
    Buffer.from([0]),
    caps.subarray(0, 2),
    Buffer.from([h.collation]),
    Buffer.from([2, 0]), // SERVER_STATUS_AUTOCOMMIT
    caps.subarray(2, 4),
    Buffer.from([21]),
    Buffer.alloc(10),
    h.scramble.subarray(8, 20),
    Buffer.from([0]),
    Buffer.from(`${h.plugin}\0`),
  ]);
}
