// Package gobuild builds the services the way `make build` does: static
// (CGO_ENABLED=0), -trimpath, stripped, with version and commit from git in
// main.version and main.commit. The load tool, the fault matrix and `make dev`
// all build through it, so every binary they run says which commit it is.
package gobuild

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// Stamp is what a binary reports as its version and commit.
type Stamp struct{ Version, Commit string }

// ReadStamp asks git exactly as the Makefile does, with its fallbacks when
// the tree is no git checkout.
func ReadStamp(ctx context.Context, root string) Stamp {
	git := func(fallback string, args ...string) string {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = root
		out, err := cmd.Output()
		if s := strings.TrimSpace(string(out)); err == nil && s != "" {
			return s
		}
		return fallback
	}
	return Stamp{
		Version: git("dev", "describe", "--tags", "--always", "--dirty"),
		Commit:  git("unknown", "rev-parse", "--short", "HEAD"),
	}
}

// LDFlags are the Makefile's LDFLAGS for s.
func (s Stamp) LDFlags() string {
	return fmt.Sprintf("-s -w -X main.version=%s -X main.commit=%s", s.Version, s.Commit)
}

// Service builds services/<svc>/cmd/<svc> into out, in workspace mode from
// root. progress, when not nil, gets the path of each package as the
// compiler starts on it (`go build -v`): on a cold cache that is a few
// hundred packages and minutes, which a silent build would hide.
func Service(ctx context.Context, root, svc, out string, stamp Stamp, progress func(pkg string)) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-v", "-trimpath", "-ldflags", stamp.LDFlags(),
		"-o", out, "./services/"+svc+"/cmd/"+svc)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	var output bytes.Buffer
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			line := sc.Text()
			// -v lines are bare package paths; anything else (compiler
			// errors, "# pkg" headers) is kept for the error.
			if progress != nil && line != "" && !strings.ContainsAny(line, " \t:#") {
				progress(line)
				continue
			}
			output.WriteString(line + "\n")
		}
		_, _ = io.Copy(io.Discard, pr)
	})
	err := cmd.Run()
	_ = pw.Close()
	wg.Wait()
	if err != nil {
		return fmt.Errorf("go build %s: %w\n%s", svc, err, strings.TrimSpace(output.String()))
	}
	return nil
}

// Services builds both services into root/bin, as `make build` does.
func Services(ctx context.Context, root string, progress func(pkg string)) error {
	stamp := ReadStamp(ctx, root)
	for _, svc := range []string{"auth-api", "notifier"} {
		if err := Service(ctx, root, svc, filepath.Join(root, "bin", svc), stamp, progress); err != nil {
			return err
		}
	}
	return nil
}

// Binary builds a main package of the workspace's module graph (a tool such
// as nats-server at the version go.work selects) into out.
func Binary(ctx context.Context, root, pkg, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, strings.TrimSpace(string(b)))
	}
	return nil
}
