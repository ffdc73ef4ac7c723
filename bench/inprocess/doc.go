// Package inprocess benchmarks otelcol-audit's Glassix pipeline (auditwebhook
// receiver, auditlog processor, rfc5424 and auditfile exporters) built from
// the component factories inside the test process, with the load harness's
// client, syslog sink and archive reader, so `go test -bench` can take CPU,
// allocation, block and mutex profiles of the whole path. The built binary
// cannot expose pprof: the pprof extension is not in the manifest.
//
//	go test -run '^$' -bench Pipeline -benchtime 20000x \
//	    -cpuprofile cpu.out -blockprofile block.out -mutexprofile mutex.out ./bench/inprocess/
package inprocess // import "github.com/otelcol-audit/otelcol-audit/bench/inprocess"
