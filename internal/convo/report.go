package convo

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// WriteResult writes one script's line, and for a failure its details
// indented below it:
//
//	PASS 0.12s name (file)
//	FAIL 0.30s name (file)
//	    file:14: bot: {field: loss_amount, invalid: true}
//	    expected: invalid true, got false
//	    the bot said: state "email", field "email", input "email", invalid false, done false
//	      | 처리 결과를 받으실 이메일 주소를 알려 주세요.
//	      choices: 이전 (back)
func WriteResult(w io.Writer, r Result) {
	word := "PASS"
	switch {
	case !r.Passed():
		word = "FAIL"
	case r.Skipped != "":
		word = "SKIP"
	}
	fmt.Fprintf(w, "%s %.2fs %s (%s)\n", word, r.Duration.Seconds(), r.Script.Name, r.Script.File)
	if r.Skipped != "" {
		fmt.Fprintf(w, "    skipped: %s\n", r.Skipped)
	}
	if r.ClaimNotChecked {
		fmt.Fprintln(w, "    claim: not checked (give --webhook-listen and --webhook-secret, and point the server's webhook there)")
	}
	if r.Failure != nil {
		io.WriteString(w, indent(r.Failure.Detail(), "    "))
	}
}

// Detail is the failure's report, one fact a line.
func (f *Failure) Detail() string {
	var b strings.Builder
	if f.Step == "" && f.Expected == "" && f.Err != nil && f.Actual == nil {
		return f.Err.Error() + "\n"
	}
	where := f.File
	if f.Line > 0 {
		where = fmt.Sprintf("%s:%d", f.File, f.Line)
	}
	if f.Step != "" {
		fmt.Fprintf(&b, "%s: %s\n", where, f.Step)
	} else {
		fmt.Fprintf(&b, "%s\n", where)
	}
	if f.Expected != "" {
		fmt.Fprintf(&b, "expected: %s\n", f.Expected)
	}
	if f.Err != nil {
		fmt.Fprintf(&b, "error: %v\n", f.Err)
	}
	for _, m := range f.Claim {
		fmt.Fprintf(&b, "claim %s\n", m)
	}
	if f.Answers != nil {
		keys := make([]string, 0, len(f.Answers))
		for k := range f.Answers {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteString("delivered answers:\n")
		for _, k := range keys {
			fmt.Fprintf(&b, "  %s: %s\n", k, jsonText(f.Answers[k]))
		}
	}
	if f.Actual != nil {
		b.WriteString(DescribeReply(*f.Actual))
	}
	return b.String()
}

// DescribeReply shows a reply as a failure report does.
func DescribeReply(r Reply) string {
	var b strings.Builder
	fmt.Fprintf(&b, "the bot said: state %q, field %q, input %q, invalid %v, done %v", r.State, r.Field, r.Input, r.Invalid, r.Done)
	if r.ClaimID != "" {
		fmt.Fprintf(&b, ", claim_id %q", r.ClaimID)
	}
	b.WriteByte('\n')
	for _, m := range r.Messages {
		for _, line := range strings.Split(m, "\n") {
			fmt.Fprintf(&b, "  | %s\n", line)
		}
	}
	if len(r.Choices) > 0 {
		labels := make([]string, len(r.Choices))
		for i, c := range r.Choices {
			labels[i] = fmt.Sprintf("%s (%s)", c.Label, c.Value)
		}
		fmt.Fprintf(&b, "  choices: %s\n", strings.Join(labels, ", "))
	}
	return b.String()
}

func indent(s, by string) string {
	lines := strings.SplitAfter(s, "\n")
	var b strings.Builder
	for _, l := range lines {
		if l != "" {
			b.WriteString(by + l)
		}
	}
	return b.String()
}

// Broken is the result of a script file that could not be read.
func Broken(file string, err error) Result {
	s := &Script{File: file, Name: strings.TrimSuffix(filepath.Base(file), Suffix)}
	f := &Failure{File: file, Err: err}
	var ps Problems
	if errors.As(err, &ps) && len(ps) > 0 {
		f.Line = ps[0].Line
	}
	return Result{Script: s, Failure: f}
}

// Summary counts the results; skipped ones are neither.
func Summary(results []Result) (passed, failed int) {
	for _, r := range results {
		if r.Skipped != "" {
			continue
		}
		if r.Passed() {
			passed++
		} else {
			failed++
		}
	}
	return passed, failed
}

// WriteSummary writes "N passed, M failed" alone on a line, and ", K
// skipped" when any were.
func WriteSummary(w io.Writer, results []Result) {
	p, f := Summary(results)
	if skipped := len(results) - p - f; skipped > 0 {
		fmt.Fprintf(w, "%d passed, %d failed, %d skipped\n", p, f, skipped)
		return
	}
	fmt.Fprintf(w, "%d passed, %d failed\n", p, f)
}

// WriteCoverage writes the coverage section.
func WriteCoverage(w io.Writer, cov []FlowCoverage) {
	for _, c := range cov {
		fmt.Fprintf(w, "coverage %s: states %d/%d (%.1f%%), transitions %d/%d (%.1f%%)\n",
			c.Flow, c.StatesVisited, c.States, c.StatePct, c.EdgesTaken, c.Edges, c.TransitionPct)
		if len(c.UnvisitedStates) > 0 {
			fmt.Fprintf(w, "    states never visited: %s\n", strings.Join(c.UnvisitedStates, ", "))
		}
		for _, e := range c.UntakenEdges {
			fmt.Fprintf(w, "    transition never taken: %s --%s--> %s\n", e.From, e.Event, e.To)
		}
	}
}

// JUnit XML, as CI servers read it.
type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Cases     []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr"`
	Line      int           `xml:"line,attr,omitempty"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *junitSkipped `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitSkipped struct {
	Message string `xml:"message,attr"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// WriteJUnit writes the results as JUnit XML to path.
func WriteJUnit(path string, results []Result, total time.Duration) error {
	suite := junitSuite{Name: "claimbot test", Time: seconds(total), Timestamp: time.Now().UTC().Format("2006-01-02T15:04:05")}
	for _, r := range results {
		c := junitCase{Name: r.Script.Name, Classname: strings.TrimSuffix(r.Script.File, Suffix), File: r.Script.File, Time: seconds(r.Duration)}
		if r.ClaimNotChecked {
			c.SystemOut = "claim: not checked"
		}
		if r.Skipped != "" {
			c.Skipped = &junitSkipped{Message: r.Skipped}
		}
		if f := r.Failure; f != nil {
			suite.Failures++
			c.Line = f.Line
			msg := f.Expected
			if len(f.Claim) > 0 {
				msg = "claim " + strings.Join(f.Claim, "; ")
			}
			if f.Err != nil {
				msg = f.Err.Error()
			}
			c.Failure = &junitFailure{Message: msg, Type: "mismatch", Text: f.Detail()}
			if f.Err != nil {
				c.Failure.Type = "error"
			}
		}
		suite.Tests++
		suite.Cases = append(suite.Cases, c)
	}
	doc := junitSuites{Tests: suite.Tests, Failures: suite.Failures, Time: suite.Time, Suites: []junitSuite{suite}}
	out, err := xml.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("convo: junit: %w", err)
	}
	out = append([]byte(xml.Header), append(out, '\n')...)
	if err := os.WriteFile(path, out, 0o644); err != nil {
		return fmt.Errorf("convo: junit: %w", err)
	}
	return nil
}
