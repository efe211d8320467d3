package main

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// watchParent calls stop when the process that started the kernel is gone,
// as ipykernel's parent poller does: jupyter_client sets JPY_PARENT_PID when
// it launches a kernel, and a kernel whose parent died (reparented: its
// parent pid changed, or is 1) would otherwise live on, holding its ports.
// It does nothing without JPY_PARENT_PID or when that is 1 (a parent that is
// pid 1, as in some containers, cannot be told from an orphaning).
func watchParent(ctx context.Context, log *slog.Logger, interval time.Duration, stop func()) {
	pid, err := strconv.Atoi(os.Getenv("JPY_PARENT_PID"))
	if err != nil || pid <= 1 {
		return
	}
	initial := os.Getppid()
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if now := os.Getppid(); now != initial || now == 1 {
					log.Warn("the process that started the kernel is gone; stopping", "parent", initial, "now", now)
					stop()
					return
				}
			}
		}
	}()
}
