"""The thin command-line layer: parse options, call the library, print or write. Only this package
touches argv, exit codes and the console."""
