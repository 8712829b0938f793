// Package clustertest runs wasmflow server processes on one PostgreSQL
// schema for end-to-end tests, and reads their runs over the REST API. The
// end-to-end tests (tests/) and the web UI tests (tests/browser, a module
// of its own) share it.
package clustertest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wasmflow/wasmflow/internal/pgtest"
	"github.com/wasmflow/wasmflow/internal/poll"
	"github.com/wasmflow/wasmflow/internal/proctest"
	"github.com/wasmflow/wasmflow/internal/testmodules"
)

// Cluster is a set of wasmflow server processes on one Postgres schema.
type Cluster struct {
	T       *testing.T
	DBURL   string
	Token   string // an admin token
	Servers []*proctest.Process
	Lease   string
	Extra   []string // more server flags
}

// New returns a cluster with no server yet, on a schema of its own, with
// leases of lease and the server flags extra.
func New(t *testing.T, lease string, extra ...string) *Cluster {
	c := &Cluster{T: t, DBURL: pgtest.URL(t), Lease: lease, Extra: extra}
	c.Token = c.NewToken("admin")
	return c
}

// NewToken creates a token with the CLI, as an operator would.
func (c *Cluster) NewToken(scope string) string {
	c.T.Helper()
	out, err := exec.Command(proctest.Binary(c.T), "token", "create", "--scope", scope, "--name", "e2e-"+scope, "--database-url", c.DBURL).Output()
	if err != nil {
		c.T.Fatalf("wasmflow token create: %v\n%s", err, out)
	}
	token := regexp.MustCompile(`wf_[A-Za-z0-9_-]+`).FindString(string(out))
	if token == "" {
		c.T.Fatalf("no token in the output of wasmflow token create:\n%s", out)
	}
	return token
}

// Start starts one more server and returns its index.
func (c *Cluster) Start() int {
	addr := proctest.FreeAddr(c.T)
	args := append([]string{"server", "--listen", addr, "--database-url", c.DBURL,
		"--lease", c.Lease, "--log-level", "warn", "--grace-period", "5s"}, c.Extra...)
	p := proctest.Start(c.T, addr, args...)
	c.Servers = append(c.Servers, p)
	return len(c.Servers) - 1
}

// Client is a client of server i with the admin token.
func (c *Cluster) Client(i int) *proctest.Client {
	return &proctest.Client{URL: c.Servers[i].URL, Token: c.Token}
}

// Push uploads the test module name (see testmodules.Path) through server
// i, as the module named after its base name: "children" and
// "rust/children" are both module "children".
func (c *Cluster) Push(i int, name string) {
	c.T.Helper()
	c.Client(i).JSON(c.T, "POST", "/v1/modules?name="+path.Base(name), testmodules.Bytes(c.T, name), http.StatusCreated, nil)
}

// Run is a run as the API shows it, the fields the tests read.
type Run struct {
	ID          string          `json:"id"`
	Workflow    string          `json:"workflow"`
	Status      string          `json:"status"`
	Input       json.RawMessage `json:"input"`
	Output      json.RawMessage `json:"output"`
	Error       *string         `json:"error"`
	Parent      *string         `json:"parent"`
	Children    []Child         `json:"children"`
	CreatedAt   time.Time       `json:"created_at"`
	CompletedAt *time.Time      `json:"completed_at"`
}

// Child is a child of a run, as the run lists it.
type Child struct {
	ID       string `json:"id"`
	Workflow string `json:"workflow"`
	Status   string `json:"status"`
}

// Event is an event of a run's timeline.
type Event struct {
	Seq  int64           `json:"seq"`
	Type string          `json:"type"`
	Step string          `json:"step"`
	At   time.Time       `json:"at"`
	Data json.RawMessage `json:"data"`
}

// StartRun starts a run through server i and returns its id.
func (c *Cluster) StartRun(i int, module, workflow string, input any) string {
	c.T.Helper()
	var r Run
	c.Client(i).JSON(c.T, "POST", "/v1/runs", map[string]any{"module": module, "workflow": workflow, "input": input}, http.StatusCreated, &r)
	return r.ID
}

// Get reads a run through server i.
func (c *Cluster) Get(i int, id string) Run {
	c.T.Helper()
	var r Run
	c.Client(i).JSON(c.T, "GET", "/v1/runs/"+id, nil, http.StatusOK, &r)
	return r
}

// Events reads a run's events through server i.
func (c *Cluster) Events(i int, id string) []Event {
	c.T.Helper()
	var body struct{ Events []Event }
	c.Client(i).JSON(c.T, "GET", "/v1/runs/"+id+"/events", nil, http.StatusOK, &body)
	return body.Events
}

// WaitFor polls server i until f holds for the run or timeout passes.
func (c *Cluster) WaitFor(i int, id string, timeout time.Duration, what string, f func(Run, []Event) bool) (Run, []Event) {
	c.T.Helper()
	var r Run
	var evs []Event
	poll.Until(c.T, timeout, func() error {
		r, evs = c.Get(i, id), c.Events(i, id)
		if f(r, evs) {
			return nil
		}
		return fmt.Errorf("run %s: %s did not happen; status %s", id, what, r.Status)
	})
	return r, evs
}

// StartData is the data of an activation_started event.
type StartData struct {
	Owner            string `json:"owner"`
	Activation       int    `json:"activation"`
	Start            string `json:"start"`
	SnapshotUnusable string `json:"snapshot_unusable"`
}

// Starts returns the data of the run's activation_started events, in order.
func Starts(t *testing.T, evs []Event) []StartData {
	t.Helper()
	var out []StartData
	for _, e := range evs {
		if e.Type == "activation_started" {
			var d StartData
			if err := json.Unmarshal(e.Data, &d); err != nil {
				t.Fatal(err)
			}
			out = append(out, d)
		}
	}
	return out
}

// Activations returns, in order, the owners of the run's activations.
func Activations(t *testing.T, evs []Event) []string {
	t.Helper()
	var owners []string
	for _, s := range Starts(t, evs) {
		owners = append(owners, s.Owner)
	}
	return owners
}

// OwnerIndex finds which server an owner name belongs to (owners carry the
// process id).
func (c *Cluster) OwnerIndex(owner string) int {
	c.T.Helper()
	for i, p := range c.Servers {
		if strings.Contains(owner, fmt.Sprintf("-%d-", p.Pid())) {
			return i
		}
	}
	c.T.Fatalf("owner %s is none of the servers", owner)
	return -1
}
