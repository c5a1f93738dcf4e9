#!/usr/bin/env python3
"""Tiny GRIP backend for Pushpin: answers every GET with an SSE hold on channel `bench`.

Pushpin keeps the client connection open (Grip-Hold: stream) and forwards what is published on
the channel through its HTTP publish endpoint (port 5561). The initial body is the same
`connection` event buoycast sends, so the load generator times connect -> first event alike.
Usage: grip_backend.py PORT
"""
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = (b"retry: 2000\n\nevent: connection\n"
        b"data: {\"status\":\"connected\"}\n\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Grip-Hold", "stream")
        self.send_header("Grip-Channel", "bench")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8093
    Server(("127.0.0.1", port), Handler).serve_forever()
