package telemetry

import (
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PoolStater is what the pool collector reads: *pgxpool.Pool.
type PoolStater interface {
	Stat() *pgxpool.Stat
}

// poolCollector exports the statistics of one pgx pool at scrape time (#15), so an exhausted or starved pool
// (acquires waiting, connections all in use) shows before requests time out.
type poolCollector struct {
	pool PoolStater
}

var (
	poolAcquired     = poolDesc("acquired_conns", "PostgreSQL connections currently in use.")
	poolIdle         = poolDesc("idle_conns", "PostgreSQL connections idle in the pool.")
	poolTotal        = poolDesc("total_conns", "PostgreSQL connections open (in use, idle and being opened).")
	poolConstructing = poolDesc("constructing_conns", "PostgreSQL connections being opened.")
	poolMax          = poolDesc("max_conns", "Most PostgreSQL connections the pool may open (INFRA_DB_MAX_CONNS).")
	poolAcquires     = poolDesc("acquires_total", "Connections acquired from the pool.")
	poolAcquireSecs  = poolDesc("acquire_duration_seconds_total", "Total time spent waiting to acquire a connection.")
	poolEmpty        = poolDesc("empty_acquires_total", "Acquires that had to wait because no idle connection was ready.")
	poolEmptyWait    = poolDesc("empty_acquire_wait_seconds_total", "Total time acquires waited for a connection when none was idle.")
	poolCanceled     = poolDesc("canceled_acquires_total", "Acquires abandoned because their context ended (request deadline or hang-up).")
	poolNew          = poolDesc("new_conns_total", "Connections the pool opened.")
)

func poolDesc(name, help string) *prometheus.Desc {
	return prometheus.NewDesc("infrastructor_db_pool_"+name, help, nil, nil)
}

// NewPoolCollector returns a collector of pool's statistics.
func NewPoolCollector(pool PoolStater) prometheus.Collector { return poolCollector{pool: pool} }

func (poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{poolAcquired, poolIdle, poolTotal, poolConstructing, poolMax, poolAcquires,
		poolAcquireSecs, poolEmpty, poolEmptyWait, poolCanceled, poolNew} {
		ch <- d
	}
}

func (c poolCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.pool.Stat()
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	gauge(poolAcquired, float64(s.AcquiredConns()))
	gauge(poolIdle, float64(s.IdleConns()))
	gauge(poolTotal, float64(s.TotalConns()))
	gauge(poolConstructing, float64(s.ConstructingConns()))
	gauge(poolMax, float64(s.MaxConns()))
	counter(poolAcquires, float64(s.AcquireCount()))
	counter(poolAcquireSecs, s.AcquireDuration().Seconds())
	counter(poolEmpty, float64(s.EmptyAcquireCount()))
	counter(poolEmptyWait, s.EmptyAcquireWaitTime().Seconds())
	counter(poolCanceled, float64(s.CanceledAcquireCount()))
	counter(poolNew, float64(s.NewConnsCount()))
}
