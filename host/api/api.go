// Package api is wasmflow's REST API v1 over HTTP, a thin layer over the
// host's Go API: it decodes requests, calls package host, and encodes the
// answers. The routes, fields and error codes are the contract in DESIGN.md.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/wasmflow/wasmflow/host"
	"github.com/wasmflow/wasmflow/host/api/ui"
)

// Config configures the API. Zero fields take the defaults shown.
type Config struct {
	// BodyLimit bounds request bodies. Default: the host's module size limit
	// plus 1 MiB.
	BodyLimit int
	// Context ends live event streams (GET /v1/runs/{id}/events as
	// text/event-stream) when it is done, so that a graceful shutdown need
	// not wait for runs to finish. Default: streams end with their run or
	// their client.
	Context context.Context
	// EventPoll is how often a live event stream looks for new events.
	// Default 200ms.
	EventPoll time.Duration
	// Auth checks the bearer token every route but /healthz needs (see
	// auth.go for the scope of each). Default: the host's tokens. NoAuth
	// turns authentication off, for dev mode on loopback.
	Auth Authenticator
}

// New returns the API's fiber app for h.
func New(h *host.Host, cfg *Config) *fiber.App {
	c := Config{}
	if cfg != nil {
		c = *cfg
	}
	if c.BodyLimit == 0 {
		c.BodyLimit = h.Limits().ModuleSize + 1<<20
	}
	if c.Context == nil {
		c.Context = context.Background()
	}
	if c.EventPoll == 0 {
		c.EventPoll = 200 * time.Millisecond
	}
	app := fiber.New(fiber.Config{
		AppName:               "wasmflow",
		BodyLimit:             c.BodyLimit,
		DisableStartupMessage: true,
		ErrorHandler:          errorHandler,
	})
	s := &server{h: h, cfg: c, requests: requestMetric(h.Metrics())}
	app.Use(s.observe)
	app.Use(requestContext)
	app.Use(authenticate(h, c.Auth))
	app.Get("/healthz", func(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) })
	app.Get("/metrics", s.metricsHandler())
	app.Get("/", webUIPage)
	app.Get("/ui/:file", ui.Asset)
	v1 := app.Group("/v1")
	v1.Get("/openapi.json", openAPI)
	v1.Post("/modules", s.pushModule)
	v1.Get("/modules", s.listModules)
	v1.Get("/modules/:name", s.getModule)
	v1.Delete("/modules/:name/versions/:version", s.deleteModuleVersion)
	v1.Post("/runs", s.startRun)
	v1.Get("/runs", s.listRuns)
	v1.Get("/runs/counts", s.countRuns) // before /runs/:id; run ids are UUIDs
	v1.Post("/runs/purge", s.purgeRuns)
	v1.Post("/runs/cancel", s.cancelRuns)
	v1.Post("/runs/retry", s.retryRuns)
	v1.Get("/runs/:id", s.getRun)
	v1.Get("/runs/:id/events", s.listEvents)
	v1.Post("/runs/:id/signals/:name", s.signal)
	v1.Post("/runs/:id/cancel", s.cancel)
	v1.Post("/runs/:id/retry", s.retry)
	v1.Post("/runs/:id/upgrade", s.upgradeRun)
	v1.Post("/modules/:name/upgrade", s.upgradeModule)
	app.Use(func(c *fiber.Ctx) error {
		return apiError(host.ErrNotFound, "no route "+c.Method()+" "+c.Path())
	})
	return app
}

type server struct {
	h        *host.Host
	cfg      Config
	requests *prometheus.HistogramVec
}

