package main

import (
	"net"
	"sync"
	"time"
)

// latencyProxy is a TCP proxy on 127.0.0.1 that delays every chunk of
// data by oneWay in each direction, keeping its order, without limiting
// bandwidth. A new connection's first bytes to the server also wait for
// the round trip a TCP handshake over such a link costs: on a real link
// connect() returns after one round trip and the first data then takes
// one more one-way trip; through the proxy connect() returns at once, so
// the proxy holds that data until accept + 2×oneWay + oneWay.
type latencyProxy struct {
	ln     net.Listener
	target string
	oneWay time.Duration

	mu     sync.Mutex
	conns  []net.Conn
	closed bool
	wg     sync.WaitGroup
}

func startLatencyProxy(target string, oneWay time.Duration) (*latencyProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &latencyProxy{ln: ln, target: target, oneWay: oneWay}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

func (p *latencyProxy) port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// track registers c to be closed by close; after close it closes c.
func (p *latencyProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		_ = c.Close()
		return false
	}
	p.conns = append(p.conns, c)
	return true
}

func (p *latencyProxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		accepted := time.Now()
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c, accepted)
		}()
	}
}

func (p *latencyProxy) serve(client net.Conn, accepted time.Time) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		_ = client.Close()
		return
	}
	if !p.track(server) {
		_ = client.Close()
		return
	}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.pipe(server, client, accepted.Add(2*p.oneWay))
	}()
	p.pipe(client, server, time.Time{})
}

// pipe forwards src to dst, each chunk oneWay after it was read (or
// after notBefore, if later), and closes dst when src ends.
func (p *latencyProxy) pipe(dst, src net.Conn, notBefore time.Time) {
	type chunk struct {
		due  time.Time
		data []byte
	}
	queue := make(chan chunk, 4096)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer dst.Close()
		for c := range queue {
			if wait := time.Until(c.due); wait > 0 {
				time.Sleep(wait)
			}
			if _, err := dst.Write(c.data); err != nil {
				return
			}
		}
	}()
	for {
		buf := make([]byte, 64<<10)
		n, err := src.Read(buf)
		if n > 0 {
			at := time.Now()
			if at.Before(notBefore) {
				at = notBefore
			}
			select {
			case queue <- chunk{due: at.Add(p.oneWay), data: buf[:n]}:
			case <-done: // dst failed: nothing more can be delivered
			}
		}
		if err != nil {
			break
		}
	}
	close(queue)
	<-done
}

func (p *latencyProxy) close() {
	_ = p.ln.Close()
	p.mu.Lock()
	p.closed = true
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
