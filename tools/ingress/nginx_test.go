package ingress_test

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kairos-platform/identity/tools/internal/stack"
)

// nginxConf is what ingress-nginx renders for an Ingress with
//
//	nginx.ingress.kubernetes.io/auth-url: http://<auth-api>/api/auth/check
//	nginx.ingress.kubernetes.io/auth-response-headers: X-User-ID,X-User-Email-Verified
//
// reduced to the directives that decide what reaches the backend: an internal
// location proxies a bodiless copy of the request (with its Authorization) to
// the check, and each response header named in the annotation is copied into
// a variable and set on the proxied request, replacing any header of that name
// the client sent. Temp paths live in the prefix so nginx needs nothing of the
// machine's /var/lib/nginx.
const nginxConf = `
daemon off;
worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log info;
events { worker_connections 256; }
http {
    access_log %[1]s/access.log;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;

    server {
        listen %[2]s;

        location = /_external-auth {
            internal;
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Forwarded-Proto "";
            proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
            proxy_set_header X-Original-Method $request_method;
            proxy_set_header X-Sent-From "nginx-ingress-controller";
            proxy_set_header X-Real-IP $remote_addr;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_http_version 1.1;
            proxy_pass http://%[3]s/api/auth/check;
        }

        location / {
            auth_request /_external-auth;
            auth_request_set $authHeader0 $upstream_http_x_user_id;
            proxy_set_header 'X-User-ID' $authHeader0;
            auth_request_set $authHeader1 $upstream_http_x_user_email_verified;
            proxy_set_header 'X-User-Email-Verified' $authHeader1;
            proxy_http_version 1.1;
            proxy_pass http://%[4]s;
        }
    }
}
`

// nginx is a running nginx in front of the Agent.
type nginx struct {
	URL    string
	prefix string
}

// startNginx runs Debian's nginx in the foreground with its own prefix on a
// free loopback port, the check at authAddr and the Agent at agentAddr
// (host:port each), and stops it when the test ends.
func startNginx(t *testing.T, authAddr, agentAddr string) *nginx {
	t.Helper()
	bin, err := exec.LookPath("nginx")
	if err != nil {
		for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
			if _, serr := os.Stat(p); serr == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		t.Fatal("nginx not found: this test runs Debian's nginx in front of a fake Agent; " +
			"install it with `apt-get install -y --no-install-recommends nginx-light` (.ci/run does)")
	}
	// nginx's workers drop to nobody when started as root; its prefix must
	// be reachable by them.
	prefix, err := os.MkdirTemp("", "kairos-nginx-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(prefix) })
	if err := os.Chmod(prefix, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"logs", "tmp"} {
		if err := os.MkdirAll(filepath.Join(prefix, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	addr, err := stack.FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(prefix, "nginx.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, nginxConf, prefix, addr, authAddr, agentAddr), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"-p", prefix + "/", "-e", filepath.Join(prefix, "error.log"), "-c", conf}
	if out, err := exec.Command(bin, append(args, "-t")...).CombinedOutput(); err != nil {
		t.Fatalf("nginx -t refuses the configuration: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nginx: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// SIGQUIT is nginx's graceful stop; its workers follow the master.
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			b, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
			t.Logf("nginx error.log:\n%s", tailLines(string(b), 40))
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(filepath.Join(prefix, "error.log"))
			t.Fatalf("nginx exited before it listened: %v\n%s", errors.Join(err, errors.New("see error.log")), tailLines(string(b), 20))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not listen on %s after 30 s", addr)
		}
	}
	return &nginx{URL: "http://" + addr, prefix: prefix}
}

func tailLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