// Error is the body of every error answer. Its code is one of these, stable
// for clients to match on (openapi.json lists them too):
//
//	400 invalid_json        a JSON body (run request, signal payload) does not parse, or is not UTF-8
//	400 invalid_request     a field, a query parameter, a path parameter or a header has a wrong value
//	                        (a name outside the grammar of ABI.md section 3.1), is missing, or is unknown
//	400 invalid_module      the uploaded bytes are not a valid wasmflow module (the message says why)
//	401 unauthorized        no bearer token, or an unknown or revoked one (auth.go)
//	403 forbidden           the token's scope does not allow the route (auth.go)
//	404 not_found           no such run, module or route
//	404 module_not_found    POST /v1/runs names a module (or module version) that does not exist
//	409 conflict            the module version exists with other bytes
//	409 idempotency_key_reused  POST /v1/runs reuses the idempotency key of a run started with
//	                        another module, version, workflow or input
//	409 run_finished        a signal to a run that has finished
//	409 invalid_transition  cancel or retry of a run whose status does not allow it
//	409 version_in_use      DELETE of a module version that runs still need (the message says how many)
//	409 run_running         upgrade of a run that is running (upgrade it once it suspends)
//	409 upgrade_diverged    upgrade to a version whose code diverges from the run's journal; the
//	                        error's divergence names the first position where they disagree
//	413 too_large           the body, a module or a payload is over its limit (the message names the limit)
//	422 workflow_not_found  POST /v1/runs names a workflow the module does not export
//	500 internal            a bug; the message says what failed
//	503 unavailable         the token could not be checked now, or the request ended with the server's
//	                        shutdown before its answer; try again
type Error struct {
	Error ErrorBody `json:"error"`
}

// ErrorBody is a stable code and a message for people.
type ErrorBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Divergence, in a 409 upgrade_diverged, is where the version's code
	// and the run's journal first disagree.
	Divergence *Divergence `json:"divergence,omitempty"`
}

type httpError struct {
	status int
	body   ErrorBody
}

func (e *httpError) Error() string { return e.body.Message }

// Kinds of errors that only the HTTP layer answers with.
const (
	errForbidden        host.ErrorKind = "forbidden"
	errMethodNotAllowed host.ErrorKind = "method_not_allowed"
)

// statuses is the HTTP status of each kind of error: the one place where
// the host's error kinds become answers (the kind is the answer's code).
var statuses = map[host.ErrorKind]int{
	host.ErrInvalid:              fiber.StatusBadRequest,
	host.ErrInvalidJSON:          fiber.StatusBadRequest,
	host.ErrInvalidModule:        fiber.StatusBadRequest,
	host.ErrUnauthorized:         fiber.StatusUnauthorized,
	errForbidden:                 fiber.StatusForbidden,
	host.ErrNotFound:             fiber.StatusNotFound,
	host.ErrModuleNotFound:       fiber.StatusNotFound,
	errMethodNotAllowed:          fiber.StatusMethodNotAllowed,
	host.ErrConflict:             fiber.StatusConflict,
	host.ErrIdempotencyKeyReused: fiber.StatusConflict,
	host.ErrRunFinished:          fiber.StatusConflict,
	host.ErrInvalidTransition:    fiber.StatusConflict,
	host.ErrVersionInUse:         fiber.StatusConflict,
	host.ErrRunRunning:           fiber.StatusConflict,
	host.ErrUpgradeDiverged:      fiber.StatusConflict,
	host.ErrTooLarge:             fiber.StatusRequestEntityTooLarge,
	host.ErrWorkflowNotFound:     fiber.StatusUnprocessableEntity,
	host.ErrInternal:             fiber.StatusInternalServerError,
	host.ErrUnavailable:          fiber.StatusServiceUnavailable,
}

// apiError is the answer for an error of kind with a message for people.
func apiError(kind host.ErrorKind, msg string) error {
	status, ok := statuses[kind]
	if !ok {
		status = fiber.StatusInternalServerError
	}
	return &httpError{status: status, body: ErrorBody{Code: string(kind), Message: msg}}
}

func errorHandler(c *fiber.Ctx, err error) error {
	var he *httpError
	var fe *fiber.Error
	switch {
	case errors.As(err, &he):
	case errors.As(err, &fe):
		code := "http_error"
		switch fe.Code {
		case fiber.StatusRequestEntityTooLarge:
			code = string(host.ErrTooLarge)
		case fiber.StatusNotFound:
			code = string(host.ErrNotFound)
		case fiber.StatusMethodNotAllowed:
			code = string(errMethodNotAllowed)
		}
		he = &httpError{status: fe.Code, body: ErrorBody{Code: code, Message: fe.Message}}
	default:
		kind, msg := host.KindOf(err), err.Error()
		switch {
		case kind == host.ErrInternal && c.UserContext().Err() != nil && errors.Is(err, context.Canceled):
			// The request's context ended (requestContext) before its
			// answer: not a bug. Only a client of a server that shuts
			// down still reads it.
			kind, msg = host.ErrUnavailable, "the request ended before its answer: the server is shutting down or the client went away; try again"
		case kind == host.ErrUnavailable:
			// The database dropped the connection or cannot be reached
			// (a restart, a failover): not a bug, and over soon.
			c.Set(fiber.HeaderRetryAfter, "1")
			msg += "; try again"
		}
		he = apiError(kind, msg).(*httpError)
		var de *host.DivergenceError
		if errors.As(err, &de) {
			he.body.Divergence = toDivergence(&de.Divergence)
		}
	}
	return c.Status(he.status).JSON(Error{Error: he.body})
}

