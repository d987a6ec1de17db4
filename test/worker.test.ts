/**
 * The Worker (src/worker.ts) under `wrangler dev --local` on workerd, its Hyperdrive binding
 * pointed at the embedded TimescaleDB served over the wire protocol (pglite-socket): every reply
 * must equal the Node app's (createApp in-process, same database, same requests). And the
 * bundle `wrangler deploy --dry-run` builds must leave the Node-only modules out.
 *
 * Wrangler and workerd come from npm (wrangler 4.86.0, the last on Node 20); if they cannot run,
 * these tests fail with wrangler's output — they never skip.
 */
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../src/app.js';
import { createToken } from '../src/auth/tokens.js';
import { loadConfig } from '../src/config.js';
import type { Database } from '../src/db/client.js';
import { createEnricher } from '../src/ingest/enrich.js';
import { freePort, insertTraffic, testDatabase } from './helpers/db.js';
import { buildWorker, startWorkerDev, type WorkerDev } from './helpers/worker.js';
import { DAY_ROWS, insertAsnNames, insertQuality, type Params, url } from './query/data.js';

const TS = '/radar/netflows/timeseries';
const GROUPS = '/radar/netflows/timeseries_groups';
/** Explicit windows (the Worker's clock is the real one): rows b–h, and the twelve ASes. */
const W_DAY = { dateStart: '2026-11-20T09:00:00Z', dateEnd: '2026-11-20T12:14:00Z' };
const W_ASES = { dateStart: '2026-11-10T00:00:00Z', dateEnd: '2026-11-10T23:59:00Z' };
const LOCAL_NETWORK = '10.20.0.0/16';

interface Reply {
  status: number;
  contentType: string | null;
  wwwAuthenticate: string | null;
  rateLimitPolicy: string | null;
  /** The HTTP caching layer (ETag over the body, Cache-Control, Vary) must agree too. */
  etag: string | null;
  cacheControl: string | null;
  vary: string | null;
  body: unknown;
}

async function reply(res: Response): Promise<Reply> {
  const text = await res.text();
  const contentType = res.headers.get('content-type');
  return {
    status: res.status,
    contentType,
    wwwAuthenticate: res.headers.get('www-authenticate'),
    rateLimitPolicy: res.headers.get('ratelimit-policy'),
    etag: res.headers.get('etag'),
    cacheControl: res.headers.get('cache-control'),
    vary: res.headers.get('vary'),
    body: contentType?.includes('json') ? JSON.parse(text) : text,
  };
}

/** An ingest record (goflow2 JSON) of `bytes` at `time`, from a remote AS3243 host to a local one. */
const flow = (time: string, bytes: number) => {
  const ns = Date.parse(time) * 1e6;
  return JSON.stringify({
    type: 'IPFIX',
    time_received_ns: ns + 30e9,
    time_flow_start_ns: ns,
    time_flow_end_ns: ns + 20e9,
    sampler_address: '192.0.2.1',
    sampling_rate: 1,
    sequence_num: 1,
    bytes,
    packets: 2,
    src_addr: '85.240.1.2',
    dst_addr: '10.20.0.5',
    src_port: 443,
    dst_port: 51234,
    proto: 6,
    src_as: 3243,
    dst_as: 0,
  });
};

