// Command vulngate reads govulncheck's JSON stream (-format json) on stdin,
// prints every vulnerability whose code is called (with one trace and the
// fixed version) and exits 1 when one of them is not in the allow list.
// Vulnerabilities only imported or required are counted, not failed: they
// are unreachable from our code.
//
// The allow list (-allow FILE) holds one OSV id per line, "#" comments, and
// exists for the case where no fixed version can be had on our toolchain yet;
// every entry carries its reason and should be removed as soon as possible.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "vulngate:", err)
		os.Exit(1)
	}
}

type frame struct {
	Module   string `json:"module"`
	Version  string `json:"version"`
	Package  string `json:"package"`
	Function string `json:"function"`
	Receiver string `json:"receiver"`
	Position *struct {
		Filename string `json:"filename"`
		Line     int    `json:"line"`
	} `json:"position"`
}

type message struct {
	OSV *struct {
		ID      string `json:"id"`
		Summary string `json:"summary"`
	} `json:"osv"`
	Finding *struct {
		OSV          string  `json:"osv"`
		FixedVersion string  `json:"fixed_version"`
		Trace        []frame `json:"trace"`
	} `json:"finding"`
}

type called struct {
	id, summary, module, version, fixed, where string
}

func run(args []string, stdin io.Reader, stdout io.Writer) error {
	fs := flag.NewFlagSet("vulngate", flag.ContinueOnError)
	allowPath := fs.String("allow", "", "file of allowed OSV ids")
	if err := fs.Parse(args); err != nil {
		return err
	}
	allowed, err := readAllow(*allowPath)
	if err != nil {
		return err
	}

	summaries := map[string]string{}
	calls := map[string]*called{}
	notCalled := map[string]bool{}
	dec := json.NewDecoder(stdin)
	for {
		var m message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return fmt.Errorf("reading govulncheck output: %w", err)
		}
		if m.OSV != nil {
			summaries[m.OSV.ID] = m.OSV.Summary
		}
		f := m.Finding
		if f == nil || len(f.Trace) == 0 {
			continue
		}
		// A symbol-level finding (the vulnerable function is reached from
		// our code) is the only kind with a function in its first frame.
		top := f.Trace[0]
		if top.Function == "" {
			notCalled[f.OSV] = true
			continue
		}
		if _, ok := calls[f.OSV]; ok {
			continue
		}
		c := &called{id: f.OSV, module: top.Module, version: top.Version, fixed: f.FixedVersion}
		last := f.Trace[len(f.Trace)-1]
		if last.Position != nil {
			c.where = fmt.Sprintf("%s:%d", last.Position.Filename, last.Position.Line)
		}
		c.where += " → " + strings.TrimPrefix(top.Receiver+".", ".") + top.Function
		calls[f.OSV] = c
	}

	ids := make([]string, 0, len(calls))
	for id := range calls {
		ids = append(ids, id)
		delete(notCalled, id)
	}
	sort.Strings(ids)
	failing := 0
	for _, id := range ids {
		c := calls[id]
		mark := "CALLED"
		if allowed[id] {
			mark = "allowed"
		} else {
			failing++
		}
		fixed := c.fixed
		if fixed == "" {
			fixed = "no fix yet"
		}
		fmt.Fprintf(stdout, "  %-7s %s %s@%s (fixed in %s): %s\n          %s\n", mark, id, c.module, c.version, fixed, summaries[id], c.where)
	}
	fmt.Fprintf(stdout, "  %d called (%d failing, %d allowed); %d more imported or required but not called\n",
		len(ids), failing, len(ids)-failing, len(notCalled))
	if failing > 0 {
		return fmt.Errorf("%d called vulnerabilities", failing)
	}
	return nil
}

func readAllow(path string) (map[string]bool, error) {
	out := map[string]bool{}
	if path == "" {
		return out, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return out, nil
	} else if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if fields := strings.Fields(line); len(fields) > 0 {
			out[fields[0]] = true
		}
	}
	return out, sc.Err()
}
