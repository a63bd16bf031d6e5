"""The CSV half of the raw zone: the files the lake takes (their names, headers and delimiter), the contract
each one is checked against before and after upload, and the landing that streams a checked file into S3."""
