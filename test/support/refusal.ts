/** A refusal made before the app sees the request, byte for byte as the client reads it. */
export function refusal(status: string, detail: string): string {
  const body = JSON.stringify({ detail });
  return `HTTP/1.1 ${status}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
}
