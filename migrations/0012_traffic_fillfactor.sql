-- The minute table is written by additive upserts: a collector adds to the same (minute, key) row at
-- every flush while the minute lasts. A row updated on a full page moves to another page and gets a
-- new entry in each of the table's four indexes; with room left on its page the update stays there
-- (a heap-only tuple) and no index is touched. At fillfactor 70 an upsert of an existing row cost
-- 17 µs on the embedded database against 26 µs at 100, new rows 21 µs either way (bench/upsert.ts;
-- BENCHMARKS.md, "Ingest on an idle machine").
-- The setting reaches every chunk, existing and new (compressed ones too, where it is moot); it
-- governs the pages written from now on.
ALTER TABLE "traffic" SET (fillfactor = 70);
