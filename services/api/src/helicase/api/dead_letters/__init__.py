"""DeadLetterService: listing and replaying the dead-letter topics (platform admin only)."""
