// Command export is the example of seed 002 (resumable jobs, Rails 8.1
// Active Job Continuations): a long export that writes many files, zips them
// and uploads the archive. write_files saves a cursor after each item, so a
// shutdown, a deploy or a crash costs at most the item in progress: the step
// resumes from the last saved cursor, in this process or another. The upload
// is an isolated step, which starts in a fresh activation with a whole time
// budget to itself.
//
// Input (both optional):
//
//	{"items": 10000, "delay_ms": 0}
//
// delay_ms is slept for each item, to make the export slow enough to
// interrupt by hand.
package main

import (
	"fmt"
	"time"

	wasmflow "github.com/wasmflow/wasmflow/sdk/go"
)

// Input is the workflow's input.
type Input struct {
	Items   *int   `json:"items"`
	DelayMS *int64 `json:"delay_ms"`
}

// Cursor is write_files' cursor: the index of the next item to process and
// the sum of the indices processed so far (the "work" of each item).
type Cursor struct {
	Next int   `json:"next"`
	Sum  int64 `json:"sum"`
}

// Archive is the outcome of zip_files.
type Archive struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
}

// Output summarises the export.
type Output struct {
	Processed int    `json:"processed"`
	Sum       int64  `json:"sum"`
	Archive   string `json:"archive"`
	Size      int64  `json:"size"`
	URL       string `json:"url"`
}

func init() {
	wasmflow.Workflow("export", export)
}

func export(ctx *wasmflow.Context, in Input) (Output, error) {
	items, delay := 10000, time.Duration(0)
	if in.Items != nil {
		items = *in.Items
	}
	if in.DelayMS != nil {
		delay = time.Duration(*in.DelayMS) * time.Millisecond
	}

	written, err := wasmflow.Step(ctx, "write_files", func(s *wasmflow.StepContext) (Cursor, error) {
		var cur Cursor
		if s.Cursor(&cur) {
			s.Context().Logf("resuming write_files at item %d of %d", cur.Next, items)
		}
		for i := cur.Next; i < items; i++ {
			if delay > 0 {
				time.Sleep(delay)
			}
			cur.Sum += int64(i)
			cur.Next = i + 1
			if cur.Next%100 == 0 || cur.Next == items {
				_ = s.Context().Progress(map[string]int{"written": cur.Next, "items": items})
			}
			// One save per item, after the item is done: a resumed step
			// starts at the first item not yet saved.
			s.Set(cur)
		}
		return cur, nil
	})
	if err != nil {
		return Output{}, err
	}

	archive, err := wasmflow.Step(ctx, "zip_files", func(s *wasmflow.StepContext) (Archive, error) {
		return Archive{Name: fmt.Sprintf("export-%s.zip", ctx.RunID()), Size: int64(written.Next) * 512}, nil
	})
	if err != nil {
		return Output{}, err
	}

	url, err := wasmflow.Step(ctx, "upload_files", func(s *wasmflow.StepContext) (string, error) {
		return "https://files.example.com/" + archive.Name, nil
	}, wasmflow.Isolated())
	if err != nil {
		return Output{}, err
	}

	return Output{Processed: written.Next, Sum: written.Sum, Archive: archive.Name, Size: archive.Size, URL: url}, nil
}

func main() {}
