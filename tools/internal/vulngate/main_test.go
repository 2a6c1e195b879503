package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	called := `{"osv":{"id":"GO-1","summary":"bad"}}
{"finding":{"osv":"GO-1","fixed_version":"v1.2.3","trace":[{"module":"example.com/m","version":"v1.0.0","package":"example.com/m/p","function":"F","position":{"filename":"p.go","line":3}},{"module":"ours","function":"main","position":{"filename":"main.go","line":9}}]}}
`
	required := `{"finding":{"osv":"GO-2","trace":[{"module":"example.com/n","version":"v0.1.0"}]}}
`
	allow := filepath.Join(t.TempDir(), "allow.txt")
	if err := os.WriteFile(allow, []byte("# reason\nGO-1 accepted until the fix can be had\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, input string
		args        []string
		fail        bool
		out         string
	}{
		{"called fails", called, nil, true, "CALLED  GO-1 example.com/m@v1.0.0 (fixed in v1.2.3): bad"},
		{"called but allowed", called, []string{"-allow", allow}, false, "allowed GO-1"},
		{"only required", required, nil, false, "0 called (0 failing, 0 allowed); 1 more"},
		{"garbage", "nope", nil, true, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			err := run(c.args, strings.NewReader(c.input), &out)
			if (err != nil) != c.fail {
				t.Fatalf("err = %v, want failure %v", err, c.fail)
			}
			if !strings.Contains(out.String(), c.out) {
				t.Fatalf("output %q lacks %q", out.String(), c.out)
			}
		})
	}
}
