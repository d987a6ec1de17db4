-- Rollups per continent: a continent filter (continent=EU) names ~50 countries, and read from the
-- per-location rollups it read every country-hour of them (~10k rows a week on the benchmark's
-- dataset M, growing with the countries seen); per continent it reads one row per (hour, product,
-- direction). The query uses them when a series' location filter is exactly whole continents
-- (src/query/sql.ts). continent_of() is the partition of src/query/geo.ts (a test holds the two
-- equal); codes in no continent, XX among them, map to 'XX' so NOT IN keeps them as it would
-- for locations. Built on the per-location rollups, refreshed after them.
--> statement-breakpoint
CREATE FUNCTION continent_of(code char(2)) RETURNS char(2) LANGUAGE sql IMMUTABLE PARALLEL SAFE
RETURN CASE
    WHEN code IN ('DZ', 'AO', 'BJ', 'BW', 'BF', 'BI', 'CV', 'CM', 'CF', 'TD', 'KM', 'CG', 'CD', 'CI', 'DJ', 'EG', 'GQ', 'ER', 'SZ', 'ET', 'GA', 'GM', 'GH', 'GN', 'GW', 'KE', 'LS', 'LR', 'LY', 'MG', 'MW', 'ML', 'MR', 'MU', 'YT', 'MA', 'MZ', 'NA', 'NE', 'NG', 'RE', 'RW', 'SH', 'ST', 'SN', 'SC', 'SL', 'SO', 'ZA', 'SS', 'SD', 'TZ', 'TG', 'TN', 'UG', 'EH', 'ZM', 'ZW') THEN 'AF'
    WHEN code IN ('AQ', 'BV', 'GS', 'HM', 'TF') THEN 'AN'
    WHEN code IN ('AF', 'AM', 'AZ', 'BH', 'BD', 'BT', 'IO', 'BN', 'KH', 'CN', 'CC', 'CX', 'CY', 'GE', 'HK', 'IN', 'ID', 'IR', 'IQ', 'IL', 'JP', 'JO', 'KZ', 'KW', 'KG', 'LA', 'LB', 'MO', 'MY', 'MV', 'MN', 'MM', 'NP', 'KP', 'OM', 'PK', 'PS', 'PH', 'QA', 'SA', 'SG', 'KR', 'LK', 'SY', 'TW', 'TJ', 'TH', 'TL', 'TR', 'TM', 'AE', 'UZ', 'VN', 'YE') THEN 'AS'
    WHEN code IN ('AX', 'AL', 'AD', 'AT', 'BY', 'BE', 'BA', 'BG', 'HR', 'CZ', 'DK', 'EE', 'FO', 'FI', 'FR', 'DE', 'GI', 'GR', 'GG', 'VA', 'HU', 'IS', 'IE', 'IM', 'IT', 'JE', 'XK', 'LV', 'LI', 'LT', 'LU', 'MT', 'MD', 'MC', 'ME', 'NL', 'MK', 'NO', 'PL', 'PT', 'RO', 'RU', 'SM', 'RS', 'SK', 'SI', 'ES', 'SJ', 'SE', 'CH', 'UA', 'GB') THEN 'EU'
    WHEN code IN ('AI', 'AG', 'AW', 'BS', 'BB', 'BZ', 'BM', 'BQ', 'VG', 'CA', 'KY', 'CR', 'CU', 'CW', 'DM', 'DO', 'SV', 'GL', 'GD', 'GP', 'GT', 'HT', 'HN', 'JM', 'MQ', 'MX', 'MS', 'NI', 'PA', 'PR', 'BL', 'KN', 'LC', 'MF', 'PM', 'VC', 'SX', 'TT', 'TC', 'US', 'VI', 'UM') THEN 'NA'
    WHEN code IN ('AS', 'AU', 'CK', 'FJ', 'PF', 'GU', 'KI', 'MH', 'FM', 'NR', 'NC', 'NZ', 'NU', 'NF', 'MP', 'PW', 'PG', 'PN', 'WS', 'SB', 'TK', 'TO', 'TV', 'VU', 'WF') THEN 'OC'
    WHEN code IN ('AR', 'BO', 'BR', 'CL', 'CO', 'EC', 'FK', 'GF', 'GY', 'PY', 'PE', 'SR', 'UY', 'VE') THEN 'SA'
    ELSE 'XX'
  END;
--> statement-breakpoint
CREATE MATERIALIZED VIEW traffic_cont_1h
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS time, continent_of(location) AS continent, product, direction,
       sum(bytes)::bigint AS bytes, sum(packets)::bigint AS packets, sum(flows)::bigint AS flows
FROM traffic_loc_1h
GROUP BY 1, 2, product, direction
WITH NO DATA;
--> statement-breakpoint
CREATE MATERIALIZED VIEW traffic_cont_1d
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 day', time) AS time, continent, product, direction,
       sum(bytes)::bigint AS bytes, sum(packets)::bigint AS packets, sum(flows)::bigint AS flows
FROM traffic_cont_1h
GROUP BY 1, continent, product, direction
WITH NO DATA;
