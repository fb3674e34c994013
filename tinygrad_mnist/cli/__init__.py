"""The `tinygrad-mnist` command line: one module per subcommand, dispatched by `main`."""
