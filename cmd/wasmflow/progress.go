package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/wasmflow/wasmflow/host/api"
)

// waitRun follows run id's events until the run has finished or waits for a
// signal (as POST /v1/runs?wait= would answer), or until deadline, showing
// them on p. Reaching the deadline is not an error: the run goes on.
//
// Events give the run's transitions as they happen, but a step's checkpoints
// in a tight loop are coalesced into one event that is updated in place, so
// a live stream does not see a cursor move. A status line on a terminal is
// therefore also refreshed from the run itself once a second.
func waitRun(ctx context.Context, c *apiClient, id string, deadline time.Time, p *progress) error {
	wctx, cancel := context.WithDeadline(ctx, deadline)
	var wg sync.WaitGroup
	if p.tty {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(time.Second)
			defer tick.Stop()
			for {
				select {
				case <-wctx.Done():
					return
				case <-tick.C:
				}
				var run api.Run
				if _, err := c.do(wctx, "GET", "/v1/runs/"+id, nil, &run); err == nil {
					p.run(&run)
				}
			}
		}()
	}
	err := c.follow(wctx, id, 0, func(e api.Event) error {
		p.event(e)
		switch {
		case e.Type == "run_completed" || e.Type == "run_failed" || e.Type == "run_cancelled":
			return errStopFollowing
		case e.Type == "run_suspended" && suspendReason(e) == "signal":
			// The signal may have arrived already and woken the run.
			var run api.Run
			if _, err := c.do(wctx, "GET", "/v1/runs/"+id, nil, &run); err != nil {
				return err
			}
			if settled(run.Status) {
				return errStopFollowing
			}
		}
		return nil
	})
	cancel()
	wg.Wait()
	p.done()
	if err != nil && ctx.Err() == nil && wctx.Err() != nil {
		return nil // the wait is over, the run is not
	}
	return err
}

func suspendReason(e api.Event) string {
	var d struct{ Reason string }
	_ = json.Unmarshal(e.Data, &d)
	return d.Reason
}

// progress shows a run's progress while a command waits for it: on a
// terminal, one status line updated in place (the run's status, the step
// being run, its cursor, the progress the guest published); otherwise one
// line per event, as `run events` prints them, which logs and CI keep
// readable.
type progress struct {
	w     io.Writer
	tty   bool
	width int
	start time.Time

	mu            sync.Mutex
	status, step  string
	cursor, value json.RawMessage
	drawn         bool
}

// newProgress shows progress on f, as a status line if f is a terminal. A
// status line must not wrap to be redrawn in place; its width is $COLUMNS,
// or 80.
func newProgress(f *os.File) *progress {
	fi, err := f.Stat()
	p := &progress{w: f, tty: err == nil && fi.Mode()&os.ModeCharDevice != 0, width: 80, start: time.Now()}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 20 {
		p.width = n
	}
	return p
}

func (p *progress) event(e api.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		writeEvent(p.w, e)
		return
	}
	switch e.Type {
	case "run_created":
		p.status = "pending"
	case "activation_started", "timer_fired", "signal_received":
		p.status = "running"
	case "step_started":
		p.status, p.step, p.cursor = "running", e.Step, nil
	case "checkpoint":
		var d struct{ Cursor json.RawMessage }
		if json.Unmarshal(e.Data, &d) == nil {
			p.step, p.cursor = e.Step, d.Cursor
		}
	case "retry_scheduled":
		p.status = "retrying"
	case "run_suspended":
		p.status = map[string]string{"sleep": "sleeping", "signal": "waiting for a signal", "retry": "waiting to retry"}[suspendReason(e)]
		if p.status == "" {
			p.status = "pending"
		}
	case "run_completed", "run_failed", "run_cancelled":
		p.status = e.Type[len("run_"):]
	}
	p.draw()
}

// run refreshes the status line from the run: its cursor and progress are
// newer than the events show.
func (p *progress) run(r *api.Run) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.tty {
		return
	}
	p.status, p.value = r.Status, r.Progress
	for i := len(r.Steps) - 1; i >= 0; i-- {
		if s := r.Steps[i]; s.Status == "running" || s.Status == "retrying" {
			p.step, p.cursor = s.Name, s.Cursor
			break
		}
	}
	p.draw()
}

func (p *progress) draw() {
	line := fmt.Sprintf("%5.1fs  %s", time.Since(p.start).Seconds(), p.status)
	if p.step != "" {
		line += "  step " + p.step
	}
	if c := compact(p.cursor); c != "" {
		line += "  cursor " + c
	}
	if v := compact(p.value); v != "" {
		line += "  progress " + v
	}
	fmt.Fprintf(p.w, "\r\x1b[K%s", shorten(line, p.width-1))
	p.drawn = true
}

// done clears the status line.
func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.drawn = false
	}
}
