/** ISO 3166-1 alpha-2 codes by continent (the seven codes Radar accepts). */
const CONTINENT_COUNTRIES: Record<string, string> = {
  AF: 'DZ AO BJ BW BF BI CV CM CF TD KM CG CD CI DJ EG GQ ER SZ ET GA GM GH GN GW KE LS LR LY MG MW ML MR MU YT MA MZ NA NE NG RE RW SH ST SN SC SL SO ZA SS SD TZ TG TN UG EH ZM ZW',
  AN: 'AQ BV GS HM TF',
  AS: 'AF AM AZ BH BD BT IO BN KH CN CC CX CY GE HK IN ID IR IQ IL JP JO KZ KW KG LA LB MO MY MV MN MM NP KP OM PK PS PH QA SA SG KR LK SY TW TJ TH TL TR TM AE UZ VN YE',
  EU: 'AX AL AD AT BY BE BA BG HR CZ DK EE FO FI FR DE GI GR GG VA HU IS IE IM IT JE XK LV LI LT LU MT MD MC ME NL MK NO PL PT RO RU SM RS SK SI ES SJ SE CH UA GB',
  NA: 'AI AG AW BS BB BZ BM BQ VG CA KY CR CU CW DM DO SV GL GD GP GT HT HN JM MQ MX MS NI PA PR BL KN LC MF PM VC SX TT TC US VI UM',
  OC: 'AS AU CK FJ PF GU KI MH FM NR NC NZ NU NF MP PW PG PN WS SB TK TO TV VU WF',
  SA: 'AR BO BR CL CO EC FK GF GY PY PE SR UY VE',
};

export const CONTINENTS = Object.keys(CONTINENT_COUNTRIES);

/** Countries of a continent code (upper case), or undefined for an unknown code. */
export function countriesOf(continent: string): string[] | undefined {
  return CONTINENT_COUNTRIES[continent]?.split(' ');
}

const CONTINENT_OF = new Map(
  Object.entries(CONTINENT_COUNTRIES).flatMap(([c, list]) =>
    list.split(' ').map((code) => [code, c] as const),
  ),
);

/**
 * The continents whose countries are exactly `codes` (a continent filter, expanded), or undefined
 * when the list is not whole continents. Lets a query read per-continent rollups.
 * @example continentsCovering(countriesOf('EU')!) // ['EU']; continentsCovering(['DE']) // undefined
 */
export function continentsCovering(codes: string[]): string[] | undefined {
  const unique = new Set(codes);
  if (unique.size === 0) return undefined;
  const continents = new Set<string>();
  for (const code of unique) {
    const c = CONTINENT_OF.get(code);
    if (!c) return undefined;
    continents.add(c);
  }
  let whole = 0;
  for (const c of continents) whole += countriesOf(c)!.length;
  return whole === unique.size ? [...continents] : undefined;
}

/** True for an ISO 3166-1 alpha-2 code we know, and for XX (unknown location). */
export function isCountryCode(code: string): boolean {
  return code === 'XX' || CONTINENT_OF.has(code);
}

const names = new Intl.DisplayNames(['en'], { type: 'region', fallback: 'code' });

/** English name of a country code; "Unknown" for XX. */
export function countryName(code: string): string {
  if (code === 'XX') return 'Unknown';
  try {
    return names.of(code) ?? code;
  } catch {
    return code;
  }
}