// Module is a module version as the API shows it.
type Module struct {
	Name      string     `json:"name"`
	Version   string     `json:"version"`
	Digest    string     `json:"digest"`
	Size      int64      `json:"size"`
	Workflows []Workflow `json:"workflows"`
	CreatedAt time.Time  `json:"created_at"`
	// Runs counts the runs pinned to this version; only GET
	// /v1/modules/{name} fills it in.
	Runs *RunCounts `json:"runs,omitempty"`
	// PinnedRuns counts the runs that still need this version (not
	// finished, or failed); only GET /v1/modules/{name} fills it in.
	PinnedRuns *int64 `json:"pinned_runs,omitempty"`
}

// Workflow is a workflow a module exports.
type Workflow struct {
	Name string `json:"name"`
}

func toModule(m *host.Module) Module {
	wfs := make([]Workflow, len(m.Workflows))
	for i, w := range m.Workflows {
		wfs[i] = Workflow{Name: w}
	}
	return Module{Name: m.Name, Version: m.Version, Digest: m.Digest, Size: m.Size, Workflows: wfs, CreatedAt: m.CreatedAt}
}

func (s *server) pushModule(c *fiber.Ctx) error {
	if c.Query("name") == "" {
		return apiError(host.ErrInvalid, "the query parameter name is required: POST /v1/modules?name=N")
	}
	// The module registry checks the name and the version.
	m, created, err := s.h.PushModule(c.UserContext(), &host.PushModuleParams{
		// The body is a view of fasthttp's buffer, reused after the
		// handler; the module registry keeps what it is given.
		Name: c.Query("name"), Version: c.Query("version"), Wasm: bytes.Clone(c.Body()),
	})
	if err != nil {
		return err
	}
	status := fiber.StatusOK
	if created {
		status = fiber.StatusCreated
	}
	return c.Status(status).JSON(toModule(m))
}

func (s *server) listModules(c *fiber.Ctx) error {
	mods, err := s.h.Modules(c.UserContext())
	if err != nil {
		return err
	}
	out := make([]Module, len(mods))
	for i, m := range mods {
		out[i] = toModule(m)
	}
	return c.JSON(fiber.Map{"modules": out})
}

func (s *server) getModule(c *fiber.Ctx) error {
	name, err := param(c, "name")
	if err != nil {
		return err
	}
	versions, err := s.h.GetModule(c.UserContext(), name)
	if err != nil {
		return err
	}
	out := make([]Module, len(versions))
	for i, v := range versions {
		out[i] = toModule(v.Module)
		out[i].Runs = toRunCounts(v.Runs)
		out[i].PinnedRuns = &v.Pinned
	}
	return c.JSON(fiber.Map{"name": name, "versions": out})
}

