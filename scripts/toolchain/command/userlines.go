package main

// What a failing command with secret inputs may still tell the user.
//
// Every gpu-caas host command has a secret input (the SSH key in `connection`,
// the admin kubeconfig in `environment` or `stdin`), so its output is withheld
// from the error message. Its scripts print their progress and failure reasons
// to stderr as lines starting with `gpu-caas: `, which by construction never
// hold a secret; those lines (and only those) are copied into the error. As a
// second safety net a line is dropped, and a marker says so, when it contains
// a secret input's value (or a long line or YAML value of one) or text that only
// key material or credentials carry.

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

const (
	// userLinePrefix starts every stderr line a gpu-caas script means for the user.
	userLinePrefix = "gpu-caas: "
	// maxUserLines keeps the last lines only: they say where the script stopped.
	maxUserLines = 20
	// maxUserLineRunes caps each line, so one runaway line cannot flood the error.
	maxUserLineRunes = 300
	// minSecretFragment is the shortest line (or YAML value) of a multi-line
	// secret that is matched on its own. Shorter lines are kubeconfig scaffolding
	// (`clusters:`, `kind: Config`); the parts that are secret (base64 key and
	// certificate data, PEM body lines, bearer and bootstrap tokens) are longer.
	minSecretFragment = 16
	// droppedLineMarker replaces a dropped line; it does not start with the
	// prefix, so it cannot be mistaken for the script's own words.
	droppedLineMarker = "[a gpu-caas line was dropped: it contains a secret input value or key material]"
	withheldNote      = "(output withheld: the command has secret inputs)"
	otherWithheldNote = "(other output withheld: the command has secret inputs)"
)

// credentialMarkers appear in private keys (PEM `-----BEGIN ... PRIVATE KEY-----`),
// kubeconfig users (`token:`, `client-key-data:`) and kubeadm bootstrap output; a
// line holding one is dropped whatever the provider knows of the secret values.
// Matched case-insensitively.
var credentialMarkers = []string{"private key", "token:", "client-key-data"}

// secretStrings returns the plaintext of every non-empty string inside a secret
// value of inputs (nested secrets, objects and arrays included), in no
// particular order. `stdout` and `stderr` are skipped: on delete the inputs are
// the recorded outputs, whose secret stderr holds the previous run's own
// gpu-caas lines, which are not secret.
func secretStrings(inputs resource.PropertyMap) []string {
	var out []string
	var walk func(v resource.PropertyValue, secret bool)
	walk = func(v resource.PropertyValue, secret bool) {
		switch {
		case v.IsSecret():
			walk(v.SecretValue().Element, true)
		case v.IsOutput():
			walk(v.OutputValue().Element, secret || v.OutputValue().Secret)
		case v.IsString():
			if secret && v.StringValue() != "" {
				out = append(out, v.StringValue())
			}
		case v.IsArray():
			for _, e := range v.ArrayValue() {
				walk(e, secret)
			}
		case v.IsObject():
			for _, e := range v.ObjectValue() {
				walk(e, secret)
			}
		}
	}
	for k, v := range inputs {
		if k != "stdout" && k != "stderr" {
			walk(v, false)
		}
	}
	return out
}

// secretFragments expands secret values into the strings a user line must not
// contain: each whole value, plus each line of a multi-line value (a PEM key, a
// kubeconfig) and the value of each `key: value` line, when at least
// minSecretFragment long. A script echoing one kubeconfig line would otherwise
// pass: a 300-character line can never contain a whole kubeconfig.
func secretFragments(secrets []string) []string {
	var out []string
	for _, s := range secrets {
		out = append(out, s)
		if !strings.Contains(s, "\n") {
			continue
		}
		for _, line := range strings.Split(s, "\n") {
			line = strings.TrimSpace(line)
			if len(line) >= minSecretFragment {
				out = append(out, line)
			}
			if _, value, ok := strings.Cut(line, ": "); ok {
				if value = strings.TrimSpace(value); len(value) >= minSecretFragment {
					out = append(out, value)
				}
			}
		}
	}
	return out
}

// unsafeLine reports whether line contains a secret fragment or a credential marker.
func unsafeLine(line string, fragments []string) bool {
	lower := strings.ToLower(line)
	for _, m := range credentialMarkers {
		if strings.Contains(lower, m) {
			return true
		}
	}
	for _, f := range fragments {
		if strings.Contains(line, f) {
			return true
		}
	}
	return false
}

// truncateRunes cuts s to at most n runes, the last one `…` when it was cut.
func truncateRunes(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// userLines picks from a failed command's stderr the last maxUserLines lines
// that start with `gpu-caas: `, each cut to maxUserLineRunes runes, in order.
// A line containing one of secrets (or a fragment of one, see secretFragments)
// or a credential marker is replaced by droppedLineMarker; it is checked before
// it is cut, so a secret straddling the cut is still seen. Empty when stderr has
// no such line.
func userLines(stderr string, secrets []string) []string {
	var picked []string
	for _, line := range strings.Split(stderr, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.HasPrefix(line, userLinePrefix) {
			picked = append(picked, line)
		}
	}
	if len(picked) > maxUserLines {
		picked = picked[len(picked)-maxUserLines:]
	}
	fragments := secretFragments(secrets)
	out := make([]string, 0, len(picked))
	for _, line := range picked {
		if unsafeLine(line, fragments) {
			out = append(out, droppedLineMarker)
			continue
		}
		out = append(out, truncateRunes(line, maxUserLineRunes))
	}
	return out
}

// withheldError is the error of a failed command with secret inputs: the
// failure, the script's own `gpu-caas: ` lines (see userLines) one per line,
// and a note that the rest of the output is withheld, e.g.
//
//	create command of acme-train-drain-gpu-3 failed: exit status 1; gpu-caas: could not drain node gpu-3 ...
//	gpu-caas: resolve that ...
//	(other output withheld: the command has secret inputs)
//
// Without such lines it is the failure and withheldNote on one line.
func withheldError(step, name string, err error, stderr string, secrets []string) error {
	lines := userLines(stderr, secrets)
	if len(lines) == 0 {
		return fmt.Errorf("%s command of %s failed: %v %s", step, name, err, withheldNote)
	}
	return fmt.Errorf("%s command of %s failed: %v; %s\n%s",
		step, name, err, strings.Join(lines, "\n"), otherWithheldNote)
}
