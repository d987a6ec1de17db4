import { describe, expect, it } from 'vitest';
import { IE } from '../../../src/ingest/netflow/elements.js';
import {
  decodeNetflow,
  type RegistryChange,
  type SerializedTemplate,
  TemplateRegistry,
} from '../../../src/ingest/netflow/index.js';
import { type FlowRecord, newFlowRecord } from '../../../src/ingest/types.js';
import {
  concat,
  fixtureDatagrams,
  ipfix,
  ipfixOptionsTemplate,
  NOW_MS,
  rec,
  set,
  template,
  v9,
  v9OptionsTemplate,
} from '../../fixtures/netflow-build.js';

function decodeWith(registry: TemplateRegistry, buf: Uint8Array, nowMs = NOW_MS, exporter = '192.0.2.1') {
  const out: FlowRecord[] = [];
  const res = decodeNetflow(buf, { exporter, registry, nowMs, record: newFlowRecord() }, (r) =>
    out.push({ ...r }),
  );
  return { res, out };
}

const bytesTemplate = (id: number) => set(2, template(id, [[IE.octetDeltaCount, 4]]));

describe('TemplateRegistry', () => {
  it('learn outcomes: new, refreshed (identical), changed (different)', () => {
    const changes: RegistryChange[] = [];
    const registry = new TemplateRegistry({ onChange: (c) => changes.push(c) });
    decodeWith(registry, ipfix({}, bytesTemplate(256)));
    decodeWith(registry, ipfix({}, bytesTemplate(256)), NOW_MS + 1000);
    decodeWith(registry, ipfix({}, set(2, template(256, [[IE.packetDeltaCount, 4]]))), NOW_MS + 2000);
    // A refresh with an identical definition does not call onChange (no need to persist).
    expect(changes).toEqual([
      { type: 'learned', protocol: 'ipfix', exporter: '192.0.2.1', domain: 0, id: 256 },
      { type: 'learned', protocol: 'ipfix', exporter: '192.0.2.1', domain: 0, id: 256 },
    ]);
    expect(registry.size).toBe(1);
    expect(decodeWith(registry, ipfix({}, set(256, rec([5, 4])))).out[0]).toMatchObject({
      packets: 5,
      bytes: 0,
    });
  });

  it('data and options templates share the id space: the newer definition replaces the older', () => {
    const registry = new TemplateRegistry();
    const opts = set(
      3,
      ipfixOptionsTemplate(256, 1, [
        [IE.selectorId, 4],
        [IE.samplingInterval, 4],
      ]),
    );
    decodeWith(registry, ipfix({}, bytesTemplate(256)));
    decodeWith(registry, ipfix({}, opts));
    // Data set 256 is now options data: it feeds the sampler table, emits no flow.
    const asOptions = decodeWith(registry, ipfix({}, set(256, rec([9, 4], [100, 4]))));
    expect(asOptions.res.records).toBe(0);
    expect(registry.samplerRate(registry.findSource('ipfix', '192.0.2.1', 0)!, 9)).toBe(100);
    decodeWith(registry, ipfix({}, bytesTemplate(256)));
    expect(decodeWith(registry, ipfix({}, set(256, rec([7, 4])))).out[0]!.bytes).toBe(7);
    expect(registry.size).toBe(1);
  });

  it('v9 and IPFIX from the same exporter and domain are separate namespaces', () => {
    const registry = new TemplateRegistry();
    decodeWith(registry, v9({}, set(0, template(256, [[IE.octetDeltaCount, 4]]))));
    expect(decodeWith(registry, ipfix({}, set(256, rec([1, 4])))).res.skipped).toEqual({
      unknown_template: 1,
    });
  });

  it('expiry is configurable; expire() sweeps and reports removals', () => {
    const changes: RegistryChange[] = [];
    const registry = new TemplateRegistry({ expiryMs: 1000, onChange: (c) => changes.push(c) });
    decodeWith(registry, ipfix({}, bytesTemplate(256), bytesTemplate(257)));
    decodeWith(registry, ipfix({}, bytesTemplate(257)), NOW_MS + 900);
    expect(registry.expire(NOW_MS + 1500)).toBe(1);
    expect(registry.size).toBe(1);
    expect(changes.at(-1)).toMatchObject({ type: 'removed', id: 256 });
    expect(registry.expire(NOW_MS + 2000)).toBe(1);
    expect(registry.size).toBe(0);
    expect(registry.export()).toEqual([]);
  });

  it('resetSource forgets templates, samplers and defaults of (exporter, domain) only', () => {
    const registry = new TemplateRegistry();
    const opts = v9OptionsTemplate(
      300,
      [[1, 4]],
      [
        [IE.samplerId, 1],
        [IE.samplingInterval, 4],
      ],
    );
    decodeWith(registry, v9({ sourceId: 1 }, set(1, opts), set(300, rec([0, 4], [1, 1], [10, 4]))));
    decodeWith(registry, v9({ sourceId: 2 }, set(0, template(256, [[IE.octetDeltaCount, 4]]))));
    expect(registry.size).toBe(2);
    expect(registry.samplerSize).toBe(1);
    registry.resetSource('192.0.2.1', 1);
    expect(registry.size).toBe(1);
    expect(registry.samplerSize).toBe(0);
    expect(registry.findSource('v9', '192.0.2.1', 1)).toBeUndefined();
    expect(registry.findSource('v9', '192.0.2.1', 2)).toBeDefined();
  });

  it('limits: templates per exporter, overall, fields per template, samplers', () => {
    const registry = new TemplateRegistry({
      maxTemplatesPerExporter: 2,
      maxTemplates: 3,
      maxFieldsPerTemplate: 4,
      maxSamplersPerExporter: 1,
    });
    const r1 = decodeWith(registry, ipfix({}, bytesTemplate(256), bytesTemplate(257), bytesTemplate(258)));
    expect(r1.res).toMatchObject({ templatesLearned: 2, skipped: { too_many: 1 } });
    // Redefining a known id is always allowed.
    expect(decodeWith(registry, ipfix({}, bytesTemplate(257))).res.templatesLearned).toBe(1);
    decodeWith(registry, ipfix({}, bytesTemplate(256)), NOW_MS, '192.0.2.2');
    expect(decodeWith(registry, ipfix({}, bytesTemplate(257)), NOW_MS, '192.0.2.3').res.skipped).toEqual({
      too_many: 1,
    });
    expect(registry.size).toBe(3);
    const wide = template(
      300,
      Array.from({ length: 5 }, () => [IE.octetDeltaCount, 4] as [number, number]),
    );
    expect(decodeWith(registry, ipfix({}, set(2, wide)), NOW_MS, '192.0.2.2').res.skipped).toEqual({
      too_many: 1,
    });
    const source = registry.findSource('ipfix', '192.0.2.1', 0)!;
    expect(registry.setSampler(source, 1, 10, NOW_MS)).toBe(true);
    expect(registry.setSampler(source, 2, 10, NOW_MS)).toBe(false);
    expect(registry.setSampler(source, 1, 20, NOW_MS)).toBe(true);
    expect(registry.samplerRate(source, 1)).toBe(20);
  });

  it('export/import round trip: a fresh registry decodes data without seeing templates again', () => {
    const registry = new TemplateRegistry();
    const datagrams = fixtureDatagrams('softflowd-v9');
    const first = datagrams[0]!;
    decodeWith(registry, first.payload, first.tsMs, first.exporter);
    const saved = JSON.parse(JSON.stringify(registry.export())) as SerializedTemplate[];
    expect(saved).toHaveLength(5);
    expect(saved[0]).toMatchObject({ exporter: '127.0.0.1', domain: 0, protocol: 'v9' });
    const fresh = new TemplateRegistry();
    expect(fresh.import(saved)).toBe(5);
    const second = datagrams[1]!;
    const { res } = decodeWith(fresh, second.payload, second.tsMs, second.exporter);
    expect(res).toMatchObject({ ok: true, records: 32 });
    expect(fresh.export()).toEqual(saved);
  });

  it('imported templates keep their learn time and still expire', () => {
    const registry = new TemplateRegistry();
    const list: SerializedTemplate[] = [
      {
        exporter: 'e',
        domain: 0,
        id: 256,
        protocol: 'ipfix',
        kind: 'data',
        fields: [{ type: 1, length: 4, enterprise: 0 }],
        scopeCount: 0,
        learnedAtMs: NOW_MS - 31 * 60_000,
      },
    ];
    expect(registry.import(list)).toBe(1);
    expect(decodeWith(registry, ipfix({}, set(256, rec([1, 4])))).res.skipped).toEqual({
      unknown_template: 1,
    });
  });

  it('import: newer wins, so another collector never replaces a fresher definition or sampler', () => {
    const saved = (fieldType: number, learnedAtMs: number): SerializedTemplate => ({
      exporter: 'e',
      domain: 0,
      id: 256,
      protocol: 'ipfix',
      kind: 'data',
      fields: [{ type: fieldType, length: 4, enterprise: 0 }],
      scopeCount: 0,
      learnedAtMs,
    });
    const registry = new TemplateRegistry();
    expect(registry.import([saved(IE.packetDeltaCount, NOW_MS)])).toBe(1);
    // Older (another collector's stale copy): skipped; same age: nothing to take.
    expect(registry.import([saved(IE.octetDeltaCount, NOW_MS - 1000)])).toBe(0);
    expect(registry.import([saved(IE.octetDeltaCount, NOW_MS)])).toBe(0);
    expect(registry.export()).toEqual([saved(IE.packetDeltaCount, NOW_MS)]);
    // Newer: a redefinition the exporter sent to the other collector replaces ours.
    expect(registry.import([saved(IE.octetDeltaCount, NOW_MS + 1000)])).toBe(1);
    expect(registry.export()).toEqual([saved(IE.octetDeltaCount, NOW_MS + 1000)]);

    const source = (rate: number, atMs: number, samplers: [number, number, number][]) => ({
      protocol: 'ipfix' as const,
      exporter: 'e',
      domain: 0,
      defaultRate: rate,
      defaultRateMs: atMs,
      systemInitMs: -1,
      samplers,
    });
    registry.importSources([source(10, NOW_MS, [[1, 100, NOW_MS]])]);
    registry.importSources([
      source(20, NOW_MS - 1, [
        [1, 200, NOW_MS - 1],
        [2, 50, NOW_MS - 1],
      ]),
    ]);
    expect(registry.exportSources()).toEqual([
      source(10, NOW_MS, [
        [1, 100, NOW_MS],
        [2, 50, NOW_MS - 1],
      ]),
    ]);
    registry.importSources([source(30, NOW_MS + 1, [[1, 300, NOW_MS + 1]])]);
    expect(registry.exportSources()).toEqual([
      source(30, NOW_MS + 1, [
        [1, 300, NOW_MS + 1],
        [2, 50, NOW_MS - 1],
      ]),
    ]);
  });

  it('import skips malformed entries', () => {
    const good: SerializedTemplate = {
      exporter: 'e',
      domain: 1,
      id: 300,
      protocol: 'v9',
      kind: 'options',
      fields: [
        { type: 1, length: 4, enterprise: 0 },
        { type: 34, length: 4, enterprise: 0 },
      ],
      scopeCount: 1,
      learnedAtMs: NOW_MS,
    };
    const bad = [
      { ...good, id: 10 },
      { ...good, protocol: 'v8' },
      { ...good, fields: [] },
      { ...good, fields: [{ type: 1, length: 0, enterprise: 0 }] },
      { ...good, fields: [{ type: -1, length: 4, enterprise: 0 }] },
      { ...good, scopeCount: 5 },
      { ...good, domain: 2 ** 32 },
      { ...good, learnedAtMs: Number.NaN },
      null,
      'x',
    ] as unknown as SerializedTemplate[];
    const registry = new TemplateRegistry();
    expect(registry.import([...bad, good])).toBe(1);
    expect(registry.export()).toEqual([good]);
  });

  it('an onChange hook that throws does not break decoding', () => {
    const registry = new TemplateRegistry({
      onChange: () => {
        throw new Error('disk full');
      },
    });
    const buf = ipfix({}, bytesTemplate(256), set(256, concat(rec([1, 4]), rec([2, 4]))));
    expect(decodeWith(registry, buf).res).toMatchObject({ ok: true, records: 2 });
  });
});
