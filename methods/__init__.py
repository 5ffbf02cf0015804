"""Built-in hashing methods of hashbench (imported as ``hashbench.methods``)."""
