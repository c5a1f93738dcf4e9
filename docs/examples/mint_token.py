#!/usr/bin/env python3
"""Mints an HS256 subscriber token (JWT) for a buoycast server started with --jwt-secret.

Python's standard library only. The secret comes from BUOYCAST_JWT_SECRET (as the server's) or
--secret. Examples:

    BUOYCAST_JWT_SECRET=... python3 docs/examples/mint_token.py --stations 44013 --ttl 3600
    python3 docs/examples/mint_token.py --secret ... --aud buoycast --iss https://auth.example
"""

import argparse
import base64
import hashlib
import hmac
import json
import os
import sys
import time


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def mint(secret: str, claims: dict) -> str:
    header = {"alg": "HS256", "typ": "JWT"}
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = hmac.new(secret.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--secret", default=os.environ.get("BUOYCAST_JWT_SECRET"),
                        help="the server's --jwt-secret (default: $BUOYCAST_JWT_SECRET)")
    parser.add_argument("--stations", help="comma-separated station ids (default: every station)")
    parser.add_argument("--ttl", type=int, default=3600, help="seconds until it expires (exp)")
    parser.add_argument("--sub", default="subscriber", help="subject (sub)")
    parser.add_argument("--aud", help="audience (aud), if the server has --jwt-audience")
    parser.add_argument("--iss", help="issuer (iss), if the server has --jwt-issuer")
    args = parser.parse_args()
    if not args.secret:
        parser.error("give --secret or set BUOYCAST_JWT_SECRET")
    now = int(time.time())
    claims = {"sub": args.sub, "iat": now, "exp": now + args.ttl}
    if args.stations:
        claims["stations"] = [s.strip() for s in args.stations.split(",") if s.strip()]
    if args.aud:
        claims["aud"] = args.aud
    if args.iss:
        claims["iss"] = args.iss
    print(mint(args.secret, claims))
    return 0


if __name__ == "__main__":
    sys.exit(main())