describe('the Worker on workerd (wrangler dev --local) answers as the Node app', () => {
  let db: Database;
  let socket: PGLiteSocketServer | undefined;
  let worker: WorkerDev | undefined;
  let node: ReturnType<typeof createApp>;
  let read: string;
  let ingest: string;

  beforeAll(async () => {
    db = await testDatabase('embedded');
    await insertTraffic(db, DAY_ROWS);
    await insertAsnNames(db);
    await insertQuality(db);
    read = (await createToken(db, { name: 'worker-read', scopes: ['read', 'read:raw'] })).token;
    ingest = (await createToken(db, { name: 'worker-ingest', scopes: ['ingest'] })).token;
    // pglite-socket runs one session: one connection per request (HYPERDRIVE_MAX_CONNECTIONS=1),
    // but a request may connect while the previous one's connection is still closing.
    const port = await freePort();
    socket = new PGLiteSocketServer({ db: db.pglite!, port, host: '127.0.0.1', maxConnections: 32 });
    await socket.start();
    const vars = { FLOWRADAR_LOCAL_NETWORKS: LOCAL_NETWORK, FLOWRADAR_LOG_LEVEL: 'warn' };
    worker = await startWorkerDev({
      hyperdriveUrl: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
      vars: { ...vars, HYPERDRIVE_MAX_CONNECTIONS: '1' },
    });
    node = createApp({
      db,
      config: loadConfig({ env: vars }),
      logger: pino({ level: 'silent' }),
      now: Date.now,
      enricher: await createEnricher({
        localNetworks: [LOCAL_NETWORK],
        useExporterAs: true,
        asnTsv: [],
        mmdb: [],
      }),
    });
  }, 120_000);

  afterAll(async () => {
    await worker?.stop();
    await socket?.stop();
    await db?.close();
  });

  /** The same request to both; returns [node, worker]. */
  async function both(path: string, init: RequestInit = {}): Promise<[Reply, Reply]> {
    const n = await reply(await node.request(path, init));
    const w = await reply(await fetch(`${worker!.url}${path}`, init));
    return [n, w];
  }
  const get = (path: string, params: Params, token: string | null = read) =>
    both(url(path, params), { headers: token ? { authorization: `Bearer ${token}` } : {} });

  /** Same status, type and body; and a successful one unless `status` says otherwise. */
  function expectSame([n, w]: [Reply, Reply], status = 200): Reply {
    expect(w, `worker output:\n${worker!.output().slice(-4000)}`).toEqual(n);
    expect(n.status, JSON.stringify(n.body)).toBe(status);
    return w;
  }

  it('GET /readyz reaches the database through Hyperdrive', async () => {
    const res = await fetch(`${worker!.url}/readyz`);
    expect(await res.json()).toEqual({ status: 'ready' });
  });

  it('timeseries with two series (MIN0_MAX over both), meta included', async () => {
    const r = expectSame(
      await get(TS, {
        name: ['pt', 'all'],
        asn: ['3243', ''],
        dateStart: [W_DAY.dateStart, W_DAY.dateStart],
        dateEnd: [W_DAY.dateEnd, W_DAY.dateEnd],
        aggInterval: '15m',
      }),
    );
    const result = (r.body as { result: Record<string, any> }).result;
    expect(Object.keys(result).sort()).toEqual(['all', 'meta', 'pt']);
    expect(result.meta.lastUpdated).toBe('2026-11-20T12:05:00Z');
    expect(result.all.values).toContain('1');
    expect(r.rateLimitPolicy).toBe('1200;w=300');
  });

  it('HTTP caching: the same ETag, and 304 for If-None-Match on both', async () => {
    const path = url(TS, { ...W_DAY, aggInterval: '1h' });
    const [first] = await both(path, { headers: { authorization: `Bearer ${read}` } });
    expect(first.etag).toMatch(/^W\/"/);
    const again = expectSame(
      await both(path, { headers: { authorization: `Bearer ${read}`, 'if-none-match': first.etag! } }),
      304,
    );
    expect(again.body).toBe('');
  });

  it('timeseries, RAW_VALUES, through the SDK prefix /client/v4', async () => {
    const r = expectSame(
      await get(`/client/v4${TS}`, {
        ...W_DAY,
        aggInterval: '1h',
        normalization: 'RAW_VALUES',
        metric: 'packets',
      }),
    );
    expect((r.body as any).result.serie_0.values).toEqual(['15', '12', '22', '1']);
  });

  it('timeseries_groups/AS keeps ten groups and other', async () => {
    const r = expectSame(await get(`${GROUPS}/AS`, { ...W_ASES, aggInterval: '1d' }));
    expect((r.body as any).result.serie_0.AS64512).toEqual(['15.384615']);
  });

  it('timeseries_groups/PRODUCT over the annotated weeks (confidenceInfo from the data)', async () => {
    const r = expectSame(
      await get(`${GROUPS}/PRODUCT`, {
        dateStart: '2026-10-01T00:00:00Z',
        dateEnd: '2026-10-14T23:59:00Z',
        aggInterval: '1d',
      }),
    );
    expect((r.body as any).result.meta.confidenceInfo.annotations.length).toBeGreaterThan(0);
  });

  it('CSV, byte for byte', async () => {
    const r = expectSame(
      await get(TS, {
        name: ['pt', 'all'],
        asn: ['3243', ''],
        dateStart: [W_DAY.dateStart, W_DAY.dateStart],
        dateEnd: [W_DAY.dateEnd, W_DAY.dateEnd],
        aggInterval: '1h',
        format: 'CSV',
      }),
    );
    expect(r.contentType).toContain('text/csv');
    expect(String(r.body).split('\n')[0]).toBe('Pt timestamps,Pt values,All timestamps,All values');
  });

  it('a bad parameter: 400 code 2001', async () => {
    const r = expectSame(await get(TS, { ...W_DAY, aggInterval: '2h' }), 400);
    expect((r.body as any).errors[0].code).toBe(2001);
  });

  it('no token: 401 code 9106; an unknown token: 401 code 10000', async () => {
    const missing = expectSame(await get(TS, W_DAY, null), 401);
    expect((missing.body as any).errors[0].code).toBe(9106);
    expect(missing.wwwAuthenticate).toBe('Bearer realm="flowradar"');
    const bad = expectSame(await get(TS, W_DAY, `frt_${'0'.repeat(43)}`), 401);
    expect((bad.body as any).errors[0].code).toBe(10000);
    expect(bad.wwwAuthenticate).toContain('invalid_token');
  });

  it('explorer pages: 501 naming the Node service; the embed SVG and data routes are the app’s', async () => {
    for (const path of [
      '/',
      '/explorer/app.js',
      '/vendor/uplot/uPlot.iife.min.js',
      '/embed/timeseries?x=1',
    ]) {
      const res = await fetch(`${worker!.url}${path}`);
      expect(res.status, path).toBe(501);
      expect(((await res.json()) as any).errors[0].message).toContain('flowradar serve');
    }
    // An unsigned SVG link reaches the app's embed route (and is refused there, as on Node).
    const [n, w] = await both('/embed/timeseries.svg?dateRange=1d');
    expect(w.status).toBe(n.status);
    expect(n.status).toBe(403);
  });

  it('POST /ingest/flows writes through the Worker as through Node; a retried key counts once', async () => {
    const post = (base: string, body: string, key: string) =>
      fetch(`${base}/ingest/flows`, {
        method: 'POST',
        body,
        headers: {
          authorization: `Bearer ${ingest}`,
          'content-type': 'application/x-ndjson',
          'idempotency-key': key,
        },
      }).then(reply);
    const fromWorker = await post(worker!.url, flow('2026-11-20T12:40:00Z', 1000), 'worker-1');
    expect(fromWorker.status, JSON.stringify(fromWorker.body)).toBe(200);
    expect((fromWorker.body as any).result).toEqual({ records: 1, duplicate: false, unsampled: 0 });
    const again = await post(worker!.url, flow('2026-11-20T12:40:00Z', 1000), 'worker-1');
    expect((again.body as any).result.duplicate).toBe(true);
    const fromNode = await reply(
      await node.request('/ingest/flows', {
        method: 'POST',
        body: flow('2026-11-20T12:50:00Z', 500),
        headers: {
          authorization: `Bearer ${ingest}`,
          'content-type': 'application/x-ndjson',
          'idempotency-key': 'node-1',
        },
      }),
    );
    expect(fromNode).toEqual({ ...fromWorker, body: { ...(fromWorker.body as object) } });
    const r = expectSame(
      await get(TS, {
        dateStart: '2026-11-20T12:00:00Z',
        dateEnd: '2026-11-20T12:59:00Z',
        aggInterval: '15m',
        asn: '3243',
        normalization: 'RAW_VALUES',
      }),
    );
    // 12:05 row h (150); 12:40 from the Worker (1000) and 12:50 from Node (500), both remote AS3243.
    expect((r.body as any).result.serie_0.values).toEqual(['150', '0', '1000', '500']);
  });
});

describe('wrangler deploy --dry-run', () => {
  it("bundles the Worker without the embedded database, PGlite, proper-lockfile or pino's Node build", async () => {
    const b = await buildWorker();
    console.log(
      `worker bundle: ${(b.bytes / 1024).toFixed(1)} KiB, gzip ${(b.gzipBytes / 1024).toFixed(1)} KiB (${b.totalUpload})`,
    );
    expect(b.inputs).toContain('src/worker.ts');
    // The logger is pino's browser build (src/logger.ts); its Node build writes through worker
    // threads and file descriptors, which Workers do not have.
    expect(
      b.inputs.some((p) => /node_modules\/pino\/browser\.js$/.test(p)),
      b.output,
    ).toBe(true);
    const forbidden = b.inputs.filter((p) =>
      /src\/db\/(embedded|client)\.ts|@electric-sql\/pglite|proper-lockfile|node_modules\/(pino\/(pino\.js|lib\/)|thread-stream|sonic-boom)/.test(
        p,
      ),
    );
    expect(forbidden, b.output).toEqual([]);
    // Workers Free allows 3 MB compressed; keep well under it.
    expect(b.gzipBytes).toBeLessThan(1024 * 1024);
  }, 60_000);
});
