/**
 * The receiving thread's native reader (native/udp_receiver.c, built at install into
 * build/udp_receiver.node by scripts/build-native.mjs): many datagrams per system call, packed into
 * one buffer, instead of Node's dgram socket and its Buffer and address object per datagram.
 * Loaded only by the receiving thread; absent (no compiler at install, not Linux) the collector
 * reads through dgram as before, and says which in its "collector listening" line.
 */
import { createRequire } from 'node:module';

/** Integers per datagram in `meta`: socket index, offset, length, family, 4 address words. */
export const META_INTS = 8;
/** Datagrams one `recv` reads at most from a socket per system call (the C side's BATCH). */
export const BATCH = 64;
/** The scratch buffer `recv` needs: BATCH slots of 64 KiB, one per datagram of a system call. */
export const SCRATCH_BYTES = BATCH * 65536;

export interface NativeUdp {
  /** Binds a non-blocking UDP socket; returns [fd, bound port, receive buffer as getsockopt reports it]. */
  open(host: string, port: number, recvBufferSize: number): [number, number, number];
  /**
   * Waits up to `timeoutMs` for any of `fds`, then reads what they hold into `out` (each datagram on
   * an 8-byte boundary) with META_INTS integers per datagram in `meta`; returns how many.
   */
  recv(fds: Int32Array, scratch: Uint8Array, out: Uint8Array, meta: Int32Array, timeoutMs: number): number;
  /** An address of `meta` (family 4 or 6, four words in network order) as text. */
  ntop(family: number, a0: number, a1: number, a2: number, a3: number): string;
  close(fd: number): void;
}

/** The native reader, or why not (the module is not built). */
export function loadNativeUdp(): { udp: NativeUdp } | { reason: string } {
  try {
    // From src/ingest (tsx, tests) and dist/ingest alike: build/ is at the package's root.
    const udp = createRequire(import.meta.url)('../../build/udp_receiver.node') as NativeUdp;
    return { udp };
  } catch (err) {
    return {
      reason: `not built (${(err as Error).message.split('\n')[0]}): npm rebuild, or see scripts/build-native.mjs`,
    };
  }
}
