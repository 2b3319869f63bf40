"""One module per subcommand: `add_parser(subparsers)` declares its flags, `run(args)` does the work."""
