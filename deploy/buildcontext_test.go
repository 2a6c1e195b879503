package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// buildContext lists the files `docker build .` sends from the repository root: every file
// .dockerignore does not exclude (paths relative to the root, slash-separated).
func buildContext(t *testing.T) []string {
	t.Helper()
	root := ".."
	f, err := os.Open(filepath.Join(root, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel == "." {
			return nil
		}
		rel = filepath.ToSlash(rel)
		excluded, err := pm.MatchesOrParentMatches(rel)
		if err != nil {
			return err
		}
		switch {
		case excluded && d.IsDir() && !pm.Exclusions():
			return filepath.SkipDir
		case excluded, d.IsDir():
			return nil
		}
		files = append(files, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// TestImageBuildContext replays each Dockerfile's build stage without a container engine: the
// files its COPY instructions name are taken from the build context as .dockerignore leaves it,
// its RUN instructions run in that copy (narrowing the workspace, downloading modules), and the
// final `go build` is checked with `go list -deps`: every package and embedded file of the
// binary must be there. A file left out of the context, or a workspace narrowed too far, fails
// here instead of in `docker build`.
func TestImageBuildContext(t *testing.T) {
	ctx := buildContext(t)
	for _, excluded := range []string{".git/", ".cache/", "deploy/", "tools/", "bin/", "docs/"} {
		for _, f := range ctx {
			if strings.HasPrefix(f, excluded) {
				t.Errorf("build context includes %s (%s is never built into an image)", f, excluded)
				break
			}
		}
	}
	for _, service := range []string{"auth-api", "notifier"} {
		t.Run(service, func(t *testing.T) {
			ast, err := parser.Parse(bytes.NewReader(readFile(t, "services/"+service+"/Dockerfile")))
			if err != nil {
				t.Fatal(err)
			}
			stages, _, err := instructions.Parse(ast.AST, nil)
			if err != nil {
				t.Fatal(err)
			}
			work := t.TempDir()
			env := goEnv()
			var built bool
			for _, cmd := range stages[0].Commands {
				switch c := cmd.(type) {
				case *instructions.EnvCommand:
					for _, kv := range c.Env {
						env = append(env, kv.Key+"="+kv.Value)
					}
				case *instructions.CopyCommand:
					if c.From != "" {
						continue
					}
					for _, src := range c.SourcePaths {
						// A destination ending in "/" (or several sources) is a directory.
						intoDir := strings.HasSuffix(c.DestPath, "/") || len(c.SourcePaths) > 1
						if n := copyFromContext(t, ctx, src, filepath.Join(work, c.DestPath), intoDir); n == 0 {
							t.Fatalf("COPY %s: nothing in the build context matches (see .dockerignore)", src)
						}
					}
				case *instructions.RunCommand:
					line := strings.Join(c.CmdLine, " ")
					if strings.Contains(line, "go build") {
						checkGoList(t, work, env, line)
						built = true
						continue
					}
					sh := exec.Command("sh", "-c", line)
					sh.Dir, sh.Env = work, env
					if out, err := sh.CombinedOutput(); err != nil {
						t.Fatalf("RUN %s: %v\n%s", line, err, out)
					}
				}
			}
			if !built {
				t.Fatal("the build stage has no go build")
			}
		})
	}
}

// goEnv is the test's environment without a workspace override: the copied go.work governs.
func goEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "GOWORK=") || strings.HasPrefix(kv, "GOFLAGS=")
	})
}

// copyFromContext copies a COPY source (a file, or a directory's content) from the context into
// dst, the way COPY does; it returns the number of files copied.
func copyFromContext(t *testing.T, ctx []string, src, dst string, intoDir bool) int {
	t.Helper()
	src = strings.TrimSuffix(filepath.ToSlash(filepath.Clean(src)), "/")
	n := 0
	for _, f := range ctx {
		var target string
		switch {
		case f == src:
			target = dst
			if intoDir || isDir(dst) {
				target = filepath.Join(dst, filepath.Base(f))
			}
		case strings.HasPrefix(f, src+"/"):
			target = filepath.Join(dst, strings.TrimPrefix(f, src+"/"))
		default:
			continue
		}
		if err := copyFile(filepath.Join("..", f), target); err != nil {
			t.Fatal(err)
		}
		n++
	}
	return n
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

func copyFile(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// checkGoList runs `go list -deps` on the package the Dockerfile's go build names and fails on
// any package or embed pattern that cannot be loaded from the copied files.
func checkGoList(t *testing.T, work string, env []string, buildLine string) {
	t.Helper()
	var pkg string
	for _, f := range strings.Fields(buildLine) {
		if strings.HasPrefix(f, "./services/") {
			pkg = f
		}
	}
	if pkg == "" {
		t.Fatalf("no ./services/… package in %q", buildLine)
	}
	list := exec.Command("go", "list", "-e", "-deps", "-json=ImportPath,Error,DepsErrors,EmbedPatterns,EmbedFiles,Module", pkg)
	list.Dir, list.Env = work, env
	var stderr bytes.Buffer
	list.Stderr = &stderr
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, stderr.String())
	}
	type pkgErr struct{ Err string }
	dec := json.NewDecoder(bytes.NewReader(out))
	var count int
	for dec.More() {
		var p struct {
			ImportPath    string
			Error         *pkgErr
			DepsErrors    []*pkgErr
			EmbedFiles    []string
			EmbedPatterns []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		count++
		if p.Error != nil {
			t.Errorf("%s: %s", p.ImportPath, p.Error.Err)
		}
		for _, e := range p.DepsErrors {
			t.Errorf("%s: %s", p.ImportPath, e.Err)
		}
		if len(p.EmbedPatterns) > 0 && len(p.EmbedFiles) == 0 {
			t.Errorf("%s: embeds %v, but the build context has none of it", p.ImportPath, p.EmbedPatterns)
		}
	}
	if count < 10 {
		t.Errorf("go list %s: only %d packages", pkg, count)
	}
}
