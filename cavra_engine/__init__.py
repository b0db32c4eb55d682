"""CAVRA's pure engine: policy language, shared vocabulary, offline evidence verification. Never imports Django."""
