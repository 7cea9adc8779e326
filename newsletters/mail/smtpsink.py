"""An SMTP sink for tests and the delivery benchmark: counts what arrives, can script refusals.

In-process (tests): ``sink, controller = start_sink(ScriptedHandler(...))``. As a process (the
benchmark, so the sink does not share a CPU budget with the sender's interpreter):

    python -m newsletters.mail.smtpsink --port 0 --stats /tmp/stats.json

prints the port it listens on as its first line and keeps writing {"received": N} to the stats
file (and once more when it is stopped with SIGTERM or SIGINT). With --maildir DIR it also keeps
one copy per recipient in the Maildir DIR, a Delivered-To header on top as a real mailbox would
have: the mail catcher of the compose stack's test (tests/deploy/stack), read with `mailbox`.

The benchmark's ceiling runs this module as a plain smtplib pusher too, one process per
connection, reading prebuilt messages one at a time from a spool file (see write_spool):

    python -m newsletters.mail.smtpsink --push /tmp/spool --port 2525 --share 0/2
"""

import argparse
import email.parser
import email.policy
import json
import mailbox
import os
import resource
import signal
import smtplib
import struct
import sys
import threading
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from aiosmtpd.controller import Controller

_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.default)


@dataclass
class Received:
    recipient: str
    message_id: str
    data: bytes  # empty unless the handler keeps whole messages


class ScriptedHandler:
    """Accepts everything, except the replies it is told to give.

    refuse: address -> reply for every attempt ("550 5.1.1 no such user").
    defer_percent: this share of addresses gets "451" on its first attempt only (chosen by a
    hash of the address, so the same addresses every run).
    keep: "all" keeps whole messages, "headers" only recipient and Message-ID, "none" counts.
    maildir: also store every message, once per recipient, in this Maildir directory.
    """

    def __init__(
        self,
        *,
        refuse: dict[str, str] | None = None,
        defer_percent: int = 0,
        keep: str = "all",
        maildir: str | None = None,
    ) -> None:
        self.refuse = {address.lower(): reply for address, reply in (refuse or {}).items()}
        self.defer_percent = defer_percent
        self.keep = keep
        self.maildir = None
        if maildir:
            # Maildir(create=True) skips a directory that exists (a mounted volume): make its parts.
            for part in ("tmp", "new", "cur"):
                os.makedirs(os.path.join(maildir, part), exist_ok=True)
            self.maildir = mailbox.Maildir(maildir, create=False)
        self.received: list[Received] = []
        self.count = 0
        self.sessions = 0  # EHLOs: one per SMTP connection
        self.helo_names: list[str] = []  # the name each client greeted with
        self.deferred: set[str] = set()
        self.refused: list[str] = []
        self.lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname: str, responses: list[str]) -> list[str]:
        with self.lock:
            self.sessions += 1
            self.helo_names.append(hostname)
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address: str, rcpt_options: list) -> str:
        address_lower = address.lower()
        if address_lower in self.refuse:
            self.refused.append(address_lower)
            return self.refuse[address_lower]
        if self.defer_percent and address_lower not in self.deferred:
            if zlib.crc32(address_lower.encode()) % 100 < self.defer_percent:
                self.deferred.add(address_lower)
                return "451 4.3.0 Try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        with self.lock:
            self.count += 1
            data = envelope.original_content or envelope.content
            if self.maildir is not None:
                # Written before the 250: a message the sender saw accepted is on disk.
                for recipient in envelope.rcpt_tos:
                    self.maildir.add(b"Delivered-To: %s\r\n" % recipient.encode() + data)
            if self.keep != "none":
                message_id = ""
                if self.keep == "headers":
                    message_id = str(
                        _HEADERS.parsebytes(data.split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n")["Message-ID"]
                    )
                    data = b""
                for recipient in envelope.rcpt_tos:
                    self.received.append(Received(recipient.lower(), message_id, data))
        return "250 OK"


class _FreePortController(Controller):
    """A Controller that may listen on port 0 and learns the port it got."""

    def _trigger_server(self) -> None:
        self.port = self.server.sockets[0].getsockname()[1]
        super()._trigger_server()


def start_sink(handler: ScriptedHandler, *, port: int = 0, **options) -> Controller:
    """Start an SMTP server for handler on 127.0.0.1 (port 0: any free port; see .port).

    options go to aiosmtpd: ssl_context= (SMTPS), tls_context= and require_starttls=,
    authenticator= and auth_required= ...
    """
    controller = _FreePortController(
        handler, hostname="127.0.0.1", port=port, data_size_limit=10_000_000, **options
    )
    controller.start()
    return controller


_LENGTH = struct.Struct(">I")


def write_spool(path: str, messages: Iterable[bytes]) -> tuple[int, int]:
    """Write messages to a spool file, each after its length; (messages, bytes) written."""
    count = size = 0
    with open(path, "wb") as f:
        for data in messages:
            f.write(_LENGTH.pack(len(data)))
            f.write(data)
            count, size = count + 1, size + len(data)
    return count, size


def read_spool(path: str, *, share: int = 0, shares: int = 1) -> Iterator[bytes]:
    """The spool's messages whose index is share modulo shares, one at a time."""
    with open(path, "rb") as f:
        index = 0
        while header := f.read(_LENGTH.size):
            (length,) = _LENGTH.unpack(header)
            if index % shares == share:
                yield f.read(length)
            else:
                f.seek(length, os.SEEK_CUR)
            index += 1


def push(path: str, *, port: int, share: int, shares: int) -> dict:
    """Send this share of the spool over one smtplib connection: count, start, end, peak RSS."""
    connection = smtplib.SMTP("127.0.0.1", port)
    connection.ehlo()
    count, started = 0, time.time()
    for data in read_spool(path, share=share, shares=shares):
        connection.sendmail("bench@localhost", ["reader@bench.example"], data)
        count += 1
    ended = time.time()
    connection.quit()
    return {"sent": count, "started": started, "ended": ended, "peak_rss_mb": round(_peak_rss_kb() / 1024, 1)}


def _peak_rss_kb() -> int:
    # VmHWM, not getrusage: Linux carries ru_maxrss over exec(), so a process started by a big
    # parent would report the parent's peak.
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except (OSError, StopIteration):
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--stats", help="file to keep {'received': N} in")
    parser.add_argument("--maildir", help="also keep every message, per recipient, in this Maildir")
    parser.add_argument("--push", metavar="SPOOL", help="push this spool file to --port instead")
    parser.add_argument("--share", default="0/1", help="with --push: messages i/n, i, i+n, ...")
    args = parser.parse_args(argv)
    if args.push:
        share, shares = map(int, args.share.split("/"))
        print(json.dumps(push(args.push, port=args.port, share=share, shares=shares)), flush=True)
        return
    handler = ScriptedHandler(keep="none", maildir=args.maildir)
    controller = start_sink(handler, port=args.port)
    print(controller.port, flush=True)
    stopping = threading.Event()

    def write_stats() -> None:
        if args.stats:
            tmp = f"{args.stats}.tmp"
            with open(tmp, "w") as f:
                json.dump({"received": handler.count}, f)
            os.replace(tmp, args.stats)

    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    while not stopping.wait(0.2):
        write_stats()
    controller.stop()
    write_stats()
    sys.exit(0)


if __name__ == "__main__":
    main()
