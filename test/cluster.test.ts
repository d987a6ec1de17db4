/**
 * `flowradar serve --api-processes 2` on a real TimescaleDB server: two worker processes answer
 * HTTP on the one port (each connection to the next), the data written through one is read
 * through the other, /metrics on a worker shows the primary's collector, a worker that dies is
 * replaced, SIGTERM stops them all. Without DATABASE_URL the option is refused.
 */
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createToken } from '../src/auth/tokens.js';
import { openDatabase } from '../src/db/client.js';
import { encodeIpfix } from '../src/sim/encode.js';
import { type Cluster, sessionErrors, startCluster } from './helpers/pg-server.js';
import { type FlowradarProcess, startFlowradar } from './helpers/process.js';
import { sleep } from './helpers/time.js';

const HOUR = 3_600_000;

/** One request on a connection of its own (no keep-alive), so the primary hands it to the next worker. */
function get(url: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((ok, fail) => {
    const req = request(url, { agent: false, headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => ok({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', fail);
    req.setTimeout(5000, () => req.destroy(new Error(`no answer within 5 s: ${url}`)));
    req.end();
  });
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('serve --api-processes', () => {
  let pg: Cluster;
  const dir = mkdtempSync(join(tmpdir(), 'flowradar-cluster-'));
  const procs: FlowradarProcess[] = [];
  beforeAll(async () => {
    pg = await startCluster();
  });
  afterAll(async () => {
    for (const p of procs) await p.stop('SIGKILL');
    await pg?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('is refused without DATABASE_URL, by flag or by environment', async () => {
    const env = { DATABASE_URL: '', FLOWRADAR_DATA_DIR: join(dir, 'embedded') };
    await expect(startFlowradar(['serve', '--api-processes', '2'], env)).rejects.toThrow(
      /apiProcesses: API processes need databaseUrl \(DATABASE_URL\): the embedded database admits one process/,
    );
    await expect(startFlowradar(['serve'], { ...env, FLOWRADAR_API_PROCESSES: '2' })).rejects.toThrow(
      /apiProcesses: API processes need databaseUrl/,
    );
  });

  it('two API processes answer on one port, serve the data, are replaced when they die, stop on SIGTERM', async () => {
    const serve = await startFlowradar(['serve', '--api-processes', '2'], {
      DATABASE_URL: pg.url,
      FLOWRADAR_DATA_DIR: join(dir, 'serve'),
      // Every request is logged with the pid of the process that answered it.
      FLOWRADAR_LOG_LEVEL: 'debug',
    });
    procs.push(serve);
    const primary = serve.child.pid!;
    const db = await openDatabase({ databaseUrl: pg.url, max: 1 });
    const { token } = await createToken(db, { name: 'cluster', scopes: ['read', 'read:raw', 'ingest'] });
    await db.close();

    /** The pids that answered requests to `path` so far, from the request log. */
    const answeredBy = (path: string) =>
      new Set(
        serve
          .output()
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as { msg: string; path?: string; pid: number })
          .filter((l) => l.msg === 'request' && l.path === path)
          .map((l) => l.pid),
      );

    // Flows in through POST /ingest/flows (a worker's own enricher and write).
    const then = Math.floor((Date.now() - 2 * HOUR) / HOUR) * HOUR + 10 * 60_000;
    const records = Array.from({ length: 10 }, (_, k) =>
      JSON.stringify({
        type: 'IPFIX',
        time_flow_start_ns: then * 1e6,
        time_flow_end_ns: (then + 1000) * 1e6,
        sampling_rate: 1,
        bytes: 1000 + k,
        packets: 2,
        src_addr: `203.0.113.${k + 1}`,
        dst_addr: '10.20.0.1',
        src_port: 443,
        dst_port: 40_000 + k,
        proto: 6,
        src_as: 64_496,
        dst_as: 0,
      }),
    ).join('\n');
    const sent = 10 * 1000 + 45;
    const ingest = await fetch(`${serve.url}/ingest/flows`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-ndjson' },
      body: records,
    });
    expect(ingest.status, await ingest.clone().text()).toBe(200);
    expect(((await ingest.json()) as { result: { records: number } }).result.records).toBe(10);

    const hourStart = new Date(Math.floor(then / HOUR) * HOUR).toISOString();
    const hourEnd = new Date(Math.floor(then / HOUR) * HOUR + HOUR - 60_000).toISOString();
    const path = '/radar/netflows/timeseries';
    const q = `${path}?dateStart=${hourStart}&dateEnd=${hourEnd}&aggInterval=1h&normalization=RAW_VALUES`;
    const askAll = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const res = await get(`${serve.url}${q}`, token);
        expect(res.status, res.body).toBe(200);
        const body = JSON.parse(res.body) as { result: { serie_0: { values: string[] } } };
        expect(body.result.serie_0.values).toEqual([String(sent)]);
      }
    };
    await askAll(6);
    const first = answeredBy(path);
    expect(first.size).toBe(2);
    expect(first.has(primary)).toBe(false);

    // /metrics through a worker: the primary's collector counts a datagram it received.
    const client = createSocket('udp4');
    const flows = [
      {
        startMs: then,
        endMs: then + 1000,
        src: '198.51.100.1',
        dst: '10.20.0.2',
        srcPort: 443,
        dstPort: 40_000,
        proto: 6,
        bytes: 500,
        packets: 1,
        srcAs: 64_497,
        dstAs: 0,
        inIf: 1,
        outIf: 2,
      },
    ];
    for (const d of encodeIpfix(flows, { exportMs: Date.now(), domain: 7, templateEvery: 1 }).datagrams)
      await new Promise<void>((ok, fail) =>
        client.send(d, serve.ports.netflow, '127.0.0.1', (e) => (e ? fail(e) : ok())),
      );
    client.close();
    let datagrams = 0;
    for (const deadline = Date.now() + 10_000; datagrams < 1 && Date.now() < deadline; await sleep(200)) {
      const metrics = await get(`${serve.url}/metrics`, token);
      expect(metrics.status).toBe(200);
      datagrams = Number(
        /^flowradar_datagrams_total\{protocol="ipfix"\} (\d+)/m.exec(metrics.body)?.[1] ?? 0,
      );
    }
    expect(datagrams).toBeGreaterThanOrEqual(1);

    // A worker that dies is replaced; both answer again.
    const [victim] = [...first];
    process.kill(victim!, 'SIGKILL');
    let now = new Set<number>();
    for (const deadline = Date.now() + 30_000; Date.now() < deadline; await sleep(300)) {
      // A connection handed to the worker in the instant it was killed is lost with it (node:cluster
      // cannot take it back); clients retry, and so does this loop.
      await askAll(4).catch(() => {});
      now = new Set([...answeredBy(path)].filter((p) => alive(p)));
      if (now.size === 2 && !now.has(victim!)) break;
    }
    expect(now.size).toBe(2);
    expect(now.has(victim!)).toBe(false);
    expect(serve.logLines(50).map((l) => l.msg)).toEqual(['an API process exited; starting another']);

    // SIGTERM to the primary stops every process, cleanly.
    expect(await serve.stop('SIGTERM')).toBe(0);
    await sleep(200);
    for (const pid of now) expect(alive(pid), `API process ${pid}`).toBe(false);
    expect(sessionErrors(pg.log())).toEqual([]);
  }, 120_000);
});
