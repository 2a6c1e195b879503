package gobuild_test

import (
	"context"
	"debug/buildinfo"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kairos-platform/identity/tools/internal/gobuild"
	"github.com/kairos-platform/identity/tools/internal/stack"
)

// The binary built here carries what `make build` puts in: the commit from
// git, -trimpath, no cgo, and it reports the commit itself.
func TestServiceIsBuiltLikeMakeBuild(t *testing.T) {
	ctx := context.Background()
	root, err := stack.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	want, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		t.Fatalf("git: %v", err)
	}
	stamp := gobuild.ReadStamp(ctx, root)
	if stamp.Commit != strings.TrimSpace(string(want)) || stamp.Version == "" {
		t.Fatalf("stamp %+v, want commit %s", stamp, want)
	}

	out := filepath.Join(t.TempDir(), "notifier")
	var packages int
	if err := gobuild.Service(ctx, root, "notifier", out, stamp, func(string) { packages++ }); err != nil {
		t.Fatal(err)
	}
	info, err := buildinfo.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	// Go leaves -ldflags out of the build info under -trimpath; `version` shows them instead.
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" {
		t.Errorf("build settings %v; want CGO_ENABLED=0 and -trimpath", settings)
	}
	got, err := exec.Command(out, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("notifier version: %v\n%s", err, got)
	}
	if !strings.Contains(string(got), stamp.Commit) || !strings.Contains(string(got), stamp.Version) {
		t.Errorf("notifier version printed %q; want %s and %s", got, stamp.Version, stamp.Commit)
	}
}

func TestServiceReportsCompileErrors(t *testing.T) {
	root, err := stack.FindRoot()
	if err != nil {
		t.Fatal(err)
	}
	err = gobuild.Service(context.Background(), root, "no-such-service", filepath.Join(t.TempDir(), "x"), gobuild.Stamp{Version: "v", Commit: "c"}, func(string) {})
	if err == nil || !strings.Contains(err.Error(), "no-such-service") {
		t.Fatalf("err = %v", err)
	}
}
