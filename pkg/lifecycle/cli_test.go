package lifecycle_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/kairos-platform/identity/pkg/lifecycle"
)

func TestProgramDispatch(t *testing.T) {
	var got []string
	p := lifecycle.Program{Name: "svc", Usage: "usage: svc\n", Version: "1.2.3",
		Commands: map[string]func(context.Context, []string) error{
			"serve": func(_ context.Context, args []string) error { got = append(got, "serve"); return nil },
			"dlq": func(_ context.Context, args []string) error {
				got = append(got, "dlq "+strings.Join(args, " "))
				return nil
			},
		}}
	cases := []struct {
		args      []string
		out, call string
		err       string
	}{
		{args: []string{"svc"}, call: "serve"},
		{args: []string{"svc", "serve"}, call: "serve"},
		{args: []string{"svc", "dlq", "list"}, call: "dlq list"},
		{args: []string{"svc", "version"}, out: "svc 1.2.3 (commit dev)\n"},
		{args: []string{"svc", "--version"}, out: "svc 1.2.3 (commit dev)\n"},
		{args: []string{"svc", "-h"}, out: "usage: svc\n"},
		{args: []string{"svc", "help"}, out: "usage: svc\n"},
		{args: []string{"svc", "bogus"}, err: `unknown command "bogus"; usage: svc [dlq|serve|version|help]`},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			got = nil
			var out bytes.Buffer
			err := p.Run(context.Background(), c.args, &out)
			if c.err != "" {
				if err == nil || err.Error() != c.err {
					t.Fatalf("err = %v, want %q", err, c.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != c.out {
				t.Errorf("out = %q, want %q", out.String(), c.out)
			}
			if c.call != "" && (len(got) != 1 || got[0] != c.call) {
				t.Errorf("called %v, want %q", got, c.call)
			}
		})
	}
}

func TestProgramPassesTheCommandsError(t *testing.T) {
	boom := errors.New("boom")
	p := lifecycle.Program{Name: "svc", Commands: map[string]func(context.Context, []string) error{
		"serve": func(context.Context, []string) error { return boom },
	}}
	if err := p.Run(context.Background(), []string{"svc"}, &bytes.Buffer{}); !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
}
