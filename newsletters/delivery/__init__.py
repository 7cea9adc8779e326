"""The daily send, one module per job; imports run one way, down this list.

- schedule.py: when a digest goes out: due digests, schedule, cancel, retry failed.
- planning.py: fixing a send's audience: readers, variants rendered once, ledger rows.
- sending.py: sending one batch of claimed rows over one connection; the editor's test send.
- senders.py: the mail backend: smtplib or a Django/anymail backend, replies sorted into
  permanent and transient.
- ledger.py: the Delivery rows: enqueue, claim, record, release, sweep, progress.
- ratelimit.py: the optional send rate shared by every worker.

schedule → planning → ledger; sending → senders, ledger. The one way back up is
ledger.enqueue_due(), which imports newsletters.tasks to put batches on the broker.
This package holds no code of its own, so importing one module never loads the others.
"""
