"""The daily send, one module per job; imports run one way, down this list.

- schedule.py: every change of a digest's sending state (schedule, send now, cancel = pause,
  resume, retry failed), each checking the acting user's send permission; beat's due digests
  under the catch-up policy (one per tick, none past DIGEST_MAX_LATENESS: "missed").
- planning.py: fixing a send's audience, once: readers, variants rendered once, ledger rows.
- sending.py: sending one batch of claimed rows over one connection; the editor's test send.
- senders.py: the mail backend: smtplib or a Django/anymail backend, replies sorted into
  permanent, transient and configuration failures.
- policies.py: what a failure means beyond its row: pausing a send that cannot send, soft
  bounces, complaint rates, readers' state checked during a batch.
- ledger.py: the Delivery rows: enqueue, claim, heartbeat, record, release, sweep, progress.
- ratelimit.py: the optional send rate shared by every worker.

schedule → planning → ledger; sending → senders, ledger; both may use policies, which uses no
other delivery module. The one way back up is
ledger.enqueue_due(), which imports newsletters.tasks to put batches on the broker.
This package holds no code of its own, so importing one module never loads the others.
"""
