"""The refined zone's anime top-N report: the comparison of TMDB's ranking with the IMDb titles (polars),
the files written for it (CSV, parquet, HTML, a matplotlib chart) and the history across days."""
