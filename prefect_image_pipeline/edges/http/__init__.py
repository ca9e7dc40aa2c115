"""HTTP downloads: which URLs may be fetched (url_policy) and fetching them safely."""
