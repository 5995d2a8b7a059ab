"""``helpdesk``: the command line of the help desk, for operators and scripts.

It talks HTTP to the gateway with a profile's base URL and token (``helpdesk login``), and for
the dead-letter queues it talks to the broker with the deploy tools. Every command has
``--help``; lists print tables for people and ``--json`` for scripts; exit codes say what went
wrong (:mod:`helpdesk_cli.errors`).
"""
