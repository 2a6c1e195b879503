package notify

import (
	"bytes"
	"embed"
	"fmt"
	htmltemplate "html/template"
	texttemplate "text/template"
)

// The email bodies are embedded so the binary carries them. Each template
// name has a .txt and a .html file; html/template escapes user data.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

type templateData struct {
	Username   string
	VerifyURL  string
	ResetURL   string
	ConfirmURL string
	NewEmail   string // masked, in the notice to the old address
	ExpiresAt  string
}

type templates struct {
	text *texttemplate.Template
	html *htmltemplate.Template
}

func parseTemplates() (*templates, error) {
	t, err := texttemplate.ParseFS(templateFS, "templates/*.txt.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse text templates: %w", err)
	}
	h, err := htmltemplate.ParseFS(templateFS, "templates/*.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse html templates: %w", err)
	}
	t.Option("missingkey=error")
	h.Option("missingkey=error")
	return &templates{text: t, html: h}, nil
}

func (t *templates) render(name string, data templateData) (text, html string, err error) {
	var tb, hb bytes.Buffer
	if err := t.text.ExecuteTemplate(&tb, name+".txt.tmpl", data); err != nil {
		return "", "", fmt.Errorf("render %s text: %w", name, err)
	}
	if err := t.html.ExecuteTemplate(&hb, name+".html.tmpl", data); err != nil {
		return "", "", fmt.Errorf("render %s html: %w", name, err)
	}
	return tb.String(), hb.String(), nil
}