func (s *server) deleteModuleVersion(c *fiber.Ctx) error {
	name, err := param(c, "name")
	if err != nil {
		return err
	}
	version, err := param(c, "version")
	if err != nil {
		return err
	}
	if err := s.h.DeleteModuleVersion(c.UserContext(), name, version); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// StartRunRequest is the body of POST /v1/runs. Members that are not its
// fields are refused.
type StartRunRequest struct {
	Module         string          `json:"module"`
	Workflow       string          `json:"workflow"`
	Input          json.RawMessage `json:"input"`
	Version        string          `json:"version"`
	IdempotencyKey string          `json:"idempotency_key"`
}

func (s *server) startRun(c *fiber.Ctx) error {
	var req StartRunRequest
	if err := decodeBody(c.Body(), &req); err != nil {
		return err
	}
	if key := c.Get("Idempotency-Key"); key != "" && req.IdempotencyKey == "" {
		req.IdempotencyKey = key
	}
	var wait time.Duration
	if w := c.Query("wait"); w != "" {
		d, err := time.ParseDuration(w)
		if err != nil || d < 0 {
			return apiError(host.ErrInvalid, "wait must be a duration such as 5s, at most "+host.MaxWait.String())
		}
		wait = d // the host bounds it
	}
	run, created, err := s.h.StartRun(c.UserContext(), &host.StartRunParams{
		Module: req.Module, Version: req.Version, Workflow: req.Workflow, Input: req.Input, IdempotencyKey: req.IdempotencyKey,
		Wait: wait,
	})
	if err != nil {
		return err
	}
	status := fiber.StatusOK
	if created {
		status = fiber.StatusCreated
	}
	return s.writeRun(c, status, run)
}

// Run is a run as the API shows it.
type Run struct {
	ID             string          `json:"id"`
	Module         string          `json:"module"`
	ModuleVersion  string          `json:"module_version"`
	ModuleDigest   string          `json:"module_digest"`
	Workflow       string          `json:"workflow"`
	Status         string          `json:"status"`
	Input          json.RawMessage `json:"input"`
	Output         json.RawMessage `json:"output"`
	Error          *string         `json:"error"`
	Attempt        int             `json:"attempt"`
	IdempotencyKey *string         `json:"idempotency_key"`
	// CancelRequested: the run was cancelled while running, and stops at
	// its next host call.
	CancelRequested bool            `json:"cancel_requested"`
	Progress        json.RawMessage `json:"progress"`
	// Parent is the id of the run that started this one as a child; null
	// for a run started through the API.
	Parent *string `json:"parent"`
	// Children are the child runs this run started, oldest first.
	Children    []ChildRun `json:"children,omitzero"` // nil (left out) in lists
	Steps       []Step     `json:"steps,omitzero"`    // nil (left out) in lists
	Waits       []Wait     `json:"waits,omitzero"`    // nil (left out) in lists
	Changes     []string   `json:"changes,omitzero"`  // nil (left out) in lists
	CreatedAt   time.Time  `json:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at"`
	CompletedAt *time.Time `json:"completed_at"`
}

// ChildRun is a child of a run.
type ChildRun struct {
	ID       string `json:"id"`
	Workflow string `json:"workflow"`
	Status   string `json:"status"`
}

// Step is a step of a run's journal.
type Step struct {
	Name     string          `json:"name"`
	Status   string          `json:"status"`
	Attempts int             `json:"attempts"`
	Cursor   json.RawMessage `json:"cursor"`
	Error    *string         `json:"error,omitempty"`
}

// Wait is a durable timer or a wait for a signal in a run's journal.
type Wait struct {
	Kind   string     `json:"kind"`    // timer, signal or children
	Name   string     `json:"name"`    // the timer's or the signal's
	Status string     `json:"status"`  // timers: scheduled, fired; signals and children: waiting, received, timed_out
	WakeAt *time.Time `json:"wake_at"` // when the timer fires or the wait times out; null: never
}

func (s *server) writeRun(c *fiber.Ctx, status int, run *host.Run) error {
	ctx := c.UserContext()
	if ctx.Err() != nil {
		// The host call ended with the request's context (the server is
		// shutting down): the answer still shows the run as it is.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
	}
	entries, err := s.h.Steps(ctx, run)
	if err != nil {
		return err
	}
	kids, err := s.h.Children(ctx, run)
	if err != nil {
		return err
	}
	out := toRun(run)
	out.Steps, out.Waits, out.Changes, out.Children = []Step{}, []Wait{}, []string{}, make([]ChildRun, len(kids))
	for i, k := range kids {
		out.Children[i] = ChildRun{ID: k.ID, Workflow: k.Workflow, Status: string(k.Status)}
	}
	for _, e := range entries {
		if e.Kind == host.EntryChild {
			continue // the children are listed with their status
		}
		if e.Kind == host.EntryChange {
			out.Changes = append(out.Changes, e.Name)
			continue
		}
		if e.Kind != host.EntryStep {
			out.Waits = append(out.Waits, Wait{Kind: string(e.Kind), Name: e.Name, Status: string(e.Status), WakeAt: e.WakeAt})
			continue
		}
		st := Step{Name: e.Name, Status: string(e.Status), Attempts: e.Attempts, Cursor: rawOrString(e.Cursor), Error: optional(e.Error)}
		out.Steps = append(out.Steps, st)
	}
	return c.Status(status).JSON(out)
}

func toRun(run *host.Run) Run {
	return Run{
		ID: run.ID, Module: run.ModuleName, ModuleVersion: run.ModuleVersion, ModuleDigest: run.ModuleDigest,
		Workflow: run.Workflow, Status: string(run.Status), Input: rawOrNull(run.Input), Output: rawOrNull(run.Output),
		Error: optional(run.Error), Attempt: run.Attempt, IdempotencyKey: optional(run.IdempotencyKey),
		CancelRequested: run.CancelRequested && !run.Status.Terminal(),
		Progress:        rawOrNull(run.Progress), Parent: optional(run.ParentID), CreatedAt: run.CreatedAt, UpdatedAt: run.UpdatedAt, CompletedAt: run.CompletedAt,
	}
}

func (s *server) getRun(c *fiber.Ctx) error {
	id, err := param(c, "id")
	if err != nil {
		return err
	}
	run, err := s.h.Run(c.UserContext(), id)
	if err != nil {
		return err
	}
	return s.writeRun(c, fiber.StatusOK, run)
}

func (s *server) listRuns(c *fiber.Ctx) error {
	limit := host.DefaultListLimit
	if l := c.Query("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil {
			return apiError(host.ErrInvalid, fmt.Sprintf("limit must be an integer from 1 to %d", host.MaxListLimit))
		}
		limit = n // the host bounds it
	}
	page, err := s.h.ListRuns(c.UserContext(), &host.ListRunsParams{
		Status: host.RunStatus(c.Query("status")), Module: c.Query("module"), ModuleVersion: c.Query("version"),
		Workflow: c.Query("workflow"), IdempotencyKey: c.Query("idempotency_key"), Parent: c.Query("parent"), After: c.Query("after"), Limit: limit,
	})
	if err != nil {
		return err
	}
	out := make([]Run, len(page.Runs))
	for i, r := range page.Runs {
		out[i] = toRun(r)
	}
	return c.JSON(fiber.Map{"runs": out, "next": optional(page.Next)})
}

