package alert

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkEvaluateAndFlush: one evaluation cycle (rules engine + routing +
// dispatch) with 1000 firing alert instances in 10 groups, notifications
// repeated every cycle to an httptest webhook.
func BenchmarkEvaluateAndFlush(b *testing.B) {
	rcv := newReceiver(b)
	r := fastRoute("ops", nil, "shard")
	r.GroupWait, r.GroupInterval, r.RepeatInterval = dur(time.Second), dur(time.Second), dur(time.Second)
	c := webService(webhookTo(rcv.srv.URL, r), rule("QueueFull", `queue_depth > 100`, "P1", 0))
	h := newHarness(b, c, nil)
	for i := range 1000 {
		h.set(constant(500), "__name__", "queue_depth", "instance", fmt.Sprint(i), "shard", fmt.Sprint(i%10))
	}
	h.step(2)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.step(1)
	}
	b.StopTimer()
	if n := len(h.engine.Alerts()); n != 1000 {
		b.Fatalf("%d alerts", n)
	}
	b.ReportMetric(float64(rcv.count())/float64(b.N), "msgs/op")
}
