// CAPSA_TRACE=1 prints where the time of a command goes (milliseconds since
// the process started) on stderr; off, it costs one property read per call.
const on = !!process.env.CAPSA_TRACE;

export function trace(label: string): void {
  if (on) process.stderr.write(`[trace] ${performance.now().toFixed(1)} ms ${label}\n`);
}
