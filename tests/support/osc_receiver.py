#!/usr/bin/env python3
"""A real OSC receiver for tests/osc_bridge.rs, decoding with python-osc.

Binds UDP on 127.0.0.1 (port 0 unless given), prints `PORT <n>` and then one JSON line per
datagram: {"bundle": bool, "timetag": float|null, "messages": [[address, typetags, [args]]]}.
Type tags are read from the packet itself (python-osc's parsed message keeps the raw datagram).
Exits when stdin closes or after --timeout seconds without a datagram.
"""

import argparse
import json
import select
import socket
import sys

from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_message import OscMessage


def typetags(message):
    """The type tag string of a parsed message, from its datagram (",sif" -> "sif")."""
    dgram = message.dgram
    start = dgram.index(b"\0", 0)
    start = (start + 4) & ~3  # the address string is padded to a multiple of 4
    end = dgram.index(b"\0", start)
    tags = dgram[start:end].decode("ascii")
    return tags[1:] if tags.startswith(",") else tags


def describe(message):
    return [message.address, typetags(message), list(message.params)]


def decode(data):
    if OscBundle.dgram_is_bundle(data):
        bundle = OscBundle(data)
        messages = []
        for item in bundle:
            if isinstance(item, OscBundle):
                raise ValueError("nested bundle")
            messages.append(describe(item))
        return {"bundle": True, "timetag": bundle.timestamp, "messages": messages}
    return {"bundle": False, "timetag": None, "messages": [describe(OscMessage(data))]}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", args.port))
    print(f"PORT {sock.getsockname()[1]}", flush=True)
    while True:
        ready, _, _ = select.select([sock, sys.stdin], [], [], args.timeout)
        if not ready:
            print(json.dumps({"error": "timeout"}), flush=True)
            return 0
        if sys.stdin in ready and not sys.stdin.readline():
            return 0
        if sock in ready:
            data = sock.recv(65535)
            try:
                line = decode(data)
            except Exception as error:  # a malformed packet is a test failure, reported as such
                line = {"error": f"{type(error).__name__}: {error}", "bytes": data.hex()}
            print(json.dumps(line), flush=True)


if __name__ == "__main__":
    sys.exit(main())
