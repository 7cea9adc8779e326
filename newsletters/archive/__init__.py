"""The public site: the archive's pages, feeds, sitemaps and search. Only published work shows."""
