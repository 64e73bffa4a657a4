package webhook

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

var englishPrinter = message.NewPrinter(language.English)

// SchemaPath is where the JSON Schema of the webhook body lives in the
// repository.
const SchemaPath = "internal/webhook/claim.schema.json"

//go:embed claim.schema.json
var schemaJSON []byte

// HandoffSchemaPath is where the JSON Schema of the handoff.requested body
// lives in the repository.
const HandoffSchemaPath = "internal/webhook/handoff.schema.json"

//go:embed handoff.schema.json
var handoffSchemaJSON []byte

// EvidenceSchemaPath is where the JSON Schema of the claim.evidence_added
// body lives in the repository.
const EvidenceSchemaPath = "internal/webhook/evidence.schema.json"

//go:embed evidence.schema.json
var evidenceSchemaJSON []byte

// Schema returns the JSON Schema of the webhook body (draft 2020-12).
func Schema() []byte { return bytes.Clone(schemaJSON) }

var compiledSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	return compileSchema("claim.schema.json")
})

var compiledHandoffSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	return compileSchema("handoff.schema.json")
})

var compiledEvidenceSchema = sync.OnceValues(func() (*jsonschema.Schema, error) {
	return compileSchema("evidence.schema.json")
})

// compileSchema compiles one of the body schemas, which may refer to the
// others' definitions.
func compileSchema(url string) (*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const base = "https://github.com/claimbot/claimbot/internal/webhook/"
	for name, src := range map[string][]byte{
		"claim.schema.json": schemaJSON, "handoff.schema.json": handoffSchemaJSON, "evidence.schema.json": evidenceSchemaJSON,
	} {
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(src))
		if err != nil {
			return nil, fmt.Errorf("webhook: schema %s: %w", name, err)
		}
		if err := c.AddResource(base+name, doc); err != nil {
			return nil, fmt.Errorf("webhook: schema %s: %w", name, err)
		}
	}
	sch, err := c.Compile(base + url)
	if err != nil {
		return nil, fmt.Errorf("webhook: schema: %w", err)
	}
	return sch, nil
}

// ValidateBody checks a webhook body against the JSON Schema of its type
// (handoff.requested, claim.evidence_added, or else claim.submitted). The error
// names every failing place in the body but never quotes the values found
// there, so it may be logged: bodies hold personal data.
func ValidateBody(body []byte) error {
	_, err := validBody(body)
	return err
}

// validBody is ValidateBody that also returns the parsed body: objects as
// map[string]any, numbers as json.Number.
func validBody(body []byte) (any, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("webhook: body is not JSON: %w", err)
	}
	path, compiled := SchemaPath, compiledSchema
	if obj, _ := doc.(map[string]any); obj != nil {
		switch obj["type"] {
		case EventHandoffRequested:
			path, compiled = HandoffSchemaPath, compiledHandoffSchema
		case EventEvidenceAdded:
			path, compiled = EvidenceSchemaPath, compiledEvidenceSchema
		}
	}
	sch, err := compiled()
	if err != nil {
		return nil, err
	}
	if err := sch.Validate(doc); err != nil {
		var ve *jsonschema.ValidationError
		if !errors.As(err, &ve) {
			return nil, fmt.Errorf("webhook: body: %w", err)
		}
		var problems []string
		collectProblems(ve, &problems)
		return nil, fmt.Errorf("webhook: body does not match %s: %s", path, strings.Join(problems, "; "))
	}
	return doc, nil
}

// collectProblems lists the leaves of a validation error as
// "/json/pointer: what is wrong", leaving out the offending values.
func collectProblems(e *jsonschema.ValidationError, out *[]string) {
	if len(e.Causes) > 0 {
		for _, c := range e.Causes {
			collectProblems(c, out)
		}
		return
	}
	var what string
	switch k := e.ErrorKind.(type) {
	case *kind.Pattern:
		what = fmt.Sprintf("does not match pattern %q", k.Want)
	case *kind.Format:
		what = "is not a valid " + k.Want
	default:
		what = e.ErrorKind.LocalizedString(englishPrinter)
	}
	*out = append(*out, "/"+strings.Join(e.InstanceLocation, "/")+": "+what)
}
