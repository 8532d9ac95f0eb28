package main

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
)

// humanize renders a peer's JSON log line as slog's text format
// (level=INFO msg="peer started" service=order ...), in the line's key
// order, without the time (the launcher's output is live). Other lines
// pass through.
func humanize(line string) string {
	if !strings.HasPrefix(line, "{") {
		return line
	}
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return line
	}
	var b strings.Builder
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return line
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return line
		}
		if key == "time" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(key)
		b.WriteByte('=')
		b.WriteString(textValue(raw))
	}
	return b.String()
}

// textValue quotes a string when it needs quoting, as slog's text handler
// does; other JSON values stay as they are.
func textValue(raw json.RawMessage) string {
	var s string
	if raw = bytes.TrimSpace(raw); len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return string(raw)
	}
	if s == "" || strings.ContainsAny(s, " =\"\\\n\t") || !strconv.CanBackquote(s) {
		return strconv.Quote(s)
	}
	return s
}
