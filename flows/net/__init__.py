"""The network edge for image URLs: which URLs may be fetched, and the pinned, capped
downloader that only connects to addresses that passed the check."""
