#!/usr/bin/env python3
"""Enqueue a hookworker webhook over the HTTP ingest API (standard library only).

    HOOKWORKER_INGEST_URL=http://127.0.0.1:8090 HOOKWORKER_INGEST_TOKEN=... \
        python3 produce.py INSTALLATION_ID [EVENT] [DATA_JSON]

Prints the delivery id. The same Idempotency-Key within 24 hours returns the
same id and enqueues nothing new, so a retry after a network error is safe.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request
import uuid


def enqueue(base_url, token, payload, idempotency_key=None, attempts=5):
    """POST one payload; retry on 503 (Redis unavailable) after Retry-After."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    headers = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    for attempt in range(attempts):
        req = urllib.request.Request(base_url.rstrip("/") + "/v1/resource-changes",
                                     data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return json.load(resp)["id"]
        except urllib.error.HTTPError as err:
            message = err.read().decode("utf-8", "replace")
            if err.code == 503 and attempt + 1 < attempts:
                time.sleep(float(err.headers.get("Retry-After", "1")))
                continue
            raise SystemExit("ingest answered %d: %s" % (err.code, message))
    raise SystemExit("ingest unavailable")


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    payload = {
        "installation_id": int(sys.argv[1]),
        "event": sys.argv[2] if len(sys.argv) > 2 else "issue.created",
        "data": json.loads(sys.argv[3]) if len(sys.argv) > 3 else {"issue": {"id": "1", "title": "Hello from Python"}},
    }
    delivery_id = enqueue(os.environ.get("HOOKWORKER_INGEST_URL", "http://127.0.0.1:8090"),
                          os.environ["HOOKWORKER_INGEST_TOKEN"], payload, idempotency_key=str(uuid.uuid4()))
    print(delivery_id)


if __name__ == "__main__":
    main()
