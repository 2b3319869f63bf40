"""The machine and its devices: what TensorFlow sees, version pairings, the plugin preflight, the machine fingerprint."""
