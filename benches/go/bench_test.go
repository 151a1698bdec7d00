// The Go programs that benches/runtime.rs mirrors, one benchmark each, same shapes.
// Run by benches/compare.sh: go test -bench . -benchtime 1x ... (ns/op printed per op).
package gobench

import (
	"sync"
	"testing"
)

func BenchmarkPingpong(b *testing.B) {
	ping, pong := make(chan uint64), make(chan uint64)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ping <- uint64(i)
		<-pong
	}
	close(ping)
}

func BenchmarkBuffered(b *testing.B) {
	c, done := make(chan uint64, 128), make(chan uint64)
	go func() {
		var sum uint64
		for v := range c {
			sum += v
		}
		done <- sum
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c <- uint64(i)
	}
	close(c)
	<-done
}

func BenchmarkSpawn(b *testing.B) {
	var wg sync.WaitGroup
	wg.Add(b.N)
	for i := 0; i < b.N; i++ {
		go func() { wg.Done() }()
	}
	wg.Wait()
}

func BenchmarkMutex(b *testing.B) {
	const workers = 4
	var m sync.Mutex
	var n uint64
	var wg sync.WaitGroup
	wg.Add(workers)
	per := b.N / workers
	for w := 0; w < workers; w++ {
		go func() {
			for i := 0; i < per; i++ {
				m.Lock()
				n++
				m.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
}

var shared uint64

// BenchmarkShared: a plain read+write pair of a shared variable (instrumented under
// -race), the Go side of gosan's `Shared<u64>` get+set.
func BenchmarkShared(b *testing.B) {
	for i := 0; i < b.N; i++ {
		shared = shared + 1
	}
}
