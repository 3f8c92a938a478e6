// Connects npm `eventsource` (a WHATWG EventSource for Node) to a TaskStream URL and reports, as one JSON
// line, everything it received until the EventSource closed for good (or a 20 s guard ran out).
import { EventSource } from 'eventsource';

const url = process.argv[2];
const report = { opens: 0, events: [], closed: false };
const source = new EventSource(url);
const guard = setTimeout(() => finish(1), 20_000);

source.addEventListener('open', () => report.opens++);
for (const type of ['task', 'end']) {
  source.addEventListener(type, (e) => report.events.push({ type, id: e.lastEventId, data: JSON.parse(e.data) }));
}
source.addEventListener('error', () => {
  // EventSource reconnects by itself after `end` (the server closed the stream); CLOSED means it was told
  // not to (our 204), which is the point of the test.
  if (source.readyState === EventSource.CLOSED) {
    report.closed = true;
    finish(0);
  }
});

function finish(code) {
  clearTimeout(guard);
  source.close();
  console.log(JSON.stringify(report));
  process.exit(code);
}
