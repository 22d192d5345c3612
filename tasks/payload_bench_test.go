package tasks_test

import (
	"testing"

	"github.com/hookworker/hookworker/internal/bench/fixture"
	"github.com/hookworker/hookworker/tasks"
)

// BenchmarkDecodeResourceChange measures the first thing every delivery
// does: parse and validate a task payload carrying a ~2 KB issue.
func BenchmarkDecodeResourceChange(b *testing.B) {
	project := int64(4504134)
	payload, err := tasks.EncodeResourceChange(tasks.ResourceChange{
		InstallationID: 123456, Event: "issue.created", Data: fixture.IssueData(4521337, 0), ProjectID: &project,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		p, err := tasks.DecodeResourceChange(payload, 1<<20)
		if err != nil {
			b.Fatal(err)
		}
		if p.InstallationID != 123456 {
			b.Fatalf("installation_id %d, want 123456", p.InstallationID)
		}
	}
}
