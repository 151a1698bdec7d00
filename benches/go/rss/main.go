// Peak RSS of a Go program holding 100,000 blocked goroutines (run with and without
// -race by benches/compare.sh); prints VmHWM in KiB.
package main

import (
	"fmt"
	"os"
	"strings"
	"sync"
)

func main() {
	const n = 100000
	release := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			<-release
			wg.Done()
		}()
	}
	close(release)
	wg.Wait()
	data, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			f := strings.Fields(l)
			fmt.Println(f[1])
		}
	}
}
