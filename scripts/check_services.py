"""Print what is missing for the integration tier (nothing when PostgreSQL and Redis answer)."""

import socket
import sys
from urllib.parse import urlparse

HOW_TO_START = {
    "PostgreSQL": "start PostgreSQL (pg_ctlcluster <version> main start, or docker compose up -d postgres)",
    "Redis": "start Redis (redis-server --daemonize yes, or docker compose up -d redis)",
}


def reachable(url: str, default_port: int) -> bool:
    parsed = urlparse(url)
    try:
        with socket.create_connection(
            (parsed.hostname or "127.0.0.1", parsed.port or default_port), timeout=2
        ):
            return True
    except OSError:
        return False


def main() -> None:
    pg_url, redis_url = sys.argv[1], sys.argv[2]
    missing = []
    if not reachable(pg_url, 5432):
        missing.append(f"PostgreSQL is not reachable at {pg_url}: {HOW_TO_START['PostgreSQL']}")
    if not reachable(redis_url, 6379):
        missing.append(f"Redis is not reachable at {redis_url}: {HOW_TO_START['Redis']}")
    print("; ".join(missing))


if __name__ == "__main__":
    main()
