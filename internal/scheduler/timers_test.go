package scheduler

import (
	"cmp"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/store"
)

func TestTimers(t *testing.T) {
	t0 := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	// hints lists the hints in time order as "id@seconds ".
	hints := func(tm *timers) string {
		h := slices.Clone(tm.h)
		slices.SortFunc(h, func(a, b store.Wakeup) int { return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.RunID, b.RunID)) })
		var s string
		for _, w := range h {
			s += fmt.Sprintf("%s@%d ", w.RunID, int(w.At.Sub(t0)/time.Second))
		}
		return s
	}

	t.Run("next is the earliest hint, and a claim drops the due ones", func(t *testing.T) {
		tm := &timers{max: 10}
		if _, ok := tm.next(); ok {
			t.Fatal("an empty heap has a next hint")
		}
		for i, s := range []int{5, 1, 3, 2} {
			tm.push(store.Wakeup{RunID: fmt.Sprint("r", i), At: at(s)})
		}
		if next, _ := tm.next(); !next.Equal(at(1)) {
			t.Fatalf("next = %v, want 1s", next)
		}
		tm.dropDue(at(2))
		if next, _ := tm.next(); !next.Equal(at(3)) || len(tm.h) != 2 {
			t.Fatalf("after dropping due hints at 2s: next %v, %d hints; want 3s, 2", next, len(tm.h))
		}
	})
	t.Run("a refresh adds wake-ups set elsewhere a grace later, and keeps the earliest max", func(t *testing.T) {
		tm := &timers{max: 3, grace: time.Second}
		tm.push(store.Wakeup{RunID: "local", At: at(2)})
		tm.push(store.Wakeup{RunID: "a", At: at(4)})
		listed := []*store.Wakeup{{RunID: "a", At: at(4)}, {RunID: "b", At: at(1)}, {RunID: "c", At: at(9)}}
		tm.merge(listed, false)
		if got, want := hints(tm), "b@2 local@2 a@4 "; got != want {
			t.Fatalf("hints %q, want %q", got, want)
		}
		if !tm.truncated {
			t.Fatal("a heap cut at its bound is not marked truncated")
		}
		tm.merge(listed[1:2], true) // b again: held already
		if got, want := hints(tm), "b@2 local@2 a@4 "; got != want {
			t.Fatalf("hints after listing b again %q, want %q", got, want)
		}
		tm.dropDue(at(2))
		if !tm.low() {
			t.Fatal("a truncated heap drained below half its bound is not low")
		}
		tm.merge(nil, false)
		if tm.low() {
			t.Fatal("a heap that holds every wake-up the store listed is low")
		}
	})
	t.Run("pushes past twice the bound cut the heap", func(t *testing.T) {
		tm := &timers{max: 2}
		for i := range 4 {
			tm.push(store.Wakeup{RunID: fmt.Sprint("r", i), At: at(10 - i)})
		}
		if got, want := hints(tm), "r3@7 r2@8 "; got != want {
			t.Fatalf("hints %q, want %q", got, want)
		}
	})
}
