/**
 * The native reader (native/udp_receiver.c) on real loopback sockets: what it packs is what was
 * sent, byte for byte, with the sender's address, whatever the size (up to the largest UDP
 * payload) and the family, and a burst larger than one system call's batch comes whole and in order.
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BATCH,
  loadNativeUdp,
  META_INTS,
  type NativeUdp,
  SCRATCH_BYTES,
} from '../../src/ingest/native-receiver.js';

const loaded = loadNativeUdp();
// Built at install on Linux (scripts/build-native.mjs); elsewhere the collector uses dgram.
const linux = process.platform === 'linux';

describe.runIf(linux)('native UDP reader', () => {
  it('is built', () => {
    expect('udp' in loaded ? 'built' : loaded.reason).toBe('built');
  });
  const udp = (loaded as { udp: NativeUdp }).udp;
  const fds: number[] = [];
  const clients: Socket[] = [];
  afterEach(() => {
    for (const fd of fds.splice(0)) udp.close(fd);
    for (const c of clients.splice(0)) c.close();
  });

  const open = (host: string) => {
    const [fd, port, recvBuffer] = udp.open(host, 0, 1 << 20);
    fds.push(fd);
    expect(port).toBeGreaterThan(0);
    expect(recvBuffer).toBeGreaterThan(0);
    return { fd, port };
  };
  const client = async (type: 'udp4' | 'udp6') => {
    const c = createSocket(type);
    clients.push(c);
    await new Promise<void>((ok) => c.bind({ port: 0, address: type === 'udp4' ? '127.0.0.1' : '::1' }, ok));
    return c;
  };
  const send = (c: Socket, msg: Uint8Array, port: number, host: string) =>
    new Promise<void>((ok, fail) => c.send(msg, port, host, (err) => (err ? fail(err) : ok())));
  const buffers = () => ({
    scratch: new Uint8Array(SCRATCH_BYTES),
    out: new Uint8Array(4 * BATCH * 65536),
    meta: new Int32Array(4 * BATCH * META_INTS),
  });
  /** Reads until `n` datagrams came or a read finds none: [socket index, bytes, address] each. */
  const readAll = (sockets: number[], n: number) => {
    const { scratch, out, meta } = buffers();
    const got: [number, Uint8Array, string][] = [];
    while (got.length < n) {
      const count = udp.recv(Int32Array.from(sockets), scratch, out, meta, 500);
      if (count === 0) break;
      for (let i = 0; i < count; i++) {
        const m = meta.subarray(i * META_INTS, (i + 1) * META_INTS);
        expect(m[1]! % 8).toBe(0);
        got.push([m[0]!, out.slice(m[1]!, m[1]! + m[2]!), udp.ntop(m[3]!, m[4]!, m[5]!, m[6]!, m[7]!)]);
      }
    }
    return got;
  };
  const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

  it('packs each datagram whole, up to the largest UDP payload, with its sender', async () => {
    const { fd, port } = open('127.0.0.1');
    const c = await client('udp4');
    const sizes = [1, 7, 8, 9, 1400, 1500, 9000, 65_507];
    for (const [i, size] of sizes.entries()) await send(c, bytes(size, i), port, '127.0.0.1');
    const got = readAll([fd], sizes.length);
    expect(got.map(([, b]) => b.length)).toEqual(sizes);
    for (const [i, [s, b, from]] of got.entries()) {
      expect(s).toBe(0);
      expect(from).toBe('127.0.0.1');
      expect(Buffer.from(b).equals(Buffer.from(bytes(sizes[i]!, i)))).toBe(true);
    }
  });

  it('reads IPv6 senders, and IPv4 ones on a dual-stack socket as plain IPv4', async () => {
    const { fd, port } = open('::');
    const v4 = await client('udp4');
    const v6 = await client('udp6');
    await send(v4, bytes(100, 1), port, '127.0.0.1');
    await send(v6, bytes(200, 2), port, '::1');
    const got = readAll([fd], 2);
    expect(got.map(([, b, from]) => [b.length, from])).toEqual([
      [100, '127.0.0.1'],
      [200, '::1'],
    ]);
  });

  it('takes a burst of several batches from two sockets, each in order', async () => {
    const a = open('127.0.0.1');
    const b = open('127.0.0.1');
    const c = await client('udp4');
    const n = 3 * BATCH + 5;
    for (let i = 0; i < n; i++) {
      const msg = new Uint8Array(12);
      new DataView(msg.buffer).setUint32(0, i);
      await send(c, msg, i % 2 ? b.port : a.port, '127.0.0.1');
    }
    const got = readAll([a.fd, b.fd], n);
    expect(got.length).toBe(n);
    for (const s of [0, 1]) {
      const seq = got.filter(([k]) => k === s).map(([, m]) => new DataView(m.buffer).getUint32(0));
      expect(seq).toEqual(Array.from({ length: n }, (_, i) => i).filter((i) => i % 2 === s));
    }
  });

  it('waits no longer than asked when nothing comes, and refuses what it cannot bind', () => {
    const { fd, port } = open('127.0.0.1');
    const { scratch, out, meta } = buffers();
    const t0 = performance.now();
    expect(udp.recv(Int32Array.of(fd), scratch, out, meta, 30)).toBe(0);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(() => udp.open('127.0.0.1', port, 1 << 20)).toThrow(/bind: Address already in use/);
    expect(() => udp.open('localhost', 0, 1 << 20)).toThrow(/not an IP address/);
  });
});
