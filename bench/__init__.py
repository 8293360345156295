"""Benchmarks: `make bench` (bench/compare.py) runs Helicase and Apache Helix side by side."""
