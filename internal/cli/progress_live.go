package cli

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// live starts the live display: a first frame, then a redraw every
// quarter second so elapsed times move while a long resource (a package
// install) runs. finish stops it.
func (p *progress) live() {
	p.stop = make(chan struct{})
	p.ticker.Add(1)
	go func() {
		defer p.ticker.Done()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				p.mu.Lock()
				p.draw()
				p.mu.Unlock()
			}
		}
	}()
	p.draw()
}

// draw redraws the live display: the cursor goes back to the first line
// of the last frame, and each line is rewritten, cut to the terminal's
// width so that no line wraps and the count of lines holds. Lines the
// last frame had beyond this one's are erased.
func (p *progress) draw() {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\r\x1b[%dA", p.drawn)
	}
	width, height := p.size()
	lines := p.frame(height - 1)
	for _, line := range lines {
		if r := []rune(line); len(r) > width-1 {
			line = string(r[:max(width-1, 0)])
		}
		fmt.Fprintf(&b, "\r\x1b[2K%s\n", line)
	}
	if extra := p.drawn - len(lines); extra > 0 {
		b.WriteString(strings.Repeat("\r\x1b[2K\n", extra))
		fmt.Fprintf(&b, "\x1b[%dA", extra)
	}
	p.drawn = len(lines)
	io.WriteString(p.out, b.String())
}

// frame is the lines of the live display, at most rows of them: one per
// host, or, when the hosts do not fit, a count of the finished ones and
// as many of the others as fit, running ones first.
func (p *progress) frame(rows int) []string {
	var lines []string
	if len(p.hosts) <= rows || rows < 2 {
		for _, h := range p.hosts {
			lines = append(lines, p.status(h))
		}
		return lines
	}
	finished, failed := 0, 0
	var running, waiting []*hostProgress
	for _, h := range p.hosts {
		switch {
		case h.finished:
			finished++
			if h.failed {
				failed++
			}
		case h.begun:
			running = append(running, h)
		default:
			waiting = append(waiting, h)
		}
	}
	lines = append(lines, fmt.Sprintf("%d/%d host(s) finished, %d failed, %s", finished, len(p.hosts), failed, round(time.Since(p.start))))
	for _, h := range append(running, waiting...) {
		if len(lines) == rows {
			break
		}
		lines = append(lines, p.status(h))
	}
	return lines
}

// status is host h's line of the live display.
func (p *progress) status(h *hostProgress) string {
	elapsed := h.elapsed
	if !h.finished {
		elapsed = time.Since(p.start)
	}
	name := fmt.Sprintf("%-*s", p.pad, h.name)
	count := fmt.Sprintf("%d/%d", h.done, h.total)
	switch {
	case h.finished && h.failed:
		return plainLine(fmt.Sprintf("%s  %s  failed  %s", name, count, round(elapsed)))
	case h.finished:
		return plainLine(fmt.Sprintf("%s  %s  ok, %d change(s), %d removal(s)  %s", name, count, h.changed, h.removed, round(elapsed)))
	case !h.begun:
		return plainLine(fmt.Sprintf("%s  connecting  %s", name, round(elapsed)))
	case h.current != "":
		return plainLine(fmt.Sprintf("%s  %s  %s  %s", name, count, h.current, round(elapsed)))
	}
	return plainLine(fmt.Sprintf("%s  %s  %s", name, count, round(elapsed)))
}