// Event is an event of a run's timeline.
type Event struct {
	Seq  int64           `json:"seq"`
	Type string          `json:"type"`
	Step string          `json:"step,omitempty"`
	At   time.Time       `json:"at"`
	Data json.RawMessage `json:"data"`
}

func (s *server) listEvents(c *fiber.Ctx) error {
	after, err := afterSeq(c)
	if err != nil {
		return err
	}
	id, err := param(c, "id")
	if err != nil {
		return err
	}
	if strings.Contains(c.Get(fiber.HeaderAccept), "text/event-stream") {
		return s.streamEvents(c, id, after)
	}
	evs, err := s.h.Events(c.UserContext(), id, after)
	if err != nil {
		return err
	}
	out := make([]Event, len(evs))
	for i, e := range evs {
		out[i] = toEvent(e)
	}
	return c.JSON(fiber.Map{"events": out})
}

func toEvent(e *host.Event) Event {
	return Event{Seq: e.Seq, Type: string(e.Type), Step: e.Step, At: e.At, Data: rawOrNull(e.Data)}
}

func (s *server) signal(c *fiber.Ctx) error {
	id, err := param(c, "id")
	if err != nil {
		return err
	}
	name, err := param(c, "name")
	if err != nil {
		return err
	}
	sig, err := s.h.Signal(c.UserContext(), id, name, c.Body())
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"id": sig.ID, "run_id": sig.RunID, "name": sig.Name})
}

func (s *server) cancel(c *fiber.Ctx) error {
	id, err := param(c, "id")
	if err != nil {
		return err
	}
	run, err := s.h.Cancel(c.UserContext(), id)
	if err != nil {
		return err
	}
	return s.writeRun(c, fiber.StatusAccepted, run)
}

func (s *server) retry(c *fiber.Ctx) error {
	id, err := param(c, "id")
	if err != nil {
		return err
	}
	run, err := s.h.Retry(c.UserContext(), id)
	if err != nil {
		return err
	}
	return s.writeRun(c, fiber.StatusAccepted, run)
}

func rawOrNull(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

// rawOrString shows bytes that are JSON as JSON, and other bytes as a string.
func rawOrString(b []byte) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	if json.Valid(b) {
		return b
	}
	s, _ := json.Marshal(string(b))
	return s
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
