package executor

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/wasmflow/wasmflow/abi"
	"github.com/wasmflow/wasmflow/store"
)

// maxHeldChildren bounds the child starts one held write gathers (see
// childStart): a loop of starts commits in writes of at most this many.
const maxHeldChildren = 500

// childStart implements child_start (ABI.md, section 5.9).
func (a *Activation) childStart(c *call) (uint64, error) {
	if a.step != nil {
		return 0, a.fault("child_start called inside step %q: child runs start between steps", a.step.entry.Name)
	}
	raw, err := a.bytes(c, 0, "child request")
	if err != nil {
		return 0, err
	}
	req, err := decodeChildRequest(raw)
	if err != nil {
		return 0, a.fault("child_start: %v", err)
	}
	entry, err := a.next(store.EntryChild, req.Workflow)
	if err != nil {
		return 0, err
	}
	if entry != nil {
		a.record(entry)
		if entry.Status == store.EntryFailed {
			a.setRegister([]byte(entry.Error))
			return abi.ChildRefused, nil
		}
		a.setRegister(entry.Output)
		return abi.ChildStarted, nil
	}
	if err := a.checkStop(true); err != nil {
		return 0, err
	}
	t := now()
	entry = &store.Entry{RunID: a.run.ID, Seq: a.pos, Kind: store.EntryChild, Name: req.Workflow, Status: store.EntryCompleted, StartedAt: t, UpdatedAt: t}
	mod, refused, err := a.childModule(req)
	if err != nil {
		return 0, err
	}
	p := &store.RunApplyParams{Now: t, Entries: []*store.Entry{entry}}
	if refused != "" {
		entry.Status, entry.Error = store.EntryFailed, refused
	} else {
		id := childID(a.run.ID, a.run.Attempt, a.pos, t)
		entry.Output = []byte(id)
		input := json.RawMessage(req.Input)
		if input == nil {
			input = json.RawMessage("null")
		}
		onEnd := store.ParentEnd(req.OnParentEnd)
		if onEnd == "" {
			onEnd = store.ParentEndCancel
		}
		p.Children = []*store.RunInsertParams{{
			ID: id, ModuleName: mod.Name, ModuleVersion: mod.Version, ModuleDigest: mod.Digest,
			Workflow: req.Workflow, Input: input, Now: t, ParentID: a.run.ID, OnParentEnd: onEnd,
		}}
		p.Events = []*store.NewEvent{store.RunEvent(t, store.ChildStarted{
			Child: id, Workflow: req.Workflow, Module: mod.Name, Version: mod.Version})}
	}
	if err := a.holdChild(p); err != nil {
		return 0, err
	}
	a.record(entry)
	if refused != "" {
		a.setRegister([]byte(refused))
		return abi.ChildRefused, nil
	}
	a.setRegister(entry.Output)
	return abi.ChildStarted, nil
}

// decodeChildRequest parses and checks child_start's argument.
func decodeChildRequest(raw []byte) (*abi.ChildRequest, error) {
	var req abi.ChildRequest
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return nil, fmt.Errorf("the request is not a JSON object of the keys ABI.md lists: %v", err)
	}
	if dec.More() {
		return nil, errors.New("the request has data after its JSON object")
	}
	if err := abi.CheckName(req.Workflow); err != nil {
		return nil, fmt.Errorf("workflow: %v", err)
	}
	if req.Module != "" {
		if err := abi.CheckModuleName(req.Module); err != nil {
			return nil, fmt.Errorf("module: %v", err)
		}
	}
	if req.Version != "" {
		if req.Module == "" {
			return nil, errors.New("a version needs a module")
		}
		if err := abi.CheckName(req.Version); err != nil {
			return nil, fmt.Errorf("version: %v", err)
		}
	}
	switch req.OnParentEnd {
	case "", abi.OnParentEndCancel, abi.OnParentEndAbandon:
	default:
		return nil, fmt.Errorf("on_parent_end is %q; it is %q or %q", req.OnParentEnd, abi.OnParentEndCancel, abi.OnParentEndAbandon)
	}
	return &req, nil
}

