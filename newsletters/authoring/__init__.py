"""The editor's ways in: the digest text format, importing and exporting a day, arXiv look-up."""
