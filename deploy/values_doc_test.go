package deploy_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	yamlv3 "go.yaml.in/yaml/v3"
)

var update = flag.Bool("update", false, "rewrite the values table of the chart's README from values.yaml")

const (
	chartReadme = chartDir + "/README.md"
	tableStart  = "<!-- values:start (generated from values.yaml by `go test ./deploy -run TestValuesDocumented -update`) -->"
	tableEnd    = "<!-- values:end -->"
)

// valueDoc is one documented value: its dotted path, default and the comment above it.
type valueDoc struct {
	Path, Default, Doc string
}

// TestValuesDocumented: every key of values.yaml has a comment (itself or the group it belongs
// to), and the chart's README lists every value with its default and that comment. Run with
// -update to regenerate the README's table after changing values.yaml.
func TestValuesDocumented(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(chartDir, "values.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc yamlv3.Node
	if err := yamlv3.Unmarshal(src, &doc); err != nil {
		t.Fatal(err)
	}
	var rows []valueDoc
	var undocumented []string
	walkValues(doc.Content[0], "", &rows, &undocumented)
	for _, path := range undocumented {
		t.Errorf("values.yaml: %s has no comment", path)
	}

	var table strings.Builder
	table.WriteString(tableStart + "\n| Key | Default | Description |\n|---|---|---|\n")
	for _, r := range rows {
		def := ""
		if r.Default != "" {
			def = "`" + strings.ReplaceAll(r.Default, "|", `\|`) + "`"
		}
		fmt.Fprintf(&table, "| `%s` | %s | %s |\n", r.Path, def, strings.ReplaceAll(r.Doc, "|", `\|`))
	}
	table.WriteString(tableEnd)

	readme, err := os.ReadFile(chartReadme)
	if err != nil {
		t.Fatal(err)
	}
	before, rest, ok1 := strings.Cut(string(readme), tableStart)
	_, after, ok2 := strings.Cut(rest, tableEnd)
	if !ok1 || !ok2 {
		t.Fatalf("%s: no values table between %q and %q", chartReadme, tableStart, tableEnd)
	}
	want := before + table.String() + after
	if want == string(readme) {
		return
	}
	if *update {
		if err := os.WriteFile(chartReadme, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	t.Errorf("%s: the values table is out of date with values.yaml; run go test ./deploy -run TestValuesDocumented -update", chartReadme)
}

// walkValues lists the values of a values mapping, each of which must have its own comment; a
// group's comment becomes a heading row.
func walkValues(m *yamlv3.Node, prefix string, rows *[]valueDoc, undocumented *[]string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, val := m.Content[i], m.Content[i+1]
		path := key.Value
		if prefix != "" {
			path = prefix + "." + key.Value
		}
		own := commentText(key.HeadComment)
		// A block mapping is a group of values unless its comment starts with "--", which
		// documents it as one value (resources, secrets.keys).
		valueComment := strings.Contains(key.HeadComment, "# --")
		if val.Kind == yamlv3.MappingNode && val.Style&yamlv3.FlowStyle == 0 && len(val.Content) > 0 && !valueComment {
			if own != "" {
				*rows = append(*rows, valueDoc{path, "", "*" + own + "*"})
			}
			walkValues(val, path, rows, undocumented)
			continue
		}
		if own == "" {
			*undocumented = append(*undocumented, path)
		}
		*rows = append(*rows, valueDoc{path, compact(val), own})
	}
}

// commentText turns "# -- Foo\n# bar" into "Foo bar".
func commentText(c string) string {
	var words []string
	for _, line := range strings.Split(c, "\n") {
		line = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "#"))
		line = strings.TrimSpace(strings.TrimPrefix(line, "--"))
		if line != "" {
			words = append(words, line)
		}
	}
	return strings.Join(words, " ")
}

// compact renders a default as one line of JSON.
func compact(n *yamlv3.Node) string {
	var v any
	if err := n.Decode(&v); err != nil {
		return n.Value
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return n.Value
	}
	return strings.TrimSpace(b.String())
}
