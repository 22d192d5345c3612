package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestMedianAndPercentile(t *testing.T) {
	t.Parallel()
	require.Equal(t, 0.0, median(nil))
	require.Equal(t, 2.0, median([]float64{3, 1, 2}))
	require.Equal(t, 2.5, median([]float64{4, 1, 3, 2}))
	xs := []float64{3, 1, 2}
	median(xs)
	require.Equal(t, []float64{3, 1, 2}, xs, "median must not sort its input")

	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	require.Equal(t, 50*time.Millisecond, percentile(d, 50))
	require.Equal(t, 99*time.Millisecond, percentile(d, 99))
	require.Equal(t, 100*time.Millisecond, percentile(d, 100))
	require.Equal(t, time.Millisecond, percentile(d[:1], 99))
	require.Equal(t, time.Duration(0), percentile(nil, 99))
}

func TestParseRedisInfo(t *testing.T) {
	t.Parallel()
	info := "# Stats\r\ntotal_connections_received:3\r\ntotal_commands_processed:1234\r\ntotal_reads_processed:567\r\n\r\n# CPU\r\nused_cpu_sys:1.500000\r\nused_cpu_user:2.250000\r\nused_cpu_sys_children:9.0\r\n"
	c, err := parseRedisInfo(info)
	require.NoError(t, err)
	require.Equal(t, redisCounters{commands: 1234, reads: 567, cpu: 3750 * time.Millisecond}, c)

	_, err = parseRedisInfo("# Stats\r\ntotal_commands_processed:1\r\n")
	require.Error(t, err, "Redis 5 has no total_reads_processed")
	_, err = parseRedisInfo("total_commands_processed:x\r\ntotal_reads_processed:1\r\nused_cpu_sys:1\r\nused_cpu_user:1\r\n")
	require.Error(t, err)
}

func TestParseProc(t *testing.T) {
	t.Parallel()
	rss, err := parseVmHWM([]byte("Name:\tworker\nVmPeak:\t  900000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t   40000 kB\n"))
	require.NoError(t, err)
	require.Equal(t, int64(50<<20), rss)
	_, err = parseVmHWM([]byte("Name:\tworker\n"))
	require.Error(t, err)

	// The command name may hold spaces and parentheses.
	stat := "4242 (my (odd) worker) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 12 0 100 1000 200"
	cpu, err := parseProcStatCPU([]byte(stat))
	require.NoError(t, err)
	require.Equal(t, 3*time.Second, cpu)
	_, err = parseProcStatCPU([]byte("4242 (x) S 1"))
	require.Error(t, err)

	m, err := parseMachineCPU([]byte("cpu  100 10 50 800 40 5 5 0 0 0\ncpu0 1 2 3 4\n"))
	require.NoError(t, err)
	require.Equal(t, machineCPU{busy: 170 * clockTick, total: 1010 * clockTick}, m)
	_, err = parseMachineCPU([]byte("intr 1 2 3\n"))
	require.Error(t, err)

	// The live files parse too.
	_, err = processCPU(0)
	require.NoError(t, err)
	_, err = readMachineCPU()
	require.NoError(t, err)
}

func TestWithEnv(t *testing.T) {
	t.Parallel()
	got := withEnv([]string{"A=1", "B=2", "REDIS_URL=redis://shared:6379/0", "C=x=y"}, "REDIS_URL=redis://127.0.0.1:1/0", "D=4")
	require.Equal(t, []string{"A=1", "B=2", "C=x=y", "REDIS_URL=redis://127.0.0.1:1/0", "D=4"}, got)
}

func TestDeadInstallationsAreSpread(t *testing.T) {
	t.Parallel()
	var dead []int
	for i := range 50 {
		if isDead(i, 50, 5) {
			dead = append(dead, i)
		}
	}
	require.Equal(t, []int{0, 10, 20, 30, 40}, dead)
	require.False(t, isDead(0, 50, 0))

	set := installations{ids: make([]int64, 50), healthy: make([]bool, 50)}
	for i := range 50 {
		set.healthy[i] = !isDead(i, 50, 5)
	}
	require.Equal(t, 18000, set.healthyCount(20000))
	require.Equal(t, 450, set.healthyCount(500))
}

func TestTally(t *testing.T) {
	t.Parallel()
	tl := newTally(3)
	base := time.Unix(1000, 0)
	tl.add(base.Add(20*time.Millisecond), 5*time.Millisecond)
	tl.add(base, -1)
	err := tl.wait(t.Context(), 10*time.Millisecond, nil)
	require.ErrorContains(t, err, "2 of 3")
	tl.add(base.Add(100*time.Millisecond), 7*time.Millisecond)
	tl.add(base.Add(time.Hour), 0) // an extra event is counted, not recorded
	require.NoError(t, tl.wait(t.Context(), time.Second, nil))
	require.Equal(t, 4, tl.seen())
	require.Equal(t, 100*time.Millisecond, tl.span())
	require.ElementsMatch(t, []time.Duration{5 * time.Millisecond, 7 * time.Millisecond}, tl.latencies())

	failed := make(chan error, 1)
	failed <- errQueueNotEmpty("q", time.Second)
	require.ErrorContains(t, newTally(1).wait(t.Context(), time.Minute, failed), "0 of 1")
}
