// Package stack runs the whole system on one machine for the load tool and
// the fault matrix: it builds bin/auth-api and bin/notifier, gives them a
// fresh migrated database (or a PostgreSQL server of its own), an in-process
// JetStream that can be stopped and restarted, an SMTP sink and a fake Agent
// (pkg/smtptest, pkg/agenttest), and runs the services as child processes on
// free ports, so faults hit real processes through real sockets.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"time"

	"github.com/kairos-platform/identity/pkg/agenttest"
	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/pkg/smtptest"
	"github.com/kairos-platform/identity/tools/internal/gobuild"
)

// AgentToken is the service token the fake Agent expects.
const AgentToken = "stack-agent-token"

// AdminToken is the admin API token of every auth-api replica, named "e2e"
// (its audit actor is api:e2e).
const AdminToken = "stack-admin-token-of-at-least-32-chars"

// Options says what to run.
type Options struct {
	Root             string // repository root; found from the working directory when empty
	OwnPostgres      bool   // a PostgreSQL server of its own (for restarting it)
	AuthReplicas     int    // default 1
	NotifierReplicas int    // default 1
	// Extra environment for every replica, on top of the stack's own.
	AuthEnv, NotifierEnv map[string]string
	// NATSURL is a NATS the caller runs (a cluster); empty: an in-process
	// JetStream of the stack's own (NATS). Credentials go in the env maps.
	NATSURL string
	// AuthPoolConns is the pool_max_conns of auth-api's DATABASE_URL; 0
	// leaves pgx's default (the larger of 4 and the cores).
	AuthPoolConns int
	// SkipBuild uses the binaries already in bin/.
	SkipBuild bool
	Log       io.Writer // progress lines; nil for none
	// Postgres, when set, is a server the caller started and migrated (a
	// primary with a standby, say); the stack uses it and closes it.
	Postgres *Postgres
}

// Stack is a running system.
type Stack struct {
	Dir      string // temporary directory with logs and stores
	Root     string
	PG       *Postgres
	NATS     *natstest.Server
	SMTP     *smtptest.Server
	Agent    *agenttest.Server
	Auth     []*Proc
	Notifier []*Proc
	log      io.Writer
	natsURL  string
}

// FindRoot walks up from the working directory to the directory holding go.work.
func FindRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.work")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("stack: no go.work above the working directory")
		}
		dir = parent
	}
}

// Build compiles both services into root/bin the way `make build` does.
func Build(ctx context.Context, root string) error {
	if err := gobuild.Services(ctx, root, nil); err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	return nil
}

