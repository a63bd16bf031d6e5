"""The lake itself, whatever lands in it: writing and reading objects in S3, the run's manifest, the
data checks against the last partitions, the lineage of what was read and written, and the parity between
two landings."""
