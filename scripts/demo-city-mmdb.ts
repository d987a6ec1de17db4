/**
 * Writes demo/city-demo.mmdb: a tiny City database (GeoLite2-City layout) for the demo networks'
 * address blocks (demo/ip2asn-demo.tsv), so the demo's live traffic is located to subdivisions
 * through the collector like real traffic. Built from DEMO_NETWORKS with the tests' mmdb writer;
 * no vendor data. Run after changing either: `npx tsx scripts/demo-city-mmdb.ts`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEMO_NETWORKS, DEMO_SUBDIVISIONS } from '../src/demo.js';
import { type MmdbValue, writeMmdb } from '../test/helpers/mmdb-writer.js';

const TSV = fileURLToPath(new URL('../demo/ip2asn-demo.tsv', import.meta.url));
const OUT = fileURLToPath(new URL('../demo/city-demo.mmdb', import.meta.url));

const v4 = (s: string) => s.split('.').reduce((a, o) => a * 256 + Number(o), 0);
const text = (n: number) => [24, 16, 8, 0].map((b) => Math.floor(n / 2 ** b) % 256).join('.');

/** The CIDR blocks covering [start, end] exactly. */
function cidrs(start: number, end: number): string[] {
  const out: string[] = [];
  while (start <= end) {
    let bits = 32;
    while (bits > 0 && start % 2 ** (33 - bits) === 0 && start + 2 ** (33 - bits) - 1 <= end) bits--;
    out.push(`${text(start)}/${bits}`);
    start += 2 ** (32 - bits);
  }
  return out;
}

const networks: [string, MmdbValue][] = [];
for (const line of readFileSync(TSV, 'utf8').split('\n')) {
  const [from, to, asn] = line.split('\t');
  const net = DEMO_NETWORKS.find((n) => String(n.asn) === asn);
  if (!net || !from || !to) continue;
  const sub = DEMO_SUBDIVISIONS[net.adm1];
  const record: MmdbValue = {
    country: { iso_code: net.location },
    ...(sub ? { subdivisions: [{ geoname_id: net.adm1, names: { en: sub.name } }] } : {}),
  };
  for (const cidr of cidrs(v4(from), v4(to))) networks.push([cidr, record]);
}
writeFileSync(
  OUT,
  writeMmdb(
    { ipVersion: 4, databaseType: 'flowradar-demo-City', description: 'flowradar demo subdivisions' },
    networks,
  ),
);
console.log(`${OUT}: ${networks.length} networks`);
