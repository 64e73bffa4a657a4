package loadtest

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Progress shows a run's progress: one line rewritten in place (\r) on a
// terminal, else one line per second. A nil *Progress shows nothing.
type Progress struct {
	w        io.Writer
	tty      bool
	interval time.Duration
}

// NewProgress writes to f, in place when f is a terminal.
func NewProgress(f *os.File) *Progress {
	fi, err := f.Stat()
	tty := err == nil && fi.Mode()&os.ModeCharDevice != 0
	p := &Progress{w: f, tty: tty, interval: time.Second}
	if tty {
		p.interval = 200 * time.Millisecond
	}
	return p
}

// NewProgressTo writes one line per interval to w (tests, logs).
func NewProgressTo(w io.Writer, interval time.Duration) *Progress {
	return &Progress{w: w, interval: interval}
}

// start shows line() until the returned stop is called; stop shows it
// once more, final.
func (p *Progress) start(line func() string) (stop func()) {
	if p == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	width := 0
	show := func() {
		s := line()
		if p.tty {
			pad := ""
			if n := len([]rune(s)); n < width {
				pad = strings.Repeat(" ", width-n)
			} else {
				width = n
			}
			fmt.Fprint(p.w, "\r"+s+pad)
			return
		}
		fmt.Fprintln(p.w, s)
	}
	wg.Go(func() {
		t := time.NewTicker(p.interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				show()
			}
		}
	})
	var once sync.Once
	return func() {
		once.Do(func() {
			close(done)
			wg.Wait()
			if p.tty {
				show()
				fmt.Fprintln(p.w)
			}
		})
	}
}

// bar is a progress bar of a fraction in [0, 1].
func bar(frac float64) string {
	const n = 20
	frac = min(max(frac, 0), 1)
	k := int(frac*n + 0.5)
	return "[" + strings.Repeat("#", k) + strings.Repeat(".", n-k) + "]"
}

// Show shows line() until the returned stop is called, as the load modes'
// own progress lines are shown (the chaos run uses it).
func (p *Progress) Show(line func() string) (stop func()) { return p.start(line) }

// Bar is a progress bar of a fraction in [0, 1].
func Bar(frac float64) string { return bar(frac) }
