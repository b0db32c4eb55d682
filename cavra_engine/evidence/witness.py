"""A witness for signed tree heads: a small HTTP service, runnable on its own, outside the portal's control.

    python -m cavra_engine.evidence.witness --listen 127.0.0.1:8765 --state /var/lib/cavra-witness \
        --trust-root acme=trust-root-acme.json

POST /v1/heads  {"tree_head": <checkpoint v2>, "consistency": [hex, ...]}
    The witness accepts a head only when it is well formed, signed by a key of the tenant's trust root,
    and (after the first) extends the last head it accepted for that tenant: the RFC 9162 consistency
    proof from that size to the new one must verify. It then countersigns the head with its own Ed25519
    key and appends the pair to `heads.jsonl` (append-only). 200 {"cosignature": ...}; 409 when the
    history does not extend what it saw (rewritten history); 400 for anything malformed.
GET /v1/heads/<tenant>   the last countersigned head, or 404.

Django-free: only the standard library and cryptography, like the verifier.
"""

from __future__ import annotations

import argparse
import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from . import merkle, schema
from .bundle import checkpoint_message, key_id_for, public_key_raw
from .canonical import canonicalize, parse_line
from .verify import COSIGNATURE_TYPE, Report, _check_signature, cosignature_valid, load_trust_root

__all__ = ["COSIGNATURE_TYPE", "Witness", "cosignature_valid", "main", "serve"]

MAX_BODY = 64 * 1024


class Rejected(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


class Witness:
    """The witness's state: trusted tenant keys, its own key, and the append-only log of accepted heads."""

    def __init__(self, *, state_dir: Path, key: Ed25519PrivateKey, trust_roots: dict[str, dict]):
        self.state_dir = Path(state_dir)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.log = self.state_dir / "heads.jsonl"
        self.key = key
        self.key_id = key_id_for(public_key_raw(key.public_key()))
        self.keys = {}
        for tenant, document in trust_roots.items():
            report = Report()
            root_tenant, keys = load_trust_root(document, f"trust root {tenant}", report)
            if not report.ok or root_tenant != tenant:
                raise ValueError(f"trust root for {tenant} is not valid: {report.problems or 'other tenant'}")
            self.keys[tenant] = keys
        self.lock = threading.Lock()
        self.latest: dict[str, dict] = {}
        if self.log.exists():
            for line in self.log.read_bytes().splitlines():
                entry = parse_line(line)
                self.latest[entry["tree_head"]["tenant"]] = entry

    def submit(self, tree_head, consistency) -> dict:
        issues = schema.members(tree_head, schema.CHECKPOINT_V2_SPEC)
        if issues:
            raise Rejected(400, "tree_head: " + "; ".join(f"{m}: {msg}" for _c, m, msg in issues))
        if not isinstance(consistency, list) or not all(
            isinstance(h, str) and schema.HEX64.match(h) for h in consistency
        ):
            raise Rejected(400, "consistency: must be an array of 64-hex hashes")
        tenant = tree_head["tenant"]
        if tenant not in self.keys:
            raise Rejected(400, f"tree_head.tenant: this witness holds no trust root for {tenant!r}")
        found = _check_signature(
            self.keys[tenant], tree_head["key_id"], tree_head["created_at"], tree_head["signature"],
            checkpoint_message(tree_head),
        )  # fmt: skip
        if found:
            raise Rejected(400, f"tree_head.signature: {found[1]}")
        with self.lock:
            previous = self.latest.get(tenant)
            if previous is not None:
                old = previous["tree_head"]
                size, new_size = old["seq"], tree_head["seq"]
                if new_size < size:
                    raise Rejected(409, f"tree_head.seq: {new_size} is older than the head seen at {size}")
                proof = [bytes.fromhex(h) for h in consistency]
                if not merkle.verify_consistency(
                    size,
                    new_size,
                    bytes.fromhex(old["root_hash"]),
                    bytes.fromhex(tree_head["root_hash"]),
                    proof,
                ):
                    raise Rejected(
                        409, f"consistency: the head at {new_size} does not extend the head this witness "
                        f"countersigned at {size}: the history was rewritten",
                    )  # fmt: skip
                if new_size == size:
                    return previous["cosignature"]
            cosignature = {
                "type": COSIGNATURE_TYPE, "witness_key_id": self.key_id,
                "witnessed_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }  # fmt: skip
            signed = canonicalize({"tree_head": tree_head, **cosignature})
            cosignature["signature"] = self.key.sign(signed).hex()
            entry = {"tree_head": tree_head, "cosignature": cosignature}
            with self.log.open("ab") as log:
                log.write(canonicalize(entry) + b"\n")
            self.latest[tenant] = entry
            return cosignature


def _handler(witness: Witness):
    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, document: dict) -> None:
            body = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):  # noqa: N802 (http.server's naming)
            if self.path != "/v1/heads":
                return self._send(404, {"error": "not found"})
            length = int(self.headers.get("Content-Length") or 0)
            if not 0 < length <= MAX_BODY:
                return self._send(400, {"error": f"body must be 1..{MAX_BODY} bytes of JSON"})
            try:
                request = json.loads(self.rfile.read(length))
                if not isinstance(request, dict):
                    raise ValueError("not an object")
                cosignature = witness.submit(request.get("tree_head"), request.get("consistency", []))
            except Rejected as exc:
                return self._send(exc.status, {"error": str(exc)})
            except ValueError as exc:
                return self._send(400, {"error": f"body is not a JSON object: {exc}"})
            return self._send(200, {"cosignature": cosignature})

        def do_GET(self):  # noqa: N802
            prefix = "/v1/heads/"
            entry = witness.latest.get(self.path[len(prefix) :]) if self.path.startswith(prefix) else None
            if entry is None:
                return self._send(404, {"error": "no head witnessed for this tenant"})
            return self._send(200, entry)

        def log_message(self, *args):  # quiet by default; the heads log is the record
            pass

    return Handler


def serve(witness: Witness, host: str = "127.0.0.1", port: int = 0) -> ThreadingHTTPServer:
    """Start serving in a background thread; returns the server (server.server_address has the port)."""
    server = ThreadingHTTPServer((host, port), _handler(witness))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cavra-witness", description=__doc__.split("\n")[0])
    parser.add_argument("--listen", default="127.0.0.1:8765")
    parser.add_argument("--state", required=True, help="directory for heads.jsonl and the witness key")
    parser.add_argument("--trust-root", action="append", default=[], metavar="TENANT=FILE")
    args = parser.parse_args(argv)
    state = Path(args.state)
    state.mkdir(parents=True, exist_ok=True)
    key_file = state / "witness.key"
    if not key_file.exists():
        key_file.write_bytes(Ed25519PrivateKey.generate().private_bytes_raw())
        key_file.chmod(0o600)
    key = Ed25519PrivateKey.from_private_bytes(key_file.read_bytes())
    roots = {}
    for item in args.trust_root:
        tenant, _, path = item.partition("=")
        roots[tenant] = json.loads(Path(path).read_text())
    host, _, port = args.listen.rpartition(":")
    server = ThreadingHTTPServer(
        (host, int(port)), _handler(Witness(state_dir=state, key=key, trust_roots=roots))
    )
    print(f"witness {key_id_for(public_key_raw(key.public_key()))} listening on {args.listen}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
