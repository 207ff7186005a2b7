// EventSource wrappers: the browser reconnects by itself and sends Last-Event-ID, so a
// dropped connection resumes where it left off. These only report the connection state.

/**
 * Open `url` and call `handlers[eventName](data, event)` for each named event; `onState`
 * gets 'live', 'reconnecting' or 'closed'. Returns a function that closes it.
 */
export function follow(url, handlers, onState = () => {}) {
  const source = new EventSource(url);
  source.addEventListener('open', () => {
    onState('live');
    if (handlers.open) handlers.open();
  });
  for (const [name, handler] of Object.entries(handlers)) {
    if (name === 'open') continue;
    source.addEventListener(name, (event) => {
      // The server's own `error` frames are MessageEvents; connection errors are not.
      if (!(event instanceof MessageEvent)) return;
      let data = null;
      try { data = JSON.parse(event.data); } catch { data = event.data; }
      handler(data, event);
    });
  }
  source.addEventListener('error', (event) => {
    if (event instanceof MessageEvent) return;
    onState(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting');
  });
  return () => { source.close(); onState('closed'); };
}

export function liveIndicator() {
  const el = document.createElement('span');
  el.className = 'live live-connecting';
  el.textContent = 'connecting';
  el.update = (state) => {
    el.className = `live live-${state}`;
    el.textContent = { live: 'live', reconnecting: 'reconnecting…', closed: 'not live' }[state] || state;
  };
  return el;
}