// childModule finds the module version a child runs: the parent's own, or
// the one the request names. refused says why the child cannot start (no
// such module, version or workflow); that answer is journaled.
func (a *Activation) childModule(req *abi.ChildRequest) (mod *store.Module, refused string, err error) {
	name, version := req.Module, req.Version
	if name == "" {
		name, version = a.run.ModuleName, a.run.ModuleVersion
	}
	mod, err = a.e.moduleRecord(a, name, version)
	switch {
	case errors.Is(err, store.ErrNotFound) && version != "" && req.Module != "":
		return nil, fmt.Sprintf("module %s has no version %s", name, version), nil
	case errors.Is(err, store.ErrNotFound):
		return nil, fmt.Sprintf("no module %s", name), nil
	case err != nil:
		a.end = &ending{kind: endStore, err: fmt.Errorf("look up module %s for a child of run %s: %w", name, a.run.ID, err)}
		return nil, "", errEndCall
	}
	if !slices.Contains(mod.Workflows, req.Workflow) {
		return nil, fmt.Sprintf("module %s version %s has no workflow %q (it has %v)", mod.Name, mod.Version, req.Workflow, mod.Workflows), nil
	}
	return mod, "", nil
}

// moduleRecord returns a module version's record. A named version never
// changes while it exists, so it is kept until ForgetModuleVersion; the
// latest version is looked up every time.
func (e *Executor) moduleRecord(a *Activation, name, version string) (*store.Module, error) {
	key := name + "\x00" + version
	if version != "" {
		if m, ok := e.moduleRecords.Load(key); ok {
			return m.(*store.Module), nil
		}
	}
	var mod *store.Module
	err := a.persist(func(ctx context.Context) (err error) {
		mod, err = e.store.ModuleGetByName(ctx, &store.ModuleGetByNameParams{Name: name, Version: version})
		return err
	})
	if err != nil {
		return nil, err
	}
	e.moduleRecords.Store(mod.Name+"\x00"+mod.Version, mod)
	return mod, nil
}

// ForgetModuleVersion drops what the executor keeps of a module version
// that was deleted, so that a child start naming it looks it up again (and
// is refused). The compiled code of its digest is kept: it is the same for
// any module with those bytes.
func (e *Executor) ForgetModuleVersion(name, version string) {
	e.moduleRecords.Delete(name + "\x00" + version)
}

