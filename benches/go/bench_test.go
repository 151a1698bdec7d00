// The Go programs that benches/runtime.rs mirrors, one benchmark each, same shapes.
// Run by benches/compare.sh at GOMAXPROCS=1 (gosan's deterministic mode is one
// thread): go test -bench . -benchtime Nx ... (ns/op printed per op).
//
// Each benchmark also has a *Hist variant that first does a tenth of the same work
// in the same process (not timed), and SpawnAfter{0,10k,100k,1M} spawn a batch of
// goroutines after that many goroutines finished and were waited for: the rows that
// show whether a cost grows with the run's history.
package gobench

import (
	"sync"
	"testing"
)

func pingpong(n int) {
	ping, pong := make(chan uint64), make(chan uint64)
	var done sync.WaitGroup
	done.Add(1)
	go func() {
		for v := range ping {
			pong <- v + 1
		}
		done.Done()
	}()
	for i := 0; i < n; i++ {
		ping <- uint64(i)
		<-pong
	}
	close(ping)
	done.Wait()
}

func buffered(n int) {
	c, done := make(chan uint64, 128), make(chan uint64)
	go func() {
		var sum uint64
		for v := range c {
			sum += v
		}
		done <- sum
	}()
	for i := 0; i < n; i++ {
		c <- uint64(i)
	}
	close(c)
	<-done
}

func spawn(n int) {
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() { wg.Done() }()
	}
	wg.Wait()
}

func mutex(n int) {
	const workers = 4
	var m sync.Mutex
	var x uint64
	var wg sync.WaitGroup
	wg.Add(workers)
	per := n / workers
	for w := 0; w < workers; w++ {
		go func() {
			for i := 0; i < per; i++ {
				m.Lock()
				x++
				m.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
}

var sharedVar uint64

// shared: a plain read+write pair of a shared variable (instrumented under -race),
// the Go side of gosan's `Shared<u64>` get+set.
func shared(n int) {
	for i := 0; i < n; i++ {
		sharedVar = sharedVar + 1
	}
}

func fresh(b *testing.B, work func(int)) {
	b.ResetTimer()
	work(b.N)
}

func hist(b *testing.B, work func(int)) {
	work(b.N / 10)
	b.ResetTimer()
	work(b.N)
}

func BenchmarkPingpong(b *testing.B)     { fresh(b, pingpong) }
func BenchmarkPingpongHist(b *testing.B) { hist(b, pingpong) }
func BenchmarkBuffered(b *testing.B)     { fresh(b, buffered) }
func BenchmarkBufferedHist(b *testing.B) { hist(b, buffered) }
func BenchmarkSpawn(b *testing.B)        { fresh(b, spawn) }
func BenchmarkSpawnHist(b *testing.B)    { hist(b, spawn) }
func BenchmarkMutex(b *testing.B)        { fresh(b, mutex) }
func BenchmarkMutexHist(b *testing.B)    { hist(b, mutex) }
func BenchmarkShared(b *testing.B)       { fresh(b, shared) }
func BenchmarkSharedHist(b *testing.B)   { hist(b, shared) }

// spawnAfter: b.N goroutines (one batch) after n goroutines finished and the
// spawner waited for them.
func spawnAfter(b *testing.B, n int) {
	spawn(n)
	b.ResetTimer()
	spawn(b.N)
}

func BenchmarkSpawnAfter0(b *testing.B)    { spawnAfter(b, 0) }
func BenchmarkSpawnAfter10k(b *testing.B)  { spawnAfter(b, 10000) }
func BenchmarkSpawnAfter100k(b *testing.B) { spawnAfter(b, 100000) }
func BenchmarkSpawnAfter1m(b *testing.B)   { spawnAfter(b, 1000000) }
