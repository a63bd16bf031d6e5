"""Local stand-ins for what the project reaches in production: S3 (rclone) and TMDB (a FastAPI app).

Product code never imports this package; it only sees the connection settings these produce.
"""
