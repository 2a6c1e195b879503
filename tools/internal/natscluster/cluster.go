// Package natscluster runs nats-server processes on loopback the way
// production runs NATS: TLS on the client port and the routes, the Kairos
// account and its least-privilege users from deploy/examples/nats-accounts.conf,
// JetStream on file storage, and (with three nodes) a cluster. The fault
// matrix kills and restarts its nodes; the least-privilege test checks the
// users against it.
package natscluster

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/kairos-platform/identity/pkg/natstest"
	"github.com/kairos-platform/identity/tools/internal/gobuild"
	"github.com/kairos-platform/identity/tools/internal/stack"
)

// The users of nats-accounts.conf (their passwords: KAIROS_<USER>_PASSWORD).
const (
	AuthAPIUser  = "auth-api"
	NotifierUser = "notifier"
)

// Options says what to run.
type Options struct {
	Root  string // repository root (for the accounts file)
	Dir   string // configs, stores, logs and certificates go here
	Bin   string // the nats-server binary (BuildServer makes the current one)
	Nodes int    // 1 (no cluster block) or more
}

// Cluster is a running set of nodes.
type Cluster struct {
	Nodes     []*Node
	TLS       natstest.TLSFiles
	Passwords map[string]string // by user, made per run
	dir       string
}

// Node is one nats-server process; its ports and store survive restarts.
type Node struct {
	*stack.Proc
	Name       string // server_name, as JetStream reports leaders
	ClientAddr string
	monitor    string // the monitoring port: /healthz
}

// BuildServer builds the nats-server release the services are tested
// against (the module's version in go.work) into dir.
func BuildServer(ctx context.Context, root, dir string) (string, error) {
	out := filepath.Join(dir, "nats-server")
	if err := gobuild.Binary(ctx, root, "github.com/nats-io/nats-server/v2", out); err != nil {
		return "", err
	}
	return out, nil
}

// Start writes the certificates and configs and starts every node, waiting
// until each answers its health check (with three nodes: the cluster has a
// JetStream meta leader).
func Start(ctx context.Context, o Options) (*Cluster, error) {
	c := &Cluster{dir: o.Dir, Passwords: map[string]string{
		AuthAPIUser: password(), NotifierUser: password(),
	}}
	var err error
	if c.TLS, err = natstest.WriteTLS(o.Dir); err != nil {
		return nil, err
	}
	accounts, err := os.ReadFile(filepath.Join(o.Root, "deploy", "examples", "nats-accounts.conf"))
	if err != nil {
		return nil, err
	}
	routes := make([]string, o.Nodes)
	for i := range o.Nodes {
		n := &Node{Name: fmt.Sprintf("n%d", i+1)}
		if n.ClientAddr, err = stack.FreeAddr(); err != nil {
			return nil, err
		}
		if n.monitor, err = stack.FreeAddr(); err != nil {
			return nil, err
		}
		if routes[i], err = stack.FreeAddr(); err != nil {
			return nil, err
		}
		c.Nodes = append(c.Nodes, n)
	}
	for i, n := range c.Nodes {
		dir := filepath.Join(o.Dir, n.Name)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		// include is relative to the including file: the accounts file
		// sits beside each node's config, as the chart mounts it.
		if err := os.WriteFile(filepath.Join(dir, "nats-accounts.conf"), accounts, 0o644); err != nil {
			return nil, err
		}
		conf := filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(conf, []byte(c.config(n, dir, routes, i)), 0o644); err != nil {
			return nil, err
		}
		n.Proc = &stack.Proc{Name: "nats-" + n.Name, Bin: o.Bin, Args: []string{"-c", conf},
			AdminAddr: n.monitor, ReadyPath: "/healthz",
			LogPath: filepath.Join(o.Dir, "nats-"+n.Name+".log"),
			Env: []string{"KAIROS_AUTH_API_PASSWORD=" + c.Passwords[AuthAPIUser],
				"KAIROS_NOTIFIER_PASSWORD=" + c.Passwords[NotifierUser]}}
	}
	for _, n := range c.Nodes {
		if err := n.Start(); err != nil {
			c.Close()
			return nil, err
		}
	}
	for _, n := range c.Nodes {
		if err := n.WaitHealthy(ctx); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// config is one node's nats.conf: TLS with client certificates required on
// the client port, TLS on the routes, JetStream on file storage, and a lame
// duck phase short enough for a test's rolling restart.
func (c *Cluster) config(n *Node, dir string, routes []string, self int) string {
	tlsBlock := fmt.Sprintf("cert_file: %q\n    key_file: %q\n    ca_file: %q\n    timeout: 5",
		c.TLS.ServerCert, c.TLS.ServerKey, c.TLS.CA)
	var b strings.Builder
	fmt.Fprintf(&b, "server_name: %s\nlisten: %s\nhttp: %s\n", n.Name, n.ClientAddr, n.monitor)
	fmt.Fprintf(&b, "lame_duck_duration: 30s\nlame_duck_grace_period: 5s\n")
	fmt.Fprintf(&b, "tls {\n    %s\n    verify: true\n}\n", tlsBlock)
	fmt.Fprintf(&b, "jetstream {\n    store_dir: %q\n    max_file_store: 1G\n    max_memory_store: 64M\n}\n", filepath.Join(dir, "js"))
	if len(routes) > 1 {
		var urls []string
		for i, r := range routes {
			if i != self {
				urls = append(urls, fmt.Sprintf("%q", "tls://"+r))
			}
		}
		fmt.Fprintf(&b, "cluster {\n  name: kairos\n  listen: %s\n  routes: [%s]\n  tls {\n    %s\n  }\n}\n",
			routes[self], strings.Join(urls, ", "), tlsBlock)
	}
	b.WriteString("include \"nats-accounts.conf\"\n")
	return b.String()
}

// URL is every node's client URL, as a service's NATS_URL.
func (c *Cluster) URL() string {
	var urls []string
	for _, n := range c.Nodes {
		urls = append(urls, "tls://"+n.ClientAddr)
	}
	return strings.Join(urls, ",")
}

// ServiceEnv is the NATS settings of a service logged in as user: the
// URL, the password in a file, the CA and the client certificate.
func (c *Cluster) ServiceEnv(user string) (map[string]string, error) {
	pw := filepath.Join(c.dir, user+".password")
	if err := os.WriteFile(pw, []byte(c.Passwords[user]+"\n"), 0o600); err != nil {
		return nil, err
	}
	return map[string]string{
		"NATS_URL": c.URL(), "NATS_USER": user, "NATS_PASSWORD_FILE": pw,
		"NATS_TLS_CA_FILE": c.TLS.CA, "NATS_TLS_CERT_FILE": c.TLS.ClientCert, "NATS_TLS_KEY_FILE": c.TLS.ClientKey,
	}, nil
}

// Node returns the node named name (a stream's leader), or nil.
func (c *Cluster) Node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// Close stops every node.
func (c *Cluster) Close() {
	for _, n := range c.Nodes {
		if n.Proc != nil {
			n.Close()
		}
	}
}

// WaitHealthy waits until the node's /healthz answers 200 (the server is
// up and, in a cluster, its JetStream streams are current), the process
// exits or ctx ends.
func (n *Node) WaitHealthy(ctx context.Context) error { return n.WaitReady(ctx) }

// password is random and begins with a letter: nats-server parses a variable's
// value as a configuration value, so one beginning with a digit is read as a
// number and the server refuses to start.
func password() string { return "k" + rand.Text() }
