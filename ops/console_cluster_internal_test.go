package ops

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
	"gorm.io/gorm"

	"github.com/hookworker/hookworker/breaker"
	"github.com/hookworker/hookworker/internal/testenv"
	"github.com/hookworker/hookworker/requestlog"
)

// TestReadDaysTopologies reads the breaker counters of several apps, whose
// daily keys are spread over every master of a cluster, the same way on a
// single node (one script) and on a cluster (pipelined HMGETs), and their
// last failures from the request log (pipelined LINDEX, split by node).
func TestReadDaysTopologies(t *testing.T) {
	t.Parallel()
	for _, topo := range []struct {
		name   string
		client func(t *testing.T) redis.UniversalClient
		split  bool
	}{
		{"single", func(t *testing.T) redis.UniversalClient { return testenv.NewRedis(t).Client }, false},
		{"cluster", func(t *testing.T) redis.UniversalClient { return testenv.NewRedisCluster(t).ClusterClient(t) }, true},
	} {
		t.Run(topo.name, func(t *testing.T) {
			t.Parallel()
			rdb := topo.client(t)
			ctx := context.Background()
			now := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
			c, err := NewConsole(ConsoleConfig{DB: new(gorm.DB), Redis: rdb, Now: func() time.Time { return now }})
			require.NoError(t, err)
			require.Equal(t, topo.split, c.c.SplitBySlot, "NewConsole recognises a cluster client")

			pairs := []pair{{1, 9}, {2, 9}, {3, 10}, {4, 11}}
			days := c.days()
			for i, p := range pairs {
				for d, day := range days {
					require.NoError(t, rdb.HSet(ctx, breaker.Key(p.app, p.org, day),
						fieldSuccess, i, fieldError, d, fieldTimeout, i*10+d).Err())
				}
			}
			require.NoError(t, rdb.Del(ctx, breaker.Key(2, 9, days[0])).Err()) // a missing day reads as zero
			got, err := c.readDays(ctx, append(pairs, pair{5, 9}), days)
			require.NoError(t, err)
			for i, p := range pairs {
				for d, day := range days {
					want := DayCount{Date: day.Format(time.DateOnly), Success: int64(i), Error: int64(d), Timeout: int64(i*10 + d)}
					if p.app == 2 && d == 0 {
						want = DayCount{Date: want.Date}
					}
					require.Equal(t, want, got[i][d], "app %d, day %d", p.app, d)
				}
			}
			require.Equal(t, DayCount{Date: days[0].Format(time.DateOnly)}, got[4][0], "an app without keys")

			w := requestlog.NewWriter(rdb)
			defer w.Close()
			for i, p := range pairs {
				require.NoError(t, w.Write(ctx, p.app, "issue.created",
					requestlog.Entry{ResponseCode: 500 + i, Date: "2026-11-27 11:00:00.000000+00:00"}, nil))
			}
			failures, err := c.lastFailures(ctx, []int64{1, 2, 3, 4, 5})
			require.NoError(t, err)
			require.Len(t, failures, 4, "app 5 has none")
			for i, p := range pairs {
				require.Equal(t, 500+i, failures[p.app].ResponseCode, "app %d", p.app)
				require.Equal(t, "issue.created", failures[p.app].EventType)
			}
		})
	}
}