// childID is the run id of the child started at journal position pos of
// the parent's attempt: a UUID of version 7, so that run ids still sort by
// creation, whose random bits are derived from the parent, its attempt and
// the position. The child, its journal entry and the parent's event are
// one write, which is what makes a start happen once; the derivation keeps
// a child's id telling of where it was started.
func childID(parent string, attempt, pos int, t time.Time) string {
	var seed [8 + len("child")]byte
	binary.BigEndian.PutUint32(seed[0:], uint32(attempt))
	binary.BigEndian.PutUint32(seed[4:], uint32(pos))
	copy(seed[8:], "child")
	sum := sha256.Sum256(append([]byte(parent), seed[:]...))
	var u uuid.UUID
	copy(u[:], sum[:16])
	ms := uint64(t.UnixMilli())
	u[0], u[1], u[2], u[3], u[4], u[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	u[6] = 0x70 | u[6]&0x0f // version 7
	u[8] = 0x80 | u[8]&0x3f // RFC 9562 variant
	return u.String()
}

// holdChild keeps a child start's write with the held write, so that a
// loop of starts commits together at the guest's next host call that is
// not another start (ABI.md allows a host to delay it so). With test hooks
// the write is made at once, as holdStep does.
func (a *Activation) holdChild(p *store.RunApplyParams) error {
	if h := a.e.hooks; h.Crash != nil || h.Interrupt != nil {
		return a.apply(p)
	}
	a.hold(p)
	if len(a.held.Children) >= maxHeldChildren {
		return a.flushHeld()
	}
	return nil
}

// childAwait implements child_await (ABI.md, section 5.9).
func (a *Activation) childAwait(c *call) (uint64, error) {
	if a.step != nil {
		return 0, a.fault("child_await called inside step %q: waiting belongs between steps", a.step.entry.Name)
	}
	raw, err := a.bytes(c, 0, "child ids")
	if err != nil {
		return 0, err
	}
	var ids []string
	if err := json.Unmarshal(raw, &ids); err != nil {
		return 0, a.fault("child_await: the ids are not a JSON array of strings: %v", err)
	}
	mode, timeout := c.i32(2), c.i64(3)
	var name string
	switch mode {
	case abi.AwaitAll:
		name = "all"
	case abi.AwaitAny:
		name = "any"
		if len(ids) == 0 {
			return 0, a.fault("child_await: AwaitAny of no children would wait for ever")
		}
	default:
		return 0, a.fault("child_await: mode %d is neither AwaitAll (0) nor AwaitAny (1)", mode)
	}
	w := journaledWait{kind: store.EntryChildren, name: name, timer: "children:" + name, reason: SuspendChildren}
	return a.wait(w, timeout, func(_, done *store.Entry, _, suspend *store.RunApplyParams) (bool, error) {
		kids := &store.RunChildren{}
		if len(ids) > 0 {
			err := a.persist(func(ctx context.Context) (err error) {
				kids, err = a.e.store.RunChildren(ctx, &store.RunChildrenParams{ParentID: a.run.ID, IDs: ids})
				return err
			})
			if err != nil {
				a.end = &ending{kind: endStore, err: fmt.Errorf("read the children of run %s: %w", a.run.ID, err)}
				return false, errEndCall
			}
		}
		answer, left, err := childrenAnswer(ids, kids.Runs, mode)
		if err != nil {
			return false, a.fault("child_await: %v", err)
		}
		if answer == nil {
			suspend.WakeAtChildrenEnded = kids.Ended + int64(left)
			return false, nil
		}
		done.Output = answer
		return true, nil
	})
}

// childrenAnswer is child_await's answer when the wait is over, or nil
// and how many more ends of these children it waits for. Every id must be
// among runs, the parent's children.
func childrenAnswer(ids []string, runs []*store.Run, mode uint32) (answer json.RawMessage, left int, err error) {
	byID := make(map[string]*store.Run, len(runs))
	for _, r := range runs {
		byID[r.ID] = r
	}
	pending := map[string]bool{}
	var first *store.Run
	for _, id := range ids {
		r := byID[id]
		if r == nil {
			return nil, 0, fmt.Errorf("%q is not a child this run started", id)
		}
		if !r.Status.Terminal() {
			pending[id] = true
			continue
		}
		if first == nil || r.CompletedAt != nil && first.CompletedAt != nil && r.CompletedAt.Before(*first.CompletedAt) {
			first = r
		}
	}
	switch {
	case mode == abi.AwaitAny && first != nil:
		return mustJSON([]abi.ChildResult{childResult(first)}), 0, nil
	case mode == abi.AwaitAny:
		return nil, 1, nil
	case len(pending) > 0:
		return nil, len(pending), nil
	}
	results := make([]abi.ChildResult, len(ids))
	for i, id := range ids {
		results[i] = childResult(byID[id])
	}
	return mustJSON(results), 0, nil
}

// childResult is a terminal child's result as child_await answers it.
func childResult(r *store.Run) abi.ChildResult {
	res := abi.ChildResult{ID: r.ID, Status: string(r.Status)}
	switch r.Status {
	case store.StatusCompleted:
		res.Output = abi.JSON(r.Output)
	case store.StatusCancelled:
		res.Error = r.Error
		if res.Error == "" {
			res.Error = "cancelled"
		}
	default:
		res.Error = r.Error
	}
	return res
}
