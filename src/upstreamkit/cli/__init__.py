"""The ``upstreamkit`` command line: thin wrappers that parse arguments, call the library, render with rich."""
