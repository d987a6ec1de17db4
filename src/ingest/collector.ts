import { createSocket, type Socket } from 'node:dgram';
import { isIPv4 } from 'node:net';
import type { Logger } from 'pino';
import type { Pipeline } from './pipeline.js';

export interface UdpOptions {
  host: string;
  netflowPort: number;
  sflowPort: number;
  /** Kernel receive buffer asked for; the kernel caps it at net.core.rmem_max. */
  recvBufferSize?: number;
}

export interface UdpListeners {
  netflowPort: number;
  sflowPort: number;
  close(): Promise<void>;
}

/** IPv4-mapped IPv6 senders are reported as plain IPv4, so one exporter has one name. */
const plainAddress = (a: string) => (a.startsWith('::ffff:') && isIPv4(a.slice(7)) ? a.slice(7) : a);

async function listen(
  pipeline: Pipeline,
  kind: 'netflow' | 'sflow',
  port: number,
  opts: UdpOptions,
  logger: Logger,
): Promise<Socket> {
  // One dual-stack socket on :: when binding every interface; a plain IPv4 socket otherwise.
  const wildcard = opts.host === '0.0.0.0' || opts.host === '::';
  const v4 = !wildcard && isIPv4(opts.host);
  const socket = createSocket({
    type: v4 ? 'udp4' : 'udp6',
    ipv6Only: false,
    recvBufferSize: opts.recvBufferSize ?? 32 * 1024 * 1024,
  });
  socket.on('message', (msg, rinfo) => pipeline.handleDatagram(msg, plainAddress(rinfo.address), kind));
  socket.on('error', (err) => logger.error({ err, kind }, 'UDP socket error'));
  await new Promise<void>((ok, fail) => {
    socket.once('error', fail);
    socket.bind({ port, address: wildcard ? '::' : opts.host }, () => {
      socket.off('error', fail);
      ok();
    });
  });
  return socket;
}

/**
 * NetFlow v5/v9 and IPFIX on one port (the version is read per datagram), sFlow v5 on another.
 * @example
 * const udp = await startUdp(pipeline, { host: '0.0.0.0', netflowPort: 2055, sflowPort: 6343 }, logger);
 */
export async function startUdp(pipeline: Pipeline, opts: UdpOptions, logger: Logger): Promise<UdpListeners> {
  const netflow = await listen(pipeline, 'netflow', opts.netflowPort, opts, logger);
  const sflow = await listen(pipeline, 'sflow', opts.sflowPort, opts, logger).catch((err) => {
    netflow.close();
    throw err;
  });
  logger.info(
    { netflow: netflow.address().port, sflow: sflow.address().port, recvBuffer: netflow.getRecvBufferSize() },
    'collector listening',
  );
  return {
    netflowPort: netflow.address().port,
    sflowPort: sflow.address().port,
    close: async () => {
      await Promise.all([netflow, sflow].map((s) => new Promise<void>((ok) => s.close(() => ok()))));
    },
  };
}
