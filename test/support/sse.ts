// Reads a Server-Sent Events stream into a list of {event, data} as it arrives, until stopped.
export interface SseMessage {
  event: string;
  data: any;
}

export async function openSse(url: string, secret: string) {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { authorization: `Bearer ${secret}` }, signal: abort.signal });
  const messages: SseMessage[] = [];
  const reading = (async () => {
    if (!res.body) return;
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) messages.push({ event, data: JSON.parse(data) });
        }
      }
    } catch {
      // aborted
    }
  })();
  let ended = false;
  void reading.then(() => (ended = true));
  return {
    status: res.status,
    contentType: res.headers.get('content-type'),
    messages,
    /** True once the server has ended the stream (or it was closed here). */
    get ended() {
      return ended;
    },
    async close() {
      abort.abort();
      await reading;
    },
  };
}
