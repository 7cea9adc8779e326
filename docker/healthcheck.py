"""Container health check: GET /healthz on this container's gunicorn and require the named checks.

    python docker/healthcheck.py database broker

exits 0 when each named check is "ok" (or "unknown"), 1 otherwise. The web container names only
database and broker: a stopped worker must not take the site out of the load balancer.
"""

import json
import os
import sys
import urllib.error
import urllib.request


def main(required: list[str]) -> int:
    """Fetch /healthz with an allowed Host header and check the required parts."""
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "localhost").split(",") if h.strip()]
    host = hosts[0].lstrip(".") if hosts and hosts[0] != "*" else "localhost"
    request = urllib.request.Request(
        f"http://127.0.0.1:{os.environ.get('PORT', '8000')}/healthz", headers={"Host": host}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            body = json.load(response)
    except urllib.error.HTTPError as exc:
        body = json.load(exc)
    except (OSError, ValueError) as exc:
        print(f"healthz unreachable: {exc}")
        return 1
    failing = [name for name in required if (body.get(name) or {}).get("status") not in ("ok", "unknown")]
    print(json.dumps(body))
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["database", "broker", "workers"]))
