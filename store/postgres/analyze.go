package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Young tables. Each pooled connection keeps the plan of a prepared
// statement (planCacheMode), and Postgres plans it again only when a table
// it reads is analysed. On a new database the first plans are made while
// the tables hold a handful of rows, where a sequential scan is the
// cheapest plan; autovacuum analyses a table only after it has changed by
// 10% and at most once a minute, so for the database's first minutes the
// write batches' fence read scanned the whole runs table (0.9 ms a batch in
// `wasmflow bench` on a fresh database, 0.08 ms once analysed). So the
// store analyses its busiest tables itself while they are young: when it
// has committed analyzeAfter writes, in the background, those of them that
// have grown to more than twice the pages they had when last analysed (and
// past a few pages). A table that autovacuum keeps analysed is left alone,
// and a failure (an ANALYZE the role may not run) only leaves the plans as
// they were. The sizes are the files' own, so that a count of changes not
// yet flushed to the statistics cannot hide a young table.
var analyzeAfter = []int64{100, 300, 1000, 3000, 10000, 30000, 100000}

// youngTables are the tables analyzeYoung analyses.
const youngTables = `SELECT oid::regclass::text FROM pg_class
	WHERE oid = ANY(ARRAY['runs', 'entries', 'events', 'effects']::regclass[])
		AND pg_relation_size(oid) / current_setting('block_size')::bigint > 2 * GREATEST(relpages, 4)`

// wrote counts n committed writes and starts analyzeYoung when the count
// reaches the next of the store's thresholds.
func (s *Store) wrote(n int) {
	w := s.writes.Add(int64(n))
	for {
		k := s.analyzed.Load()
		if int(k) >= len(s.analyzeAfter) || w < s.analyzeAfter[k] {
			return
		}
		if s.analyzed.CompareAndSwap(k, k+1) {
			s.background.Go(s.analyzeYoung)
			return
		}
	}
}

// analyzeYoung analyses the young tables among youngTables.
func (s *Store) analyzeYoung() {
	ctx, cancel := context.WithTimeout(s.life, time.Minute)
	defer cancel()
	rows, _ := s.pool.Query(ctx, youngTables)
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, t := range tables {
		// t is the table's name as regclass prints it, quoted where needed.
		if _, err := s.pool.Exec(ctx, "ANALYZE "+t); err != nil {
			return
		}
	}
}
