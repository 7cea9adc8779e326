"""What a reader's email is: its content from the database, templates rendered once per
variant, the MIME message completed per reader, and the SMTP sink used by tests and benchmarks."""
