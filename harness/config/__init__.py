"""The config: typed nodes, suites, plugins, and where the config files are found."""
