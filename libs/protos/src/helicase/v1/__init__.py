"""Generated from protos/helicase/v1 by scripts/gen_protos.py; do not edit."""
