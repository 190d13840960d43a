package main

import (
	"context"
	"io"
	"os"
	"sync"

	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// onTerminal reports whether a person is watching: standard output and
// standard error are both terminals. When either is redirected, cp is in
// a script or a pipe, and writes no progress.
func (a *app) onTerminal() bool { return a.stdoutTTY && a.stderrTTY }

// progress shows one transfer's progress bar; a nil *progress shows
// nothing, so callers need not check.
type progress struct {
	mu   sync.Mutex
	bar  *progressbar.ProgressBar
	w    io.Writer
	done int64
}

// newBar returns a bar for a transfer of size bytes (-1 when unknown yet),
// or nil when no bar should show.
func (c *copier) newBar(description string, size int64) *progress {
	if !c.progress {
		return nil
	}
	bar := progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(c.a.stderr),
		progressbar.OptionSetDescription(description),
		progressbar.OptionShowBytes(true),
		progressbar.OptionUseIECUnits(true),
		progressbar.OptionSetWidth(30),
		progressbar.OptionThrottle(100_000_000), // 100 ms
		progressbar.OptionShowCount(),
		progressbar.OptionOnCompletion(func() { io.WriteString(c.a.stderr, "\n") }), //nolint:errcheck
	)
	return &progress{bar: bar, w: c.a.stderr}
}

// register attaches the bar to a transfer manager call as its progress
// listener.
func (p *progress) register(o *transfermanager.Options) {
	if p != nil {
		o.ObjectProgressListeners.Register(p)
	}
}

// OnObjectTransferStart sets the bar's length once the size is known.
func (p *progress) OnObjectTransferStart(_ context.Context, e *transfermanager.ObjectTransferStartEvent) {
	p.setTotal(e.TotalBytes)
}

// OnObjectBytesTransferred moves the bar. Parts finish in any order, from
// several goroutines; the bar never moves back.
func (p *progress) OnObjectBytesTransferred(_ context.Context, e *transfermanager.ObjectBytesTransferredEvent) {
	p.setTotal(e.TotalBytes)
	p.mu.Lock()
	defer p.mu.Unlock()
	if e.BytesTransferred > p.done {
		p.done = e.BytesTransferred
		p.bar.Set64(p.done) //nolint:errcheck // a bar that cannot draw is no failure
	}
}

func (p *progress) setTotal(total int64) {
	if total > 0 && p.bar.GetMax64() != total {
		p.bar.ChangeMax64(total)
	}
}

// finish completes the bar after a successful transfer, or leaves it
// where it stopped.
func (p *progress) finish(err error) {
	if p == nil {
		return
	}
	if err != nil {
		p.bar.Exit()              //nolint:errcheck
		io.WriteString(p.w, "\n") //nolint:errcheck // the error line starts on its own
		return
	}
	p.bar.Finish() //nolint:errcheck
}
