"""Command-line entry points (thin wrappers over library objects). A regular package, so that
``import tools.x`` finds these and not a ``tools`` package some dependency installs."""