// Start brings everything up and waits until every replica is ready. On error
// whatever was started is stopped again.
func Start(ctx context.Context, o Options) (s *Stack, err error) {
	if o.Root == "" {
		if o.Root, err = FindRoot(); err != nil {
			return nil, err
		}
	}
	if o.AuthReplicas == 0 {
		o.AuthReplicas = 1
	}
	if o.NotifierReplicas == 0 {
		o.NotifierReplicas = 1
	}
	log := o.Log
	if log == nil {
		log = io.Discard
	}
	dir, err := os.MkdirTemp("", "kairos-stack-")
	if err != nil {
		return nil, err
	}
	s = &Stack{Dir: dir, Root: o.Root, log: log}
	started := s // s is nil once an error is returned
	defer func() {
		if err != nil {
			started.Close()
		}
	}()

	if !o.SkipBuild {
		fmt.Fprintln(log, "stack: building bin/auth-api and bin/notifier")
		if err := Build(ctx, o.Root); err != nil {
			return nil, err
		}
	}
	switch {
	case o.Postgres != nil:
		s.PG = o.Postgres
	case o.OwnPostgres:
		fmt.Fprintln(log, "stack: starting a PostgreSQL server of its own")
		s.PG, err = OwnServer(ctx, filepath.Join(dir, "pg"))
	default:
		s.PG, err = SharedDatabase(ctx)
	}
	if err != nil {
		return nil, err
	}
	if s.natsURL = o.NATSURL; s.natsURL == "" {
		if s.NATS, err = natstest.Listen(filepath.Join(dir, "nats")); err != nil {
			return nil, err
		}
		s.natsURL = s.NATS.URL()
	}
	if s.SMTP, err = smtptest.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	s.Agent = agenttest.Start(AgentToken)
	// One signing key for every replica: a token one signs, all verify.
	if err := SigningKey(filepath.Join(dir, "jwt-signing-keys.pem")); err != nil {
		return nil, err
	}

	keyFile, err := WriteDeviceKeyFile(dir)
	if err != nil {
		return nil, err
	}
	adminTokens := filepath.Join(dir, "admin-api-tokens")
	if err := os.WriteFile(adminTokens, []byte("e2e:"+AdminToken+"\n"), 0o600); err != nil {
		return nil, err
	}
	for i := range o.AuthReplicas {
		env := s.authEnv(o.AuthEnv)
		if o.AuthPoolConns > 0 {
			env["DATABASE_URL"] = withQuery(env["DATABASE_URL"], "pool_max_conns", strconv.Itoa(o.AuthPoolConns))
		}
		if env["DEVICE_COOKIE_KEY_FILE"] == "" {
			env["DEVICE_COOKIE_KEY_FILE"] = keyFile
		}
		if env["ADMIN_API_TOKEN_FILE"] == "" {
			env["ADMIN_API_TOKEN_FILE"] = adminTokens
		}
		p, err := s.newProc(fmt.Sprintf("auth-api-%d", i), "auth-api", true, env)
		if err != nil {
			return nil, err
		}
		s.Auth = append(s.Auth, p)
	}
	for i := range o.NotifierReplicas {
		p, err := s.newProc(fmt.Sprintf("notifier-%d", i), "notifier", false, s.notifierEnv(o.NotifierEnv))
		if err != nil {
			return nil, err
		}
		s.Notifier = append(s.Notifier, p)
	}
	fmt.Fprintf(log, "stack: starting %d auth-api and %d notifier replicas (logs in %s)\n", len(s.Auth), len(s.Notifier), dir)
	for _, p := range s.All() {
		if err := p.Start(); err != nil {
			return nil, err
		}
	}
	rctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	for _, p := range s.All() {
		if err := p.WaitReady(rctx); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Stack) newProc(name, svc string, public bool, env map[string]string) (*Proc, error) {
	p := &Proc{Name: name, Bin: filepath.Join(s.Root, "bin", svc), LogPath: filepath.Join(s.Dir, name+".log")}
	var err error
	if public {
		if p.HTTPAddr, err = FreeAddr(); err != nil {
			return nil, err
		}
		env["HTTP_ADDR"] = p.HTTPAddr
	}
	if p.AdminAddr, err = FreeAddr(); err != nil {
		return nil, err
	}
	env["ADMIN_ADDR"] = p.AdminAddr
	for k, v := range env {
		p.Env = append(p.Env, k+"="+v)
	}
	return p, nil
}

// withQuery sets one query parameter of a URL.
func withQuery(raw, key, value string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	q.Set(key, value)
	u.RawQuery = q.Encode()
	return u.String()
}

func (s *Stack) authEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		"DATABASE_URL":          s.PG.DatabaseURL,
		"NATS_URL":              s.natsURL,
		"PUBLIC_URL":            "http://kairos.test",
		"JWT_SIGNING_KEYS_FILE": filepath.Join(s.Dir, "jwt-signing-keys.pem"),
		// The load tool and the fault runs drive the API from one address:
		// the per-IP limit would turn most of it away. Scenarios that test
		// the limit set it back.
		"IP_RATE_LIMIT_RPS": "0",
		"HASH_CONCURRENCY":  fmt.Sprint(runtime.NumCPU()),
		"SHUTDOWN_TIMEOUT":  "20s",
		"LOG_LEVEL":         "warn",
		"LOG_FORMAT":        "json",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func (s *Stack) notifierEnv(extra map[string]string) map[string]string {
	env := map[string]string{
		"NATS_URL":            s.natsURL,
		"SMTP_ADDR":           s.SMTP.Addr(),
		"SMTP_TLS":            "none",
		"AGENT_BASE_URL":      s.Agent.URL,
		"AGENT_SERVICE_TOKEN": AgentToken,
		"AGENT_TIMEOUT":       "2s",
		"SHUTDOWN_TIMEOUT":    "20s",
		"LOG_LEVEL":           "warn",
		"LOG_FORMAT":          "json",
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// All is every replica, auth-api first.
func (s *Stack) All() []*Proc { return append(append([]*Proc(nil), s.Auth...), s.Notifier...) }

// AuthURL is the public URL of the first auth-api replica.
func (s *Stack) AuthURL() string { return s.Auth[0].URL() }

// Close stops the services, then their dependencies, and removes the
// temporary directory unless KAIROS_KEEP_STACK is set (for reading logs).
func (s *Stack) Close() {
	for _, p := range s.All() {
		p.Close()
	}
	if s.SMTP != nil {
		_ = s.SMTP.Close()
	}
	if s.Agent != nil {
		s.Agent.Close()
	}
	if s.NATS != nil {
		s.NATS.Stop()
	}
	if s.PG != nil {
		s.PG.Close()
	}
	if os.Getenv("KAIROS_KEEP_STACK") == "" {
		_ = os.RemoveAll(s.Dir)
	} else {
		fmt.Fprintf(s.log, "stack: kept %s\n", s.Dir)
	}
}
