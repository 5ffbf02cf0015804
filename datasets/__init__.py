"""Built-in dataset plug-ins of hashbench (imported as ``hashbench.datasets``)."""
