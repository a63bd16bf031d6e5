"""Stand-ins for what the project reaches in production: the TMDB API (a FastAPI app) and AWS Lambda's
Invoke API. S3 needs none of ours: ``rclone serve s3`` is a real S3 server.

Product code never imports this package; it only sees the connection settings that ``local_stack``
derives from these. How they are started, on which ports, is ``local_stack``'s business.
"""

from __future__ import annotations

HOST = "127.0.0.1"
"""Every stand-in listens on loopback only."""
REGION = "us-east-1"
"""The AWS region the local S3 server and Lambda endpoint claim to be in."""
