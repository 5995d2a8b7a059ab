"""How to run the help desk: local processes, private brokers and databases, CI."""
