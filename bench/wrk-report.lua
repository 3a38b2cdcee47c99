-- wrk script: print one machine-readable line at the end of a run (bench/run.sh parses it).
-- Latencies are wrk's per-request latencies in microseconds; errors is the sum of the socket
-- errors, broken down in err_connect/err_read/err_write/err_timeout; non2xx counts HTTP errors.
done = function(summary, latency, requests)
	local e = summary.errors
	io.write(string.format(
		"WRKRESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d " ..
		"errors=%d non2xx=%d err_connect=%d err_read=%d err_write=%d err_timeout=%d\n",
		summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
		latency:percentile(50), latency:percentile(99),
		e.connect + e.read + e.write + e.timeout, e.status,
		e.connect, e.read, e.write, e.timeout))
end
