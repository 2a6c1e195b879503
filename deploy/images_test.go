package deploy_test

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/linter"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// TestDockerfiles parses each service's Dockerfile with BuildKit's own parser (and its build
// checks) and asserts what the images promise: a static CGO_ENABLED=0 -trimpath build stamped
// with version and commit, from the repository root with the go.work workspace, into a
// distroless (no shell) final stage that runs as UID 65532.
func TestDockerfiles(t *testing.T) {
	for _, service := range []string{"auth-api", "notifier"} {
		t.Run(service, func(t *testing.T) {
			path := "services/" + service + "/Dockerfile"
			src := readFile(t, path)
			ast, err := parser.Parse(bytes.NewReader(src))
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			var warnings []string
			lint := linter.New(&linter.Config{Warn: func(rule, _, _, msg string, loc []parser.Range) {
				warnings = append(warnings, fmt.Sprintf("%s (line %d): %s", rule, line(loc), msg))
			}})
			stages, _, err := instructions.Parse(ast.AST, lint)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			for _, w := range warnings {
				t.Errorf("%s: build check %s", path, w)
			}
			if len(stages) < 2 {
				t.Fatalf("%s: %d stages, want a build stage and a final stage", path, len(stages))
			}

			build, final := stages[0], stages[len(stages)-1]
			// The images build with the workspace's toolchain (go.work's toolchain line).
			if want := "golang:" + workspaceToolchain(t); build.BaseName != want {
				t.Errorf("build stage FROM %s, want %s", build.BaseName, want)
			}
			if final.BaseName != "gcr.io/distroless/static-debian12:nonroot" && final.BaseName != "scratch" {
				t.Errorf("final stage FROM %s, want distroless static or scratch", final.BaseName)
			}

			// The build stage: workspace files copied first, then a static, trimmed, stamped build.
			var env = map[string]string{}
			var copied []string
			var buildCmd string
			for _, cmd := range build.Commands {
				switch c := cmd.(type) {
				case *instructions.EnvCommand:
					for _, kv := range c.Env {
						env[kv.Key] = kv.Value
					}
				case *instructions.CopyCommand:
					copied = append(copied, c.SourcePaths...)
				case *instructions.RunCommand:
					line := strings.Join(c.CmdLine, " ")
					if strings.Contains(line, "go build") {
						buildCmd = line
					}
				}
			}
			if !slices.Contains(copied, "go.work") {
				t.Errorf("build stage does not copy go.work: the build must use the workspace")
			}
			if i, j := slices.Index(copied, "go.work"), slices.Index(copied, "services/"+service+"/"); i < 0 || j < 0 || i > j {
				t.Errorf("module files are not copied before the sources (copies: %v)", copied)
			}
			cgoOff := env["CGO_ENABLED"] == "0" || strings.Contains(buildCmd, "CGO_ENABLED=0")
			if !cgoOff {
				t.Error("the build does not set CGO_ENABLED=0")
			}
			for _, want := range []string{"-trimpath", "-X main.version=", "-X main.commit=", "./services/" + service + "/cmd/" + service} {
				if !strings.Contains(buildCmd, want) {
					t.Errorf("go build lacks %q: %s", want, buildCmd)
				}
			}

			// The final stage: only the binary, no shell to run anything with, UID 65532.
			var user string
			var entrypoint []string
			for _, cmd := range final.Commands {
				switch c := cmd.(type) {
				case *instructions.RunCommand:
					t.Errorf("final stage runs %q: it has no shell", strings.Join(c.CmdLine, " "))
				case *instructions.UserCommand:
					user = c.User
				case *instructions.EntrypointCommand:
					if c.PrependShell {
						t.Errorf("ENTRYPOINT in shell form needs a shell: use the exec form")
					}
					entrypoint = c.CmdLine
				case *instructions.CopyCommand:
					if c.From != build.Name {
						t.Errorf("final stage copies from %q, want only the build stage", c.From)
					}
				}
			}
			if user != "65532:65532" && user != "65532" {
				t.Errorf("USER %q, want 65532 (numeric, so runAsNonRoot can verify it)", user)
			}
			if !slices.Equal(entrypoint, []string{"/" + service}) {
				t.Errorf("ENTRYPOINT %v, want [/%s]", entrypoint, service)
			}
		})
	}
}

func line(loc []parser.Range) int {
	if len(loc) == 0 {
		return 0
	}
	return loc[0].Start.Line
}

// workspaceToolchain is the Go version of go.work's toolchain line ("1.27.3").
func workspaceToolchain(t *testing.T) string {
	t.Helper()
	for _, line := range strings.Split(string(readFile(t, "go.work")), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "toolchain go"); ok {
			return v
		}
	}
	t.Fatal("go.work has no toolchain line")
	return ""
}
