"""Generated from protos/helicase/internal/v1 by scripts/gen_protos.py; do not edit."""
