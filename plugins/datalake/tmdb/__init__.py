"""The TMDB half of the raw zone: the HTTP client and its shared rate limit, the discover query and its
ranking, and the ingest that lands TMDB's answers in the lake; the part the Lambda runs."""
