"""Retention: finished workflows older than the TTL are exported to the archive and purged, in
short batches, by a loop on one api replica at a time and by RetentionService.PurgeWorkflows."""
