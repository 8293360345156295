"""Code shared by every Helicase service: configuration, ZooKeeper paths, Kafka and gRPC helpers,
errors, logging and the event vocabulary."""
