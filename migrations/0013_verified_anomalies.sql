-- Every NetFlows answer's confidenceInfo reads the verified traffic anomalies overlapping its
-- windows (src/anomalies/store.ts, verifiedAnomaliesSql). The detector leaves thousands unverified
-- (5,532 on dataset M), which that read scanned at every request; indexed apart, it reads only the
-- few an operator verified.
CREATE INDEX "traffic_anomalies_verified_idx" ON "traffic_anomalies" USING btree ("start_time") WHERE "traffic_anomalies"."status" = 'VERIFIED';